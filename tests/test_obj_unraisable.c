/*
 * test_obj_unraisable.c -- exceptions raised where no caller can receive
 * them.
 *
 * Finalizers (finalize, legacy_del), weak-reference callbacks, a
 * generator's release function, collector callbacks and clear slots run
 * during a pm_decref, a pm_gc_collect or an allocation that starts a
 * collection. Their exceptions must never come out of those calls: each
 * goes to the runtime's unraisable hook (CPython's sys.unraisablehook) and
 * is cleared; and an exception pending when they start (a failing call
 * cleaning up) is neither lost nor replaced. The default hook prints one
 * line naming the object's type and address and the exception.
 */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- the recording hook ------------------------------------------------------- */

typedef struct seen {
    int calls;
    pm_exc kind;
    char message[128], context[64], type_name[32];
    const pm_object *object;
    pm_exc pending_in_hook; /* the hook runs with no exception pending */
} seen;

static seen S;

static void record(const pm_unraisable *u, void *ctx) {
    CHECK(ctx == &S);
    S.calls++;
    S.kind = u->kind;
    snprintf(S.message, sizeof S.message, "%s", u->message);
    snprintf(S.context, sizeof S.context, "%s", u->context);
    snprintf(S.type_name, sizeof S.type_name, "%s", u->type_name ? u->type_name : "");
    S.object = u->object;
    S.pending_in_hook = pm_exc_occurred();
    pm_exc_set(PM_EXC_RUNTIME, "the hook's own"); /* cleared after the hook */
}

static void hook_on(void) {
    memset(&S, 0, sizeof S);
    pm_runtime_set_unraisable_hook(NULL, record, &S);
}

/* The last report was kind/message from context about o. */
static bool reported(pm_exc kind, const char *message, const char *context, const pm_object *o) {
    return S.kind == kind && strcmp(S.message, message) == 0 && strcmp(S.context, context) == 0 &&
           S.object == o && S.pending_in_hook == PM_EXC_NONE;
}

static bool pending_is(pm_exc kind, const char *message) {
    return pm_exc_occurred() == kind && strcmp(pm_exc_message(), message) == 0;
}

/* ---- types whose code raises -------------------------------------------------- */

typedef struct holder {
    pm_object ob;
    pm_object *ref; /* a reference field: cycles */
} holder;

static void raise_boom(pm_object *self) {
    (void)self;
    pm_exc_set(PM_EXC_VALUE, "boom");
}

/* Clears what is pending, as code that handles its own errors does. */
static void clear_all(pm_object *self) {
    (void)self;
    pm_exc_clear();
}

static int clear_raises(pm_object *self) {
    (void)self;
    pm_exc_set(PM_EXC_VALUE, "clear failed");
    return -1;
}

static pm_type *make_type(const char *name, void (*finalize)(pm_object *),
                          void (*legacy)(pm_object *), int (*clear)(pm_object *)) {
    pm_type_spec spec = {.name = name,
                         .basicsize = sizeof(holder),
                         .nrefs = 1,
                         .flags = PM_TPFLAGS_WEAKREF,
                         .slots = {.finalize = finalize, .legacy_del = legacy, .clear = clear}};
    pm_type *t = pm_type_new(&spec);
    CHECK(t != NULL);
    return t;
}

/* Two instances of t referring to each other; the caller's references
 * are gone: garbage only the collector finds. *a_out: one of them
 * (borrowed; alive until collected). */
static void make_cycle(pm_type *t, pm_object **a_out) {
    pm_object *a = pm_object_new(t), *b = pm_object_new(t);
    ((holder *)a)->ref = pm_newref(b);
    ((holder *)b)->ref = pm_newref(a);
    if (a_out) *a_out = a;
    pm_decref(a);
    pm_decref(b);
}

/* ---- deaths by reference counting ------------------------------------------------ */

/* Drop the last reference to a new instance of t with an exception
 * pending (a failing call's cleanup): it must still be pending after.
 * Returns the (freed) instance's address, for the report. */
static const pm_object *decref_while_pending(pm_type *t, pm_exc kind, const char *message) {
    pm_object *o = pm_object_new(t);
    if (kind) pm_exc_set(kind, "%s", message);
    pm_decref(o);
    CHECK(kind ? pending_is(kind, message) : pm_exc_occurred() == PM_EXC_NONE);
    pm_exc_clear();
    return o;
}

static void finalizer_on_decref(void) {
    tu_group g = tu_group_begin();
    hook_on();
    pm_type *t = make_type("fin", raise_boom, NULL, NULL);
    /* Nothing comes out of pm_decref; the finalizer's error is reported. */
    const pm_object *o = decref_while_pending(t, PM_EXC_NONE, NULL);
    CHECK_EQ(S.calls, 1);
    CHECK(reported(PM_EXC_VALUE, "boom", "finalizer of", o) && strcmp(S.type_name, "fin") == 0);
    /* A failing call's exception survives the finalizer's. */
    o = decref_while_pending(t, PM_EXC_MEMORY, "out of memory");
    CHECK_EQ(S.calls, 2);
    CHECK(reported(PM_EXC_VALUE, "boom", "finalizer of", o));
    pm_decref(PM_OBJ(t));

    /* A finalizer that clears exceptions does not clear the caller's. */
    t = make_type("quiet", clear_all, NULL, NULL);
    decref_while_pending(t, PM_EXC_KEY, "k");
    CHECK_EQ(S.calls, 2);
    pm_decref(PM_OBJ(t));

    /* The legacy finalizer: the same rules. */
    t = make_type("legacy", NULL, raise_boom, NULL);
    o = decref_while_pending(t, PM_EXC_INDEX, "i");
    CHECK_EQ(S.calls, 3);
    CHECK(reported(PM_EXC_VALUE, "boom", "legacy finalizer of", o));
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

static void weakref_raises(pm_object *wr, pm_object *arg) {
    (void)wr;
    (void)arg;
    pm_exc_set(PM_EXC_VALUE, "callback failed");
}

static void weakref_callback_on_decref(void) {
    tu_group g = tu_group_begin();
    hook_on();
    pm_type *t = make_type("target", NULL, NULL, NULL);
    pm_object *o = pm_object_new(t);
    pm_object *wr = pm_weakref_new(o, weakref_raises, NULL);
    pm_exc_set(PM_EXC_KEY, "pending");
    pm_decref(o);
    CHECK(pending_is(PM_EXC_KEY, "pending"));
    CHECK_EQ(S.calls, 1);
    CHECK(reported(PM_EXC_VALUE, "callback failed", "weakref callback of", wr));
    pm_exc_clear();
    pm_decref(wr);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

/* A generator whose callback drops the last reference to it and fails:
 * its release runs inside pm_next, and raises or clears. */
typedef struct gen_state {
    pm_object *self;  /* the generator's only reference */
    int release_mode; /* 1: raises, 2: clears */
} gen_state;

static int gen_fails(void *state, pm_object **item) {
    (void)item;
    gen_state *s = state;
    pm_decref(s->self);
    pm_exc_set(PM_EXC_VALUE, "next failed");
    return -1;
}

static void gen_release(void *state) {
    gen_state *s = state;
    if (s->release_mode == 1) pm_exc_set(PM_EXC_RUNTIME, "release failed");
    else pm_exc_clear();
}

static void generator_release(void) {
    tu_group g = tu_group_begin();
    hook_on();
    for (int mode = 1; mode <= 2; mode++) {
        gen_state s = {NULL, mode};
        s.self = pm_generator_new(gen_fails, &s, gen_release);
        pm_object *gen = s.self;
        CHECK(pm_next(gen) == NULL);
        CHECK(pending_is(PM_EXC_VALUE, "next failed"));
        pm_exc_clear();
        if (mode == 1)
            CHECK(reported(PM_EXC_RUNTIME, "release failed", "generator release of", gen));
    }
    CHECK_EQ(S.calls, 1);
    tu_group_end(&g, 0);
}

/* ---- collections ----------------------------------------------------------------- */

static void finalizers_in_collection(void) {
    tu_group g = tu_group_begin();
    hook_on();
    pm_type *t = make_type("cyc", raise_boom, NULL, NULL);
    make_cycle(t, NULL);
    pm_exc_set(PM_EXC_KEY, "pending");
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK(pending_is(PM_EXC_KEY, "pending"));
    pm_exc_clear();
    CHECK_EQ(S.calls, 2); /* both finalizers ran; each one's error reported */
    CHECK(reported(PM_EXC_VALUE, "boom", "finalizer of", S.object) &&
          strcmp(S.type_name, "cyc") == 0);

    /* No exception pending before: none after. */
    make_cycle(t, NULL);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK_EQ(S.calls, 4);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

/* An automatic collection starts at an allocation, in the middle of the
 * caller's code: a pending exception survives it, a finalizer's does not
 * come out of it. */
static void finalizers_in_automatic_collection(void) {
    tu_group g = tu_group_begin();
    hook_on();
    pm_gc_set_adaptive(0);
    pm_gc_set_threshold(10, 10, 10);
    pm_type *t = make_type("auto", raise_boom, NULL, NULL);
    make_cycle(t, NULL);
    pm_exc_set(PM_EXC_KEY, "pending");
    /* GC allocations, kept (a death takes one off the young count): the
     * collection starts at one of them. */
    pm_object *kept[100];
    int n = 0;
    while (n < 100 && S.calls == 0) kept[n++] = pm_list_new(0);
    CHECK(n < 100);
    CHECK_EQ(S.calls, 2);
    CHECK(pending_is(PM_EXC_KEY, "pending"));
    pm_exc_clear();
    while (n > 0) pm_xdecref(kept[--n]);
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

static void gc_callback_raises(const char *phase, const pm_gc_info *info, void *arg) {
    (void)info;
    (void)arg;
    pm_exc_set(PM_EXC_VALUE, "%s", phase);
}

static void callbacks_in_collection(void) {
    tu_group g = tu_group_begin();
    hook_on();
    CHECK_EQ(pm_gc_callback_add(gc_callback_raises, NULL), 0);
    pm_exc_set(PM_EXC_KEY, "pending");
    CHECK_EQ(pm_gc_collect(0), 0);
    CHECK(pending_is(PM_EXC_KEY, "pending"));
    pm_exc_clear();
    CHECK_EQ(S.calls, 2);
    CHECK(reported(PM_EXC_VALUE, "stop", "gc callback", NULL));
    CHECK_EQ(pm_gc_callback_remove(gc_callback_raises, NULL), 0);

    /* A weak reference's callback run by the collector. */
    pm_type *t = make_type("wcyc", NULL, NULL, NULL);
    pm_object *a;
    make_cycle(t, &a);
    pm_object *wr = pm_weakref_new(a, weakref_raises, NULL);
    CHECK(wr != NULL);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK_EQ(S.calls, 3);
    CHECK(reported(PM_EXC_VALUE, "callback failed", "weakref callback of", wr));
    pm_xdecref(wr);
    pm_decref(PM_OBJ(t));

    /* A clear slot's exception: the collection's own, reported at its end. */
    t = make_type("badclear", NULL, NULL, clear_raises);
    make_cycle(t, NULL);
    CHECK_EQ(pm_gc_collect(2), 2);
    CHECK_EQ(pm_exc_occurred(), PM_EXC_NONE);
    CHECK_EQ(S.calls, 4);
    CHECK(reported(PM_EXC_VALUE, "clear failed", "garbage collection", NULL));
    pm_decref(PM_OBJ(t));
    tu_group_end(&g, 0);
}

/* ---- the default hook --------------------------------------------------------------- */

static void default_hook_child(void *arg) {
    (void)arg;
    pm_type *t = make_type("Noisy", raise_boom, NULL, NULL);
    pm_object *o = pm_object_new(t);
    fprintf(stderr, "at %p\n", (void *)o);
    pm_decref(o);
    _exit(pm_exc_occurred() == PM_EXC_NONE ? 0 : 1);
}

static void default_hook(void) {
    tu_result r;
    tu_child(default_hook_child, NULL, &r);
    CHECK(r.exited && r.status == 0);
    void *addr = NULL;
    CHECK(sscanf(r.err, "at %p", &addr) == 1);
    char want[160];
    snprintf(want, sizeof want,
             "Exception ignored in: finalizer of <Noisy object at %p>: ValueError: boom\n", addr);
    const char *line = strchr(r.err, '\n');
    CHECK(line && strcmp(line + 1, want) == 0); /* exactly one line */
}

int main(void) {
    finalizer_on_decref();
    weakref_callback_on_decref();
    generator_release();
    finalizers_in_collection();
    finalizers_in_automatic_collection();
    callbacks_in_collection();
    default_hook();
    return tu_finish("test_obj_unraisable");
}
