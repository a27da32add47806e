/*
 * bench.h -- the entry point of the benchmark suites (library pymm_bench).
 *
 * `pymm bench SUITE [options]` calls pmb_main with argv[0] = "bench",
 * argv[1] = the suite name and the suite's options after it. The suites
 * print a Markdown report on stdout and progress on stderr.
 */
#ifndef PYMM_BENCH_H
#define PYMM_BENCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* Runs one suite. Returns 0 on success, 2 on a usage error (unknown suite or
 * option: the message lists the choices), 1 when the suite failed. */
int pmb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* PYMM_BENCH_H */
