/*
 * dropin_contract.c -- the C library's allocation functions as
 * libpymm-malloc.so serves them (src/dropin/malloc.c), checked against
 * what the C library documents: alignment, errno, size 0, overflow,
 * usable sizes, contents kept by realloc, zeroed calloc, blocks crossing
 * threads, fork while threads allocate, and blocks the C library made
 * itself (as before the drop-in was loaded).
 *
 * Built without pymm and run with LD_PRELOAD naming the drop-in (the
 * CTest command says so); it first checks that pymm serves malloc, and
 * fails if not. Exit 0 when every check holds.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);

static int failures;
/* Sizes the compiler cannot see, so it neither folds nor warns about the
 * calls that must fail, and a block nothing reads is still allocated. */
static volatile size_t huge = SIZE_MAX, three = 3, twenty_four = 24;
static void *volatile sink;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* pymm's own answer for a block (0: not one of its heap's blocks). */
static size_t (*pymm_block_size)(const void *heap, const void *p);
static void *pymm_heap;

static bool served_by_pymm(const void *p) { return pymm_block_size(pymm_heap, p) != 0; }

static void test_served(void) {
    void *(*heap_default)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "pm_heap_default");
    pymm_block_size =
        (size_t(*)(const void *, const void *))dlsym(RTLD_DEFAULT, "pm_heap_block_size");
    if (heap_default == NULL || pymm_block_size == NULL) {
        fprintf(stderr, "libpymm-malloc.so is not loaded (LD_PRELOAD)\n");
        exit(1);
    }
    pymm_heap = heap_default();
    for (size_t n = 1; n <= 1 << 20; n *= 3) {
        char *p = malloc(n);
        CHECK(p != NULL && served_by_pymm(p));
        memset(p, 0xab, n);
        free(p);
    }
}

static void test_size_zero(void) {
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    free(a);
    free(b);
    void *c = calloc(0, 16);
    CHECK(c != NULL);
    free(c);
    void *d = malloc(32);
    CHECK(realloc(d, 0) == NULL); /* glibc: freed */
    void *e = realloc(NULL, 0);
    CHECK(e != NULL);
    free(e);
    free(NULL);
}

static void test_overflow(void) {
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(huge / 2, 3) == NULL && errno == ENOMEM);
    char *p = malloc(10);
    strcpy(p, "kept");
    sink = p; /* the calls that fail get p through sink: gcc cannot know they keep it */
    errno = 0;
    CHECK(reallocarray(sink, huge / 4, 8) == NULL && errno == ENOMEM);
    CHECK(strcmp(p, "kept") == 0); /* untouched */
    errno = 0;
    CHECK(realloc(sink, huge - 64) == NULL && errno == ENOMEM);
    CHECK(strcmp(p, "kept") == 0);
    free(p);
    void *q = NULL;
    errno = 12345;
    CHECK(posix_memalign(&q, three, 16) == EINVAL && q == NULL);
    CHECK(posix_memalign(&q, 4, 16) == EINVAL); /* not a multiple of a pointer */
    CHECK(posix_memalign(&q, 64, huge - 4096) == ENOMEM && q == NULL);
    CHECK(errno == 12345); /* posix_memalign reports, it does not set errno */
    errno = 0;
    CHECK(aligned_alloc(three, 16) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(pvalloc(huge - 10) == NULL && errno == ENOMEM);
}

static void check_aligned_block(void *p, size_t a, size_t n) {
    CHECK(p != NULL);
    if (p == NULL) return;
    CHECK(((uintptr_t)p & (a - 1)) == 0);
    CHECK(malloc_usable_size(p) >= n);
    memset(p, 0x5a, n);
    free(p);
}

static void test_alignment(void) {
    static const size_t sizes[] = {0,   1,   8,   15,  16,   17,   48,   100,   128,
                                   200, 511, 512, 513, 1000, 4096, 5000, 70000, 1 << 20};
    for (size_t a = 1; a <= 65536; a *= 2) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            if (a >= sizeof(void *)) {
                void *p = NULL;
                CHECK(posix_memalign(&p, a, n) == 0);
                check_aligned_block(p, a, n);
            }
            check_aligned_block(aligned_alloc(a, n), a, n);
            check_aligned_block(memalign(a, n), a, n);
        }
    }
    /* memalign rounds an alignment up to a power of two, as glibc does. */
    check_aligned_block(memalign(twenty_four, 40), 32, 40);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    check_aligned_block(valloc(100), page, 100);
    void *p = pvalloc(100);
    check_aligned_block(p, page, page); /* rounded up to a whole page */
    /* Small alignments from the pools: pymm serves them. */
    void *q = aligned_alloc(64, 64);
    CHECK(served_by_pymm(q) && ((uintptr_t)q & 63) == 0);
    free(q);
    /* Every malloc is 16-aligned, as glibc's on x86-64. */
    for (size_t n = 1; n < 2000; n += 7) check_aligned_block(malloc(n), 16, n);
}

static void test_contents(void) {
    unsigned char *p = malloc(10);
    for (int i = 0; i < 10; i++) p[i] = (unsigned char)i;
    static const size_t grow[] = {20, 500, 600, 6000, 100000, 3000000, 40, 5};
    size_t kept = 10;
    for (size_t k = 0; k < sizeof grow / sizeof grow[0]; k++) {
        p = realloc(p, grow[k]);
        CHECK(p != NULL);
        for (size_t i = 0; i < kept && i < grow[k]; i++) CHECK(p[i] == (unsigned char)i);
        for (size_t i = kept; i < grow[k]; i++) p[i] = (unsigned char)i;
        kept = grow[k];
    }
    free(p);
    /* calloc zeroes a block even when the block was used before. */
    for (size_t n = 16; n <= 1 << 18; n *= 4) {
        unsigned char *d = malloc(n);
        memset(d, 0xff, n);
        free(d);
        unsigned char *z = calloc(1, n);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += z[i] != 0;
        CHECK(nonzero == 0);
        free(z);
    }
}

/* A block the C library made itself, as one made before the drop-in was
 * loaded: freed, resized and measured where it was made. */
static void test_foreign_blocks(void) {
    char *p = __libc_malloc(100);
    CHECK(p != NULL && !served_by_pymm(p));
    strcpy(p, "made by the C library");
    CHECK(malloc_usable_size(p) >= 100);
    p = realloc(p, 200);
    CHECK(p != NULL && strcmp(p, "made by the C library") == 0);
    free(p);
}

#define THREADS 4
#define SLOTS 4096
static _Atomic(void *) slots[SLOTS];

/* Each thread puts blocks into shared slots and frees what another put
 * there: most frees cross threads. */
static void *churn(void *arg) {
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 1 + x % 2048;
        unsigned char *p = malloc(n);
        if (p == NULL) return (void *)1;
        p[0] = (unsigned char)n;
        p[n - 1] = (unsigned char)n;
        void *old = atomic_exchange(&slots[(x >> 20) % SLOTS], p);
        free(old);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 1));
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    for (int i = 0; i < SLOTS; i++) free(atomic_exchange(&slots[i], NULL));
}

/* fork while other threads allocate: the child allocates and frees at once. */
static void test_fork(void) {
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 10));
    for (int k = 0; k < 8; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 10000; i++) {
                sink = malloc(1 + (size_t)i % 3000);
                free(sink);
            }
            char *s = strdup("child");
            _exit(s && strcmp(s, "child") == 0 ? 0 : 1);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++) free(atomic_exchange(&slots[i], NULL));
}

int main(void) {
    test_served();
    test_size_zero();
    test_overflow();
    test_alignment();
    test_contents();
    test_foreign_blocks();
    test_threads();
    test_fork();
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    else printf("dropin_contract: every check held\n");
    return failures != 0;
}
