/*
 * leakgate.c -- a leak gate for C tests (pytest-memray's limit_leaks,
 * dhat's assertions, goleak's VerifyNone): pm_leak_gate_open before the
 * code under test, pm_leak_gate_close after it, which settles the
 * runtime, compares its census with the one taken at the open within
 * limits, and on failure writes what grew and the leak verdicts.
 *
 * Owns a gate: its runtime, limits (the type pattern copied) and baseline
 * census, all internal memory, freed by the close.
 *
 * Invariants:
 *   G1  A gate is a value of its own: gates nest and overlap freely, with
 *       no process-wide state and nothing installed in the runtime.
 *   G2  Both censuses are taken settled: full collections until one frees
 *       nothing (at most SETTLE_ROUNDS), so garbage the collector would
 *       free is not counted as growth.
 *   G3  The close frees the gate whatever it answers.
 */
#include "objects/object.h"
#include "heap/internal_alloc.h"
#include "diag/diag.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SETTLE_ROUNDS 16

struct pm_leak_gate {
    pm_runtime *rt;
    pm_leak_limits limits;
    char *types; /* the limits' pattern, copied, or NULL */
    pm_census *baseline;
};

/* G2: collect until nothing more is freed. The collector works on the
 * current runtime, so rt is entered for it. */
static void settle(pm_runtime *rt) {
    pm_runtime *prev = pm_runtime_enter(rt);
    for (int i = 0; i < SETTLE_ROUNDS && pm_gc_collect(2) > 0; i++) continue;
    pm_runtime_enter(prev);
}

void pm_leak_gate_free(pm_leak_gate *g) {
    if (g == NULL) return;
    pm_census_free(g->baseline);
    pmh_internal_free(g->types);
    pmh_internal_free(g);
}

pm_leak_gate *pm_leak_gate_open(pm_runtime *rt, const pm_leak_limits *limits) {
    pm_leak_gate *g = pmh_internal_calloc(1, sizeof *g);
    if (g == NULL) {
        pm_exc_set(PM_EXC_MEMORY, "pm_leak_gate_open: no memory");
        return NULL;
    }
    g->rt = rt ? rt : pm_runtime_current();
    if (limits) g->limits = *limits;
    if (g->limits.types) {
        size_t n = strlen(g->limits.types) + 1;
        if ((g->types = pmh_internal_malloc(n)) == NULL) {
            pm_leak_gate_free(g);
            pm_exc_set(PM_EXC_MEMORY, "pm_leak_gate_open: no memory");
            return NULL;
        }
        memcpy(g->types, g->limits.types, n);
        g->limits.types = g->types;
    }
    settle(g->rt);
    if ((g->baseline = pm_census_take(g->rt)) == NULL) {
        pm_leak_gate_free(g);
        return NULL;
    }
    return g;
}

static bool over(int64_t value, int64_t limit) { return limit >= 0 && value > limit; }

/* What grew, within the pattern: totals, and the first type over the
 * per-type limit (NULL: none). */
static const pm_census_row *measure(const pm_leak_gate *g, const pm_census *d, int64_t *objects,
                                    int64_t *bytes) {
    const pm_census_row *worst = NULL;
    *objects = *bytes = 0;
    for (size_t i = 0; i < pm_census_size(d); i++) {
        const pm_census_row *r = pm_census_row_at(d, i);
        if (g->types && fnmatch(g->types, r->type_name, 0) != 0) continue;
        *objects += r->count;
        *bytes += r->bytes;
        if (worst == NULL && over(r->count, g->limits.per_type)) worst = r;
    }
    return worst;
}

/* The failure's account: the totals, the types that grew, the verdicts. */
static void explain(const pm_leak_gate *g, const pm_census *d, int64_t objects, int64_t bytes,
                    const pm_census_row *worst, FILE *out) {
    fprintf(out, "pymm leak gate: %+" PRId64 " objects, %+" PRId64 " bytes since its open", objects,
            bytes);
    fprintf(out, " (limits: %" PRId64 " objects, %" PRId64 " bytes, %" PRId64 " a type%s%s)\n",
            g->limits.objects, g->limits.bytes, g->limits.per_type, g->types ? ", types " : "",
            g->types ? g->types : "");
    if (worst) fprintf(out, "  type %s grew by %+" PRId64 "\n", worst->type_name, worst->count);
    pm_census_print(d, out, 20);
    pm_leaks *r = pm_leaks_check(g->rt, NULL, PM_LEAKS_AT_EXIT);
    if (r) {
        fprintf(out, "%zu leak verdicts\n", pm_leaks_count(r));
        pm_leaks_print(r, out);
        pm_leaks_free(r);
    } else {
        fprintf(out, "no leak verdicts: %s\n", pm_exc_message());
        pm_exc_clear();
    }
}

int pm_leak_gate_close(pm_leak_gate *g, FILE *out) {
    settle(g->rt);
    pm_census *now = pm_census_take(g->rt);
    pm_census *d = now ? pm_census_diff(now, g->baseline) : NULL;
    bool ok = d != NULL;
    if (ok) {
        int64_t objects, bytes;
        const pm_census_row *worst = measure(g, d, &objects, &bytes);
        ok = !over(objects, g->limits.objects) && !over(bytes, g->limits.bytes) && worst == NULL;
        if (!ok && out) explain(g, d, objects, bytes, worst, out);
    } else if (out) {
        fprintf(out, "pymm leak gate: no census: %s\n", pm_exc_message());
    }
    pm_census_free(d);
    pm_census_free(now);
    pm_leak_gate_free(g);
    return ok ? 1 : 0;
}
