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
 *       memory is the C library's, which is never read, and their locals
 *       live below the frame the stack scan starts from.
 *   S4  Other threads' stacks are not read (no safe way to stop them and
 *       find their registers here): only the calling thread is scanned.
 */
#define _GNU_SOURCE
#include "diag/diag.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>

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

int pmd_scan_program(const void *from, const jmp_buf *regs, pmd_word_fn fn, void *arg) {
    const char *top = stack_top();
    if (top == NULL || (const char *)from >= top) {
        pm_exc_set(PM_EXC_RUNTIME, "leak check: cannot find the thread's stack");
        return -1;
    }
    scan_args s = {fn, arg};
    dl_iterate_phdr(scan_module, &s);
    pmd_scan_words(regs, (const char *)regs + sizeof *regs, fn, arg);
    pmd_scan_words(from, top, fn, arg);
    return 0;
}
