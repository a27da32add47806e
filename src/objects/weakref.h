/*
 * weakref.h -- weakref.c's entry points for the cycle collector (hidden).
 *
 * pm_dealloc uses pmo_weakrefs_clear (object.h). A collection needs finer
 * steps, CPython 3.11's handle_weakrefs:
 *
 *   for each object op of the unreachable set U:
 *       if pmo_is_weakref(op): pmo_weakref_clear_ref(op)   (no callback, ever)
 *       while ((wr = pmo_weakrefs_first(op)) != NULL):
 *           pmo_weakref_clear_ref(wr)           (unlinks it: the loop moves on)
 *           if pmo_weakref_has_callback(wr) && wr is not in U:
 *               pm_incref(wr); remember wr
 *   for each remembered wr: pmo_weakref_run_callback(wr); pm_decref(wr)
 *
 * and pmo_weakrefs_clear(o, false) clears all of o's weak references
 * without any callback.
 *
 * A weak reference's callback runs at most once: run_callback takes it (and
 * drops its argument afterwards); a cleared reference never points to
 * anything again.
 */
#ifndef PM_OBJECTS_WEAKREF_H
#define PM_OBJECTS_WEAKREF_H

#include "object.h"

/* true for weak reference objects (pm_weakref_type and internal variants). */
PMO_HIDDEN bool pmo_is_weakref(const pm_object *o);

/* The newest weak reference to o, or NULL (borrowed). Walk o's list with
 * pmo_weakref_next while no code runs that could create or free one. */
PMO_HIDDEN pm_object *pmo_weakrefs_first(pm_object *o);
PMO_HIDDEN pm_object *pmo_weakref_next(pm_object *wr);

/* Clear one weak reference (it returns None from now on) and unlink it from
 * its target's list, keeping its callback uncalled (CPython's
 * _PyWeakref_ClearRef). When its target's list becomes empty, the target
 * loses PM_OF_HAS_WEAKREF. No code runs. */
PMO_HIDDEN void pmo_weakref_clear_ref(pm_object *wr);

/* true while wr still has a callback to run. */
PMO_HIDDEN bool pmo_weakref_has_callback(const pm_object *wr);

/* Run wr's callback now if it has one, then drop the callback and its
 * argument. The caller holds a reference to wr. The pending exception is
 * saved and restored around the call; an exception the callback raises goes
 * to the runtime's unraisable hook and is cleared. */
PMO_HIDDEN void pmo_weakref_run_callback(pm_object *wr);

#endif
