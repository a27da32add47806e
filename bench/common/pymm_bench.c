/*
 * pymm_bench.c -- the standalone `pymm-bench` executable: the same suites
 * as `pymm bench`, usable without the pymm command (for example while that
 * command is being reworked). `pymm-bench alloc --quick` equals
 * `pymm bench alloc --quick`.
 */
#include "bench.h"

#include <stdlib.h>

int main(int argc, char **argv) {
    /* pmb_main wants argv[0] = "bench" and the suite in argv[1]. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    args[0] = "bench";
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    int rc = pmb_main(argc, args);
    free(args);
    return rc;
}
