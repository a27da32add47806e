/*
 * leakscan.c -- the program's memory, as a leak check's conservative scan
 * reads it (LeakSanitizer's roots): the writable PT_LOAD segments of every
 * loaded module (data and BSS), the calling thread's stack from the
 * check's entry frame (which holds the callee-saved registers, saved by
 * its prologue) to the stack's top, and a jmp_buf of registers. Owns
 * nothing but the reads.
 *
 * Invariants:
 *   S1  Only aligned words are read, and only from memory that is mapped
 *       for the process: segments the loader mapped, the thread's own
 *       stack above a live frame, a jmp_buf in that frame.
 *   S2  The reads are exempt from ASan (globals and stack frames carry
 *       poisoned redzones) and hidden from memcheck's error reports (block
 *       tails and padding are undefined): a word is only a number here.
 *   S3  Nothing this module or the check allocates is scanned: their
 *       memory is the C library's heap or mappings of their own, neither
 *       ever read, and their locals
 *       live below the frame the stack scan starts from.
 *   S4  Other threads' stacks are not read (no safe way to stop them and
 *       find their registers here): only the calling thread is scanned.
 *   S5  At exit, the stack below the frame that called exit() is dead:
 *       exit's frames and its handlers' lie where the program's returned
 *       calls were, and their unwritten slots hold the program's stale
 *       pointers, which hid leaks. The check at exit starts at that
 *       frame's CFA (libgcc's unwinder finds it) and takes its
 *       callee-saved registers as the unwinder restores them.
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef PM_VALGRIND
#define SCAN_QUIET_BEGIN() VALGRIND_DISABLE_ERROR_REPORTING
#define SCAN_QUIET_END() VALGRIND_ENABLE_ERROR_REPORTING
#else
#define SCAN_QUIET_BEGIN() ((void)0)
#define SCAN_QUIET_END() ((void)0)
#endif

/* S2: every aligned word of [lo, hi) to fn. */
PM_NO_ASAN void pmd_scan_words(const void *lo, const void *hi, pmd_word_fn fn, void *arg) {
    uintptr_t a = ((uintptr_t)lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    uintptr_t end = (uintptr_t)hi;
    SCAN_QUIET_BEGIN();
    for (; a + sizeof(uintptr_t) <= end; a += sizeof(uintptr_t)) {
        uintptr_t w = *(const volatile uintptr_t *)a;
        pm_vg_defined(&w, sizeof w);
        fn(w, arg);
    }
    SCAN_QUIET_END();
}

typedef struct scan_args {
    pmd_word_fn fn;
    void *arg;
} scan_args;

static int scan_module(struct dl_phdr_info *info, size_t size, void *arg) {
    scan_args *s = arg;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz == 0) continue;
        const char *lo = (const char *)(info->dlpi_addr + ph->p_vaddr);
        pmd_scan_words(lo, lo + ph->p_memsz, s->fn, s->arg);
    }
    return 0;
}

/* The top (highest address) of the calling thread's stack, or NULL. */
static const char *stack_top(void) {
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return NULL;
    int r = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    return r == 0 ? (const char *)addr + size : NULL;
}

int pmd_scan_program(const void *from, const void *regs, size_t regs_size, pmd_word_fn fn,
                     void *arg) {
    const char *top = stack_top();
    if (top == NULL || (const char *)from >= top) {
        pm_exc_set(PM_EXC_RUNTIME, "leak check: cannot find the thread's stack");
        return -1;
    }
    scan_args s = {fn, arg};
    dl_iterate_phdr(scan_module, &s);
    pmd_scan_words(regs, (const char *)regs + regs_size, fn, arg);
    pmd_scan_words(from, top, fn, arg);
    return 0;
}

/* ---- the frame that called exit (S5) ------------------------------------------ */

/* The callee-saved registers, as DWARF numbers them. */
#if defined(__x86_64__)
static const int saved_regs[] = {3, 6, 12, 13, 14, 15}; /* rbx rbp r12-r15 */
#elif defined(__aarch64__)
static const int saved_regs[] = {19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}; /* x19-x29 */
#else
static const int saved_regs[] = {-1};
#endif
#define NSAVED (sizeof saved_regs / sizeof saved_regs[0])

typedef struct exit_search {
    pmd_unwinder u;
    uintptr_t exit_fn;
    pmd_exit_frame *x;
} exit_search;

/* Each frame from the handler's up: exit's gives the CFA (its caller's
 * stack pointer at the call), the next one its registers. */
static _Unwind_Reason_Code find_exit(struct _Unwind_Context *ctx, void *arg) {
    exit_search *s = arg;
    if (s->x->from) {
        for (size_t i = 0; i < NSAVED; i++) s->x->regs[i] = s->u.get_gr(ctx, saved_regs[i]);
        s->x->nregs = NSAVED;
        return _URC_END_OF_STACK;
    }
    if (s->u.get_ip(ctx) == 0) return _URC_END_OF_STACK;
    if (s->u.get_region_start(ctx) == s->exit_fn) s->x->from = (const void *)s->u.get_cfa(ctx);
    return _URC_NO_REASON;
}

bool pmd_find_exit_frame(pmd_exit_frame *x) {
    *x = (pmd_exit_frame){0};
    exit_search s = {.exit_fn = (uintptr_t)&exit, .x = x};
    _Static_assert(NSAVED <= sizeof x->regs / sizeof x->regs[0], "registers fit");
    if (saved_regs[0] < 0 || !pmd_unwinder_load(&s.u)) return false;
    s.u.backtrace(find_exit, &s);
    return x->from != NULL && x->nregs == NSAVED;
}
