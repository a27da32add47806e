/*
 * leaky.c -- a C program that knows nothing of pymm, for the leak checks
 * under the drop-in (leaks.sh, and `pymm run --leaks` in cli_test.sh):
 * `leaky clean` holds its one live block in a global and frees the rest,
 * so a check at exit must find nothing; `leaky leak` also loses one
 * 100-byte block, the only leak a check must report. All write through
 * stdio first, so the C library's own buffers are live at the check.
 *
 * The lost pointer must not survive anywhere the scan reads: it is made
 * in a function that is not inlined, and the stack below main is wiped
 * before main returns (a stale copy would hide the leak: docs/LEAKS.md).
 * `leaky stale` loses three 100-byte blocks and wipes nothing: their
 * copies stay in the dead stack below main, where the check at exit must
 * not look (leakscan.c, S5), so it reports all three.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

static char *kept; /* reachable from a global: not a leak */

static NOINLINE void plant(void) {
    volatile char *p = malloc(100);
    if (p) p[0] = 1;
}

static NOINLINE void lose_three(void) {
    char *lost[3];
    for (int i = 0; i < 3; i++) lost[i] = malloc(100);
    for (int i = 0; i < 3; i++)
        if (lost[i]) memset(lost[i], i, 100);
    printf("lost %p %p %p\n", (void *)lost[0], (void *)lost[1], (void *)lost[2]);
}

static NOINLINE void wipe(void) {
    volatile char pad[32768];
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = 0;
}

int main(int argc, char **argv) {
    if (argc != 2 ||
        (strcmp(argv[1], "clean") && strcmp(argv[1], "leak") && strcmp(argv[1], "stale"))) {
        fprintf(stderr, "usage: leaky clean|leak|stale\n");
        return 2;
    }
    printf("leaky %s\n", argv[1]);
    if (strcmp(argv[1], "stale") == 0) {
        lose_three();
        return 0;
    }
    kept = malloc(200);
    char *t = malloc(300);
    if (kept == NULL || t == NULL) return 1;
    strcpy(kept, "kept");
    free(t);
    if (strcmp(argv[1], "leak") == 0) plant();
    wipe();
    return 0;
}
