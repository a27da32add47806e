/*
 * test_obj_null_args.c -- a failed constructor's NULL passed on.
 *
 * pm_list_append_steal(l, pm_int(v)) is how C code builds containers:
 * when the constructor fails (NULL, MemoryError pending), the call that
 * receives its NULL must fail keeping that MemoryError, not replace it
 * with a TypeError about a NULL argument; a _steal function still
 * releases the references it was given. A NULL passed with no exception
 * pending is a TypeError, as before.
 *
 * The constructors fail for real: the runtime's heap has its object
 * domain wrapped by an allocator that fails while `failing` is set.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <string.h>

static pm_allocator saved_obj;
static bool failing;

static void *fail_malloc(void *ctx, size_t n) {
    (void)ctx;
    return failing ? NULL : saved_obj.malloc(saved_obj.ctx, n);
}
static void *fail_calloc(void *ctx, size_t a, size_t b) {
    (void)ctx;
    return failing ? NULL : saved_obj.calloc(saved_obj.ctx, a, b);
}
static void *fail_realloc(void *ctx, void *p, size_t n) {
    (void)ctx;
    return failing ? NULL : saved_obj.realloc(saved_obj.ctx, p, n);
}
static void fail_free(void *ctx, void *p) {
    (void)ctx;
    saved_obj.free(saved_obj.ctx, p);
}

/* A NULL from pm_int that really failed: MemoryError pending. */
static pm_object *failed_int(void) {
    failing = true;
    pm_object *o = pm_int((int64_t)1 << 40); /* not a cached small int */
    failing = false;
    CHECK(o == NULL && pm_exc_occurred() == PM_EXC_MEMORY);
    return o;
}

/* The call failed (r), keeping the constructor's MemoryError. */
static bool kept_memory_error(int r) {
    bool ok = r == -1 && pm_exc_occurred() == PM_EXC_MEMORY;
    pm_exc_clear();
    return ok;
}

static bool type_error(int r) {
    bool ok = r == -1 && pm_exc_occurred() == PM_EXC_TYPE;
    pm_exc_clear();
    return ok;
}

static void steal_functions(void) {
    pm_object *l = pm_list_new(0), *t = pm_tuple_new(2);
    CHECK(kept_memory_error(pm_list_append_steal(l, failed_int())));
    CHECK(kept_memory_error(pm_tuple_set_steal(t, 0, failed_int())));
    CHECK_EQ(pm_list_size(l), 0);
    CHECK(pm_tuple_get(t, 0) == NULL);
    pm_exc_clear();

    /* The container is the failed constructor's NULL: the item given is
     * still released. */
    pm_object *item = pm_str_from("item");
    uint32_t before = item->refcnt;
    failing = true;
    pm_object *nl = pm_list_new(0);
    failing = false;
    CHECK(nl == NULL);
    CHECK(kept_memory_error(pm_list_append_steal(nl, pm_newref(item))));
    CHECK_EQ(item->refcnt, before);
    failing = true;
    pm_object *nt = pm_tuple_new(7);
    failing = false;
    CHECK(nt == NULL);
    CHECK(kept_memory_error(pm_tuple_set_steal(nt, 0, pm_newref(item))));
    CHECK_EQ(item->refcnt, before);

    /* No exception pending: a NULL is the caller's mistake, a TypeError. */
    CHECK(type_error(pm_list_append_steal(l, NULL)));
    CHECK(type_error(pm_tuple_set_steal(t, 0, NULL)));
    CHECK(type_error(pm_list_append_steal(NULL, pm_newref(item))));
    CHECK_EQ(item->refcnt, before);
    pm_decref(item);
    pm_decref(t);
    pm_decref(l);
}

static void other_functions(void) {
    pm_object *l = pm_list_new(1), *d = pm_dict_new(), *s = pm_set_new(NULL), *k = pm_str_from("k");
    pm_object *wvd = pm_weakvaluedict_new();
    CHECK(kept_memory_error(pm_list_append(l, failed_int())));
    CHECK(kept_memory_error(pm_list_set(l, 0, failed_int())));
    CHECK(kept_memory_error(pm_list_insert(l, 0, failed_int())));
    CHECK(kept_memory_error(pm_dict_set(d, k, failed_int())));
    CHECK(kept_memory_error(pm_dict_set(d, failed_int(), k)));
    CHECK(kept_memory_error(pm_dict_set_str(d, "k", failed_int())));
    CHECK(kept_memory_error(pm_setitem(d, k, failed_int())));
    CHECK(kept_memory_error(pm_set_add(s, failed_int())));
    CHECK(kept_memory_error(pm_weakvaluedict_set(wvd, k, failed_int())));
    CHECK(kept_memory_error(pm_setattr(l, "x", failed_int())));
    CHECK(kept_memory_error(pm_tuple_pack(2, k, failed_int()) == NULL ? -1 : 0));
    CHECK(kept_memory_error(pm_repr(failed_int()) == NULL ? -1 : 0));
    CHECK(kept_memory_error(pm_json_dumps(failed_int(), -1) == NULL ? -1 : 0));
    uint64_t h;
    CHECK(kept_memory_error(pm_hash(failed_int(), &h)));
    CHECK(kept_memory_error(pm_len(failed_int()) < 0 ? -1 : 0));
    /* A container argument that is a failed constructor's NULL. */
    failing = true;
    pm_object *nd = pm_dict_new();
    failing = false;
    CHECK(nd == NULL);
    CHECK(kept_memory_error(pm_dict_set(nd, k, k)));
    CHECK_EQ(pm_list_size(l), 1);
    CHECK_EQ(pm_dict_size(d), 0);
    CHECK_EQ(pm_set_size(s), 0);
    /* And with nothing pending, TypeErrors. */
    CHECK(type_error(pm_list_append(l, NULL)));
    CHECK(type_error(pm_dict_set(d, k, NULL)));
    CHECK(type_error(pm_dict_set(NULL, k, k)));
    CHECK(type_error(pm_set_add(s, NULL)));
    CHECK(type_error(pm_repr(NULL) == NULL ? -1 : 0));
    pm_object *objs[] = {l, d, s, k, wvd};
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) pm_decref(objs[i]);
}

int main(void) {
    tu_group g = tu_group_begin();
    pm_heap *h = pm_runtime_heap(g.rt);
    pm_heap_get_allocator(h, PM_DOMAIN_OBJ, &saved_obj);
    pm_allocator wrap = {NULL, fail_malloc, fail_calloc, fail_realloc, fail_free};
    pm_heap_set_allocator(h, PM_DOMAIN_OBJ, &wrap);
    steal_functions();
    other_functions();
    tu_group_end(&g, 0);
    return tu_finish("test_obj_null_args");
}
