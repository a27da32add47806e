/*
 * builders.h -- what the libraries on the core (src/lib/: JSON) may use of
 * the object layer beyond pymm.h: a few hidden builders that make objects
 * faster than the public API can (no second validation, exact sizes), and
 * a few readers without type checks. Prefix pmo_: they are defined in
 * src/objects/ and declared here once (objects/object.h includes this
 * header, so every definition sees its declaration).
 *
 * A library includes this header and pymm.h, never object.h or
 * containers.h: object layouts, flag bits and the runtime stay the object
 * layer's and the collector's. These are plain calls, as they were when
 * json.c lived in src/objects/: moving JSON out cost no instruction.
 */
#ifndef PM_OBJECTS_BUILDERS_H
#define PM_OBJECTS_BUILDERS_H

#include "pm_config.h"
#include "pymm.h"

#include <stdbool.h>
#include <stddef.h>

/* object.c: false, with the misuse reported, when o is a freed object in
 * debug mode (object.h's pmo_live, out of line for an entry called once). */
PM_HIDDEN bool pmo_check_live(pm_object *o, const char *api);

/* runtime.c: set MemoryError and return NULL, for `return pmo_no_memory();`. */
PM_HIDDEN void *pmo_no_memory(void);

/* object.c: a NULL object argument: TypeError with the message, unless an
 * exception is pending (a failed constructor's NULL passed on keeps its
 * error). */
PM_HIDDEN void pmo_null_arg(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* str.c: a str from text already known to be valid UTF-8 of `length` code
 * points (the JSON loader checks as it scans): no second validation. */
PM_HIDDEN pm_object *pmo_str_from_valid(const char *utf8, size_t nbytes, size_t length);

/* number.c: write digits d1..dn x 10^exp10 in Python's repr layout
 * (positional for -4 <= exp10 < 16, else scientific); returns the length.
 * Shared by repr(float) and json.dumps. */
PM_HIDDEN size_t pmo_float_layout(char *out, bool negative, const char *digits, int n, int exp10);

/* list.c: a list of n items taken from items[] (their references move
 * into it); tracked only if one of them may be (list.c L5). NULL on
 * MemoryError, and then the references stay with the caller. */
PM_HIDDEN pm_object *pmo_list_from_array_steal(pm_object *const *items, size_t n);

/* dict.c: a dict of the n pairs kv[0..2n) (key, value alternating; a
 * duplicate key: the last wins), its table sized for exactly n keys: the
 * JSON loader's dicts, which rarely grow afterwards. The references in kv
 * stay the caller's. NULL with the error set (an unhashable key, no
 * memory). */
PM_HIDDEN pm_object *pmo_dict_from_pairs(pm_object *const *kv, size_t n);
/* dict.c: the entry at *pos or after it (borrowed), advancing *pos; 0 at
 * the end. Same as pm_dict_next without the type check. */
PM_HIDDEN int pmo_dict_next(pm_object *d, size_t *pos, pm_object **key, pm_object **value);
/* dict.c: the number of items of dict d (no type check). */
PM_HIDDEN size_t pmo_dict_used(pm_object *d);

#endif
