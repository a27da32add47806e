/*
 * trace_fp_trial.c -- the recorder's choice of stack walk in a program
 * built with frame pointers (test trace.fp_trial): for every frame limit
 * from 1 to 40, a recording whose allocations come from one call site at
 * a fixed depth must end its trial (docs/TRACING.md) on frame pointers.
 *
 * The case it guards: a stack as deep as the limit, whose last frames
 * are the C library's start-up ones (built without frame pointers). The
 * frame-pointer walk ends one or two frames short of the unwinder there,
 * and the trial used to read that as a program frame without a frame
 * pointer when the unwinder had stopped at the limit: the slow unwinder
 * then served the whole run (binary-trees traced at 16 frames: 11x its
 * untraced time instead of 3x).
 *
 * Built with -fno-omit-frame-pointer and linked with pymm_static_fp. Exit
 * status 0, or 1 with the limits that chose the unwinder on stderr.
 */
#include "pymm.h"

#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* depth frames of this function above the allocation; the empty asm
 * after the call keeps it from being a tail call. */
static NOINLINE void allocate_at(int depth) {
    if (depth > 0) {
        allocate_at(depth - 1);
        __asm__ volatile("" ::: "memory");
        return;
    }
    void *p = pm_mem_malloc(32);
    pm_mem_free(p);
}

static const char *walk_chosen(unsigned frames) {
    pm_trace_config cfg = PM_TRACE_CONFIG_INIT;
    cfg.frames = frames;
    if (pm_trace_start(&cfg) != 0) return "no recording";
    for (int i = 0; i < 200; i++) allocate_at(6); /* past the trial's 64 stacks */
    static char chosen[32];
    snprintf(chosen, sizeof chosen, "%s", pm_trace_unwinder());
    pm_trace_stop();
    return chosen;
}

int main(void) {
    int failed = 0;
    for (unsigned frames = 1; frames <= 40; frames++) {
        const char *chosen = walk_chosen(frames);
        if (strcmp(chosen, "frame pointers") != 0) {
            fprintf(stderr, "trace_fp_trial: %u frames: the trial chose '%s'\n", frames, chosen);
            failed = 1;
        }
    }
    if (!failed) printf("trace_fp_trial: frame pointers chosen at every limit from 1 to 40\n");
    return failed;
}
