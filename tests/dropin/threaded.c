/*
 * threaded.c -- a threaded program that never heard of pymm, for
 * programs.sh: it runs the same with and without the drop-in.
 *
 * Four workers each allocate blocks of 1 to 4,096 bytes (malloc, calloc,
 * realloc, posix_memalign in turn), write a pattern into them and hand
 * every second block to the next worker through a locked mailbox; each
 * worker checks and frees what it receives (a free on another thread than
 * the allocating one) and what it kept. A mailbox grows by realloc, so
 * that posting never waits and no ring of full mailboxes can block. The output is what was checked:
 * the same on any allocator and any interleaving, since each block's
 * pattern is a function of its number alone. The exit status is 1 if a
 * block came back wrong or an allocation failed.
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { WORKERS = 4, BLOCKS = 40000 };

typedef struct {
    unsigned char *block;
    size_t size;
    unsigned number;
} parcel;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    parcel *slots; /* grown by realloc: posting never waits */
    size_t count, room;
    int senders_done; /* the one sender to this mailbox has finished */
} mailbox;

typedef struct {
    int index;
    mailbox *in, *out;
    unsigned long long checked_bytes;
    unsigned long checked_blocks;
    int bad;
} worker;

static unsigned char pattern_of(unsigned number, size_t at) {
    return (unsigned char)(number * 31u + at * 7u + 1u);
}

static size_t size_of(unsigned number) { return 1 + (number * 2654435761u >> 7) % 4096; }

/* Four ways to the same block, so that every entry point is exercised. */
static unsigned char *allocate(unsigned number, size_t size) {
    void *p = NULL;
    switch (number % 4) {
        case 0: p = malloc(size); break;
        case 1: p = calloc(1, size); break;
        case 2:
            p = malloc(size / 2 + 1);
            if (p) {
                void *q = realloc(p, size);
                if (!q) free(p);
                p = q;
            }
            break;
        default:
            if (posix_memalign(&p, 64, size) != 0) p = NULL;
            break;
    }
    return p;
}

static void fill(parcel *m) {
    for (size_t i = 0; i < m->size; i++) m->block[i] = pattern_of(m->number, i);
}

static void check_and_free(worker *w, parcel *m) {
    for (size_t i = 0; i < m->size; i++)
        if (m->block[i] != pattern_of(m->number, i)) {
            w->bad = 1;
            break;
        }
    w->checked_bytes += m->size;
    w->checked_blocks++;
    free(m->block);
}

static int post(mailbox *box, parcel m) {
    pthread_mutex_lock(&box->lock);
    if (box->count == box->room) {
        size_t room = box->room ? 2 * box->room : 64;
        parcel *slots = realloc(box->slots, room * sizeof *slots);
        if (!slots) {
            pthread_mutex_unlock(&box->lock);
            return 0;
        }
        box->slots = slots, box->room = room;
    }
    box->slots[box->count++] = m;
    pthread_cond_broadcast(&box->changed);
    pthread_mutex_unlock(&box->lock);
    return 1;
}

/* Takes what is in the mailbox; waits for more only when asked to. Returns
 * false once the mailbox is empty and its sender has finished. */
static int collect(worker *w, int wait) {
    mailbox *box = w->in;
    pthread_mutex_lock(&box->lock);
    while (wait && box->count == 0 && !box->senders_done)
        pthread_cond_wait(&box->changed, &box->lock);
    parcel *taken = box->slots;
    size_t n = box->count;
    int more = n > 0 || !box->senders_done;
    box->slots = NULL, box->count = box->room = 0;
    pthread_mutex_unlock(&box->lock);
    for (size_t i = 0; i < n; i++) check_and_free(w, &taken[i]);
    free(taken);
    return more;
}

static void *work(void *arg) {
    worker *w = arg;
    for (unsigned k = 0; k < BLOCKS && !w->bad; k++) {
        unsigned number = (unsigned)w->index * BLOCKS + k;
        parcel m = {NULL, size_of(number), number};
        if (!(m.block = allocate(number, m.size))) {
            w->bad = 1;
            break;
        }
        fill(&m);
        if (k % 2 == 0) {
            check_and_free(w, &m);
        } else if (!post(w->out, m)) {
            free(m.block);
            w->bad = 1;
        }
        if (k % 64 == 0) collect(w, 0);
    }
    pthread_mutex_lock(&w->out->lock);
    w->out->senders_done = 1;
    pthread_cond_broadcast(&w->out->changed);
    pthread_mutex_unlock(&w->out->lock);
    while (collect(w, 1)) {
    }
    return NULL;
}

int main(void) {
    static mailbox boxes[WORKERS];
    worker workers[WORKERS];
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        pthread_cond_init(&boxes[i].changed, NULL);
        workers[i] = (worker){.index = i, .in = &boxes[i], .out = &boxes[(i + 1) % WORKERS]};
    }
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) return 1;
    int bad = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        bad |= workers[i].bad;
        printf("worker %d: %lu blocks, %llu bytes checked\n", i, workers[i].checked_blocks,
               workers[i].checked_bytes);
    }
    printf("%s\n", bad ? "a block came back wrong" : "every block came back as written");
    return bad;
}
