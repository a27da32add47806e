/*
 * test_obj_dict_aba.c -- dict.c's D4 when a comparison replaces the key
 * table and the allocator puts the new, smaller table of the other kind at
 * the freed one's address (found by review: a lookup then probed the new
 * table with the old one's mask and stride, reading out of bounds). The
 * MEM domain is wrapped by an allocator that serves a large request from
 * the most recently freed large block big enough, as glibc's bins do; the
 * key type's compare converts the table, empties it and refills it until
 * the table lands where the first one was. The lookup must restart.
 * It reads two words of dict.c's private layout (pmo_dict.keys at offset
 * 24, dict_keys.usable at 8, log2_size at 0, str_keys at 2).
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an allocator that reuses freed blocks (LIFO, first fit) ---- */
static pm_allocator saved;
#define MAXB 4096
static struct {
    void *p;
    size_t cap;
    int live;
} blk[MAXB];
static int nblk;
static int mine(void *p) {
    for (int i = 0; i < nblk; i++)
        if (blk[i].p == p) return i;
    return -1;
}
static void *my_malloc(void *ctx, size_t n) {
    (void)ctx;
    if (n <= 512) return saved.malloc(saved.ctx, n);
    for (int i = nblk - 1; i >= 0; i--)
        if (!blk[i].live && blk[i].cap >= n) {
            blk[i].live = 1; /* to the top: LIFO */
            void *p = blk[i].p;
            size_t c = blk[i].cap;
            memmove(&blk[i], &blk[i + 1], (nblk - i - 1) * sizeof blk[0]);
            blk[nblk - 1].p = p;
            blk[nblk - 1].cap = c;
            blk[nblk - 1].live = 1;
            return p;
        }
    if (nblk == MAXB) abort();
    void *p = malloc(n);
    blk[nblk].p = p;
    blk[nblk].cap = n;
    blk[nblk].live = 1;
    nblk++;
    return p;
}
static void my_free(void *ctx, void *p) {
    (void)ctx;
    if (!p) return;
    int i = mine(p);
    if (i < 0) {
        saved.free(saved.ctx, p);
        return;
    }
    void *q = blk[i].p;
    size_t c = blk[i].cap; /* most recently freed at the end */
    memmove(&blk[i], &blk[i + 1], (nblk - i - 1) * sizeof blk[0]);
    blk[nblk - 1].p = q;
    blk[nblk - 1].cap = c;
    blk[nblk - 1].live = 0;
}
static void *my_calloc(void *ctx, size_t a, size_t b) {
    void *p = my_malloc(ctx, a * b);
    if (p) memset(p, 0, a * b);
    return p;
}
static void *my_realloc(void *ctx, void *p, size_t n) {
    if (!p) return my_malloc(ctx, n);
    int i = mine(p);
    if (i < 0 && n <= 512) return saved.realloc(saved.ctx, p, n);
    size_t old = i >= 0 ? blk[i].cap : 512; /* pool blocks: at most 512 */
    void *q = my_malloc(ctx, n);
    if (q) {
        memcpy(q, p, old < n ? old : n);
        my_free(ctx, p);
    }
    return q;
}

/* ---- a key type with a chosen hash whose compare mutates the dict ---- */
typedef struct {
    pm_object ob;
    uint64_t h;
} evil;
static pm_type *evil_type;
static pm_object *victim, *S;
static int armed, reused;

static void *keys_of(pm_object *d) { return *(void **)((char *)d + 24); } /* pmo_dict.keys */
static size_t usable_of(void *k) { return *(size_t *)((char *)k + 8); }

static int evil_hash(pm_object *self, uint64_t *out) {
    *out = ((evil *)self)->h;
    return 0;
}
static int evil_compare(pm_object *a, pm_object *b, int op) {
    (void)a;
    (void)b;
    if (op != PM_EQ && op != PM_NE) return PM_CMP_UNSUPPORTED;
    if (armed) {
        armed = 0;
        void *t1 = keys_of(victim);
        /* 1: a non-str key: the str table T1 becomes general T2, T1 freed */
        pm_object *ik = pm_int(1000000007);
        pm_dict_set(victim, ik, pm_none());
        pm_decref(ik);
        /* 2: delete every key but S */
        size_t pos = 0;
        pm_object *k;
        while (pm_dict_next(victim, &pos, &k, NULL)) {
            if (k == S) continue;
            pm_incref(k);
            pm_dict_del(victim, k);
            pm_decref(k);
            pos = 0;
        }
        /* 3: fill T2, then one more: a rebuild for few keys, a small
         * general table T3, which the allocator places where T1 was */
        for (int j = 1; usable_of(keys_of(victim)) > 0 || keys_of(victim) != t1; j++) {
            int64_t v = (int64_t)(0x1f7f7f7f7f7f7f00ull +
                                  (uint64_t)j); /* hash == v: every 16-bit lane large */
            pm_object *ik2 = pm_int(v);
            int full = usable_of(keys_of(victim)) == 0;
            pm_dict_set(victim, ik2, pm_none());
            pm_decref(ik2);
            if (full) break;
        }
        reused = keys_of(victim) == t1;
    }
    return op == PM_EQ ? 0 : 1;
}

int main(void) {
    pm_heap *h = pm_heap_default();
    pm_heap_get_allocator(h, PM_DOMAIN_MEM, &saved);
    pm_allocator mine_tab = {NULL, my_malloc, my_calloc, my_realloc, my_free};
    pm_heap_set_allocator(h, PM_DOMAIN_MEM, &mine_tab);

    pm_type_spec spec = {.name = "Evil", .basicsize = sizeof(evil)};
    spec.slots.hash = evil_hash;
    spec.slots.compare = evil_compare;
    evil_type = pm_type_new(&spec);

    /* S: a str whose first slot i = h & 1023 < 256 (the same slot in a
     * 256-slot table) and whose next probe i' lands on the hash word of
     * an int entry of the 256-slot general table (i' = 264 + 12j + b). */
    char buf[32];
    uint64_t hs = 0;
    for (int c = 0;; c++) {
        snprintf(buf, sizeof buf, "s%d", c);
        pm_object *s = pm_str_from(buf);
        pm_hash(s, &hs);
        size_t i = hs & 1023, i2 = (i * 5 + 1 + (hs >> 5)) & 1023;
        if (i < 256 && i2 >= 276 && i2 <= 1023 && (i2 - 264) % 12 < 4 && (i2 - 264) / 12 <= 60) {
            S = s;
            break;
        }
        pm_decref(s);
    }
    pm_object *d = pm_dict_new();
    pm_dict_set(d, S, pm_none()); /* first: entry 0 */
    for (int i = 0; i < 599; i++) {
        snprintf(buf, sizeof buf, "key%d", i);
        pm_dict_set_str(d, buf, pm_none());
    }
    void *k = keys_of(d);
    CHECK(pm_dict_size(d) == 600 && *(uint8_t *)k == 10 && *(uint8_t *)((char *)k + 2) == 1);

    pm_object *x = pm_object_new(evil_type);
    ((evil *)x)->h = hs; /* collides with S */
    victim = d;
    armed = 1;
    pm_object *v = pm_dict_get(d, x);
    CHECK(reused);                          /* the new table took the freed one's address */
    CHECK(v == NULL && !pm_exc_occurred()); /* the lookup restarted: absent, no crash */
    CHECK(pm_dict_get(d, S) == pm_none());
    pm_decref(x);
    pm_decref(d);
    pm_decref(S);
    pm_decref(PM_OBJ(evil_type));
    pm_heap_set_allocator(h, PM_DOMAIN_MEM, &saved);
    for (int i = 0; i < nblk; i++)
        if (!blk[i].live) free(blk[i].p);
    return tu_finish("test_obj_dict_aba");
}
