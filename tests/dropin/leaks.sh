#!/bin/sh
# leaks.sh LIB LEAKY -- PYMM_LEAKS for a C program under the drop-in
# (LD_PRELOAD=LIB; LEAKY is leaky.c): a clean run gets no verdict, the
# reporter's own memory included (its stdio comes from pymm's heap there);
# the planted leak is the one verdict, in a file, on stderr, with the exit
# code asked for; stale copies of lost pointers below main hide none of
# them at exit; with %p in the name each process of a tree writes its
# own file.
set -u
lib=$1
leaky=$2
leaky_gcc_s=$3 # leaky.c with libgcc_s loaded at start-up, as C++ programs have it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# verdicts FILE: how many verdicts the JSON file holds.
verdicts() { grep -c '"kind": ' "$1"; }

env LD_PRELOAD="$lib" PYMM_LEAKS="$work/clean.json" "$leaky" clean >/dev/null ||
    fail "clean: status $?"
[ "$(cat "$work/clean.json")" = '{"leaks": []}' ] ||
    fail "clean: verdicts in $(cat "$work/clean.json")"

env LD_PRELOAD="$lib" PYMM_LEAKS="$work/leak.json" "$leaky" leak >/dev/null
[ "$(verdicts "$work/leak.json")" = 1 ] &&
    grep -q '"kind": "block", "type": "block", "count": 1, "bytes": 112,' "$work/leak.json" ||
    fail "leak: not the one 100-byte block: $(cat "$work/leak.json")"

env LD_PRELOAD="$lib" PYMM_LEAKS=1 "$leaky" clean >/dev/null 2>"$work/clean.err"
[ -s "$work/clean.err" ] && fail "clean, PYMM_LEAKS=1: $(cat "$work/clean.err")"
# The check's unwinder comes from the libgcc_s already there: a dlopen of
# it would leave a block of the loader's that no scanned word points to.
env LD_PRELOAD="$lib" PYMM_LEAKS=1 "$leaky_gcc_s" clean >/dev/null 2>"$work/gcc_s.err"
[ -s "$work/gcc_s.err" ] && fail "clean with libgcc_s loaded: $(cat "$work/gcc_s.err")"
env LD_PRELOAD="$lib" PYMM_LEAKS="$work/gcc_s.json" "$leaky_gcc_s" leak >/dev/null
[ "$(verdicts "$work/gcc_s.json")" = 1 ] || fail "leak with libgcc_s loaded: $(cat "$work/gcc_s.json")"
env LD_PRELOAD="$lib" PYMM_LEAKS=1 PYMM_LEAKS_EXITCODE=23 "$leaky" leak >/dev/null 2>"$work/leak.err"
status=$?
[ "$status" = 23 ] || fail "PYMM_LEAKS_EXITCODE=23: status $status"
grep -q '^pymm: 1 leak at exit' "$work/leak.err" && grep -q '^leak: block, block, 1 blocks, 112' "$work/leak.err" ||
    fail "leak, PYMM_LEAKS=1: $(cat "$work/leak.err")"

# Stale copies of the three lost pointers in the dead stack below main
# hide nothing at exit.
env LD_PRELOAD="$lib" PYMM_LEAKS="$work/stale.json" "$leaky" stale >/dev/null
[ "$(verdicts "$work/stale.json")" = 3 ] && [ "$(grep -c '"bytes": 112,' "$work/stale.json")" = 3 ] ||
    fail "stale: not the three 100-byte blocks: $(cat "$work/stale.json")"

# A tree: sh starts two, then execs the last; three files, two verdicts.
mkdir "$work/tree"
env LD_PRELOAD="$lib" PYMM_LEAKS="$work/tree/l.%p.json" \
    sh -c "'$leaky' leak; '$leaky' clean; '$leaky' leak" >/dev/null
n=$(ls "$work/tree" | wc -l)
found=$(cat "$work/tree"/* | grep -c '"kind": ')
[ "$n" = 3 ] && [ "$found" = 2 ] || fail "tree: $n files, $found verdicts: $(ls "$work/tree")"

[ "$failed" = 0 ] && echo "PYMM_LEAKS under the drop-in: ok"
[ "$failed" = 0 ]
