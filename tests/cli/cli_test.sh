#!/bin/sh
# cli_test.sh -- the `pymm` command's behaviour as a user meets it (label
# "cli"): options, messages and exit statuses. Each CASE below is one CTest
# test (tests/cli/CMakeLists.txt registers them).
#
#   usage: cli_test.sh PYMM CASE [sanitized]
#
# Exit status: 0 pass, 1 fail, 77 skipped (CTest's SKIP_RETURN_CODE): the
# cases that limit the address space (ulimit -v) skip under sanitizers,
# which reserve terabytes of shadow memory.
set -u
PYMM=$1
CASE=$2
SANITIZED=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd) # this folder (cdp.py), before the cd below
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pymm-cli.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run [CMD...]: the command's status in $rc, its stdout in out, stderr in err.
run() {
    "$@" >out 2>err
    rc=$?
}

# expect STATUS MESSAGE-SUBSTRING CMD...: the status, and MESSAGE in stderr.
expect() {
    want=$1 message=$2
    shift 2
    run "$@"
    [ "$rc" -eq "$want" ] || fail "'$*': status $rc, want $want (stderr: $(head -c 300 err))"
    grep -qF -- "$message" err || fail "'$*': stderr lacks '$message': $(head -c 300 err)"
}

case_version() {
    version=$("$PYMM" version) || fail "pymm version: status $?"
    case $version in "pymm "[0-9]*.[0-9]*.[0-9]*) ;; *) fail "pymm version printed '$version'" ;; esac
    for opt in --version -V; do
        got=$("$PYMM" $opt) || fail "pymm $opt: status $?"
        [ "$got" = "$version" ] || fail "pymm $opt printed '$got', want '$version'"
    done
}

case_help() {
    for opt in --help -h help; do
        run "$PYMM" $opt
        [ "$rc" -eq 0 ] || fail "pymm $opt: status $rc"
        grep -q "^usage: pymm COMMAND" out || fail "pymm $opt: no usage on stdout"
        for word in demo bench gcgraph json stats version --max-size --strict --debug \
                    PYMM_MALLOC; do
            grep -qF -- "$word" out || fail "pymm $opt does not mention $word"
        done
    done
    for sub in json gcgraph stats run; do
        run "$PYMM" $sub --help
        [ "$rc" -eq 0 ] && grep -q "^usage: pymm $sub" out || fail "pymm $sub --help: status $rc"
    done
    expect 2 "usage: pymm COMMAND" "$PYMM"
    expect 2 "unknown command 'frobnicate'" "$PYMM" frobnicate
    expect 2 "usage: pymm json" "$PYMM" json --max-size 12X x.json
}

case_json_directory() {
    mkdir dir
    expect 2 "pymm json: dir: is a directory" "$PYMM" json dir
    expect 2 "pymm json: missing.json: No such file or directory" "$PYMM" json missing.json
}

# /dev/zero never ends: the limit stops it (ulimit -v keeps a broken build
# from taking the machine's memory).
case_json_limit() {
    [ -z "$SANITIZED" ] && ulimit -v 2000000
    expect 2 "/dev/zero: more than the limit of 1048576 bytes (--max-size)" \
        "$PYMM" json --max-size 1M /dev/zero
    head -c 3000000 /dev/zero >zeros
    expect 2 "zeros: 3000000 bytes, more than the limit of 2097152 bytes" \
        "$PYMM" json --max-size 2M zeros
    head -c 3000000 /dev/zero | "$PYMM" json --max-size 2M - >out 2>err
    rc=$?
    [ "$rc" -eq 2 ] && grep -qF -- "-: more than the limit of 2097152 bytes" err ||
        fail "stdin beyond the limit: status $rc: $(cat err)"
    printf '[1, 2]' >small.json
    run "$PYMM" json --max-size 6 small.json
    [ "$rc" -eq 0 ] || fail "a file of exactly the limit: status $rc: $(cat err)"
}

case_json_nan() {
    printf '[NaN, Infinity, -Infinity]\n' >nan.json
    run "$PYMM" json nan.json
    [ "$rc" -eq 0 ] && grep -q "numbers 3" out || fail "json NaN: status $rc: $(cat out err)"
    expect 1 "nan.json:1:2: Expecting value" "$PYMM" json --strict nan.json
}

case_gcgraph_nul() {
    printf 'gcgraph 1\nnode 1\nnode 2\000\nroot 1\n' >nul.txt
    expect 2 "pymm gcgraph: nul.txt:3: NUL byte" "$PYMM" gcgraph nul.txt
    [ -s out ] && fail "gcgraph printed output for a file with a NUL byte"
    printf 'gcgraph 1\nnode 1\nedge 1 7\n' >bad.txt
    expect 2 "pymm gcgraph: bad.txt:3: node 7 used before its 'node' line" "$PYMM" gcgraph bad.txt
    mkdir dir
    expect 2 "pymm gcgraph: dir: is a directory" "$PYMM" gcgraph dir
}

case_stats() {
    run "$PYMM" stats --blocks 1000
    [ "$rc" -eq 0 ] || fail "pymm stats: status $rc"
    grep -q "after 1000 random small blocks" out || fail "pymm stats: no description"
    # The workload's heap, not an empty one: 500 small blocks, 16 large.
    grep -Eq "^# arenas now +=  +[1-9]" out || fail "pymm stats: no arena: $(cat out)"
    run "$PYMM" stats --json --blocks 1000
    [ "$rc" -eq 0 ] && grep -q '"large_blocks": 16,' out || fail "pymm stats --json: $(cat out)"
}

case_demo() {
    run env TMPDIR="$WORK" "$PYMM" demo
    [ "$rc" -eq 0 ] || fail "pymm demo: status $rc: $(cat err)"
    # It ends with its HTML page, and how to open it; the page has the
    # script's frames, its collection and the RSS.
    grep -qF "Open it in a browser: xdg-open $WORK/pymm-demo.html" out ||
        fail "demo: does not say how to open its page: $(tail -5 out)"
    grep -qF '"format": "pymm-html"' pymm-demo.html || fail "demo: no HTML page written"
    grep -qF '"demo.script"' pymm-demo.html || fail "demo: the page lacks the script's frames"
    grep -Eq '"collections_total": [1-9]' pymm-demo.html || fail "demo: the page has no collection"
    grep -Eq '"rss_samples": [1-9]' pymm-demo.html || fail "demo: the page has no RSS"
    grep -q "pm_heap_trim gave .* MiB back to the OS" out || fail "demo: no trim report"
    grep -Eq "committed heap memory [0-9.]+ MiB -> [0-9.]+ MiB, resident \(RSS\)" out ||
        fail "demo: trim does not show committed and resident memory"
    grep -Eq "^ +[1-9][0-9]* free 4 KiB pages inside pools" out ||
        fail "demo: trim does not say what it gave back"
    grep -q "^Live at the end (never freed while traced)" out || fail "demo: no trace report"
    grep -q "main  demo.script:2 \[interpreter\]" out ||
        fail "demo: the trace report does not name the script's line"
    grep -Eq "^  #1  [0-9.]+ KiB in 2000 blocks  \[obj\]" out ||
        fail "demo: the kept floats are not the top stack at the end"
    grep -Eq "^  build_list +\+[0-9]+ B, peak \+[0-9.]+ KiB, 1x" out ||
        fail "demo: no section report for build_list"
    grep -Eq "^  temp_dict +\+[0-9]+ B, peak \+[0-9.]+ KiB, 1x" out ||
        fail "demo: no section report for temp_dict"
    grep -Eq "^ +[0-9.]+ s  script starts" out || fail "demo: no mark on the timeline"
    # The leaks chapter: one verdict of each kind, the cache's path from its root.
    for kind in cycle unowned growth block; do
        grep -q "^leak: $kind, " out || fail "demo: no $kind verdict"
    done
    grep -q "^    \['sessions'\] -> list (400 items)" out || fail "demo: no path to the growing cache"
    grep -q "^  checkpoint 4: 4 verdicts" out || fail "demo: not four verdicts at the last checkpoint"
}

# Under an address-space limit the demo's allocations fail at different
# points: it must end with status 1 and a message naming the call, never
# by a signal or by going on with a NULL. It needs well over 100 MB (it
# fills a heap with 400,000 blocks), so the small limits must fail; from
# 300 MB on it must succeed (the owner map then lives in its tree: the
# 1 GiB table does not fit, owners.c M4).
case_demo_out_of_memory() {
    [ -n "$SANITIZED" ] && { echo "SKIP: ulimit -v under sanitizers"; exit 77; }
    for kib in 30000 60000 90000 120000 200000 300000 400000 600000; do
        (ulimit -v $kib && exec "$PYMM" demo) >out 2>err
        rc=$?
        if [ "$rc" -eq 0 ]; then
            [ "$kib" -gt 90000 ] || fail "demo under ulimit -v $kib succeeded"
        elif [ "$kib" -ge 300000 ]; then
            fail "demo under ulimit -v $kib failed: status $rc: $(tail -c 300 err)"
        elif [ "$rc" -ne 1 ] || ! grep -Eq "^pymm demo: .* failed: " err; then
            fail "demo under ulimit -v $kib: status $rc: $(tail -c 300 err)"
        fi
    done
}

# PYMM_TRACE on a real run, and `pymm report` on what it wrote: JSON with
# the issue's shape, frames named by libdw when this build has it (NAMES=1).
case_report_json() {
    printf '{"a": [1, 2, {"b": "hello"}], "c": [4.5, 6.5]}' >s.json
    PYMM_TRACE="$WORK/t.%p.trc" "$PYMM" json s.json >/dev/null 2>err || fail "traced json: $(cat err)"
    set -- t.*.trc
    [ -f "$1" ] || { fail "PYMM_TRACE wrote no t.PID.trc"; return; }
    run "$PYMM" report "$1" --format json
    [ "$rc" -eq 0 ] || fail "report --format json: status $rc: $(head -c 300 err)"
    for key in '"summary"' '"peak"' '"at_exit"' '"sections"' '"complete": true' \
               '"live_bytes_at_end": 0' '"kind": "native"'; do
        grep -qF -- "$key" out || fail "report JSON lacks $key"
    done
    grep -Eq '"allocations": [1-9]' out || fail "report JSON counts no allocation"
    if [ "${NAMES:-0}" = 1 ]; then
        grep -qF '"function": "pymm_json_main"' out || fail "report JSON does not name pymm_json_main"
        grep -qF 'json_cmd.c"' out || fail "report JSON names no file json_cmd.c"
    fi
    run "$PYMM" report "$1"
    [ "$rc" -eq 0 ] || fail "report (text): status $rc"
    grep -q "^Live at the peak, by stack" out || fail "text report has no peak section"
}

# PYMM_TRACE on a long run into file $2, ended by signal $1 once 4 KiB of
# blocks reached the file (a run of its length never ends first, however
# fast the machine): the capture reads up to the last block written before
# the signal, with a warning, incomplete, with allocations.
cut_short() {
    PYMM_TRACE="$WORK/$2" "$PYMM" json --repeat 1000000 s.json >/dev/null 2>&1 &
    pid=$!
    tries=0
    while [ "$(wc -c <"$2" 2>/dev/null || echo 0)" -lt 4096 ] && [ $tries -lt 600 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    kill -"$1" $pid 2>/dev/null
    wait $pid 2>/dev/null
    run "$PYMM" report "$2" --format json
    [ "$rc" -eq 0 ] || fail "report of a run ended by SIG$1: status $rc: $(head -c 300 err)"
    grep -q "warning" err || fail "report of a run ended by SIG$1 gives no warning"
    grep -qF '"complete": false' out || fail "a run ended by SIG$1: its report says complete"
    grep -Eq '"allocations": [1-9]' out || fail "a run ended by SIG$1: no allocation counted"
}

# A run killed or aborted in the middle leaves a capture that reads.
case_report_killed() {
    { printf '[{"k": "v"}, '; seq -s, 1000 21000; printf ']'; } >s.json
    cut_short KILL k.trc
    cut_short ABRT a.trc # abort(): no atexit handler, no flush, as a kill
}

# Bad input: FILE:OFFSET: what, status 1. After the 9-byte header, blocks:
# a kind (0 stored), the stored size, the size, then records (at byte 12).
case_report_bad() {
    printf 'hello' >notcapture
    expect 1 "notcapture:0: not a pymm capture file" "$PYMM" report notcapture
    printf 'PYMMTRC\000\004' >newer
    expect 1 "newer:8: capture format version 4; this pymm reads versions 2 to 3" "$PYMM" report newer
    printf 'PYMMTRC\000\001' >older
    expect 1 "older:8: capture format version 1" "$PYMM" report older
    # Version 3's records are unknown tags in a version-2 file.
    printf 'PYMMTRC\000\002\000\002\002\015\001' >rss2
    expect 1 "rss2:12: an unknown record tag" "$PYMM" report rss2
    printf 'PYMMTRC\000\003\000\004\004\016\003\001\001' >gen3
    expect 1 "gen3:12: a collection of an unknown generation" "$PYMM" report gen3
    printf 'PYMMTRC\000\002\007\001\001\000' >kind
    expect 1 "kind:9: an unknown block kind" "$PYMM" report kind
    printf 'PYMMTRC\000\002\000\001\002\000' >sizes
    expect 1 "sizes:9: a stored block with two sizes" "$PYMM" report sizes
    printf 'PYMMTRC\000\002\000\002\002\004\002' >cut
    expect 1 "cut:12: a record runs past the end of its block" "$PYMM" report cut
    printf 'PYMMTRC\000\002\000\001\001\077' >badtag
    expect 1 "badtag:12: an unknown record tag" "$PYMM" report badtag
    printf 'PYMMTRC\000\002\000\004\004\004\002\020\011' >nostack
    expect 1 "nostack:12: an allocation names an unknown stack" "$PYMM" report nostack
    printf 'PYMMTRC\000\002\000\004\004\003\006\002\001' >gap
    expect 1 "gap:12: a stack node out of order" "$PYMM" report gap
    printf 'PYMMTRC\000\002\000\014\014\006\200\200\200\200\200\200\200\200\200\200\001' >overlong
    expect 1 "overlong:12: a number longer than ten bytes" "$PYMM" report overlong
    printf 'PYMMTRC\000\002\000\026\026\011\001\001a\012\001\001\001\001\003\005\001\200\200\200\200\200\200\200\200\200\001' >loc0
    expect 1 "loc0:21: a stack node names an unknown location" "$PYMM" report loc0
    # A block cut short (the program died while writing it): read up to it.
    printf 'PYMMTRC\000\002\000\005\005\004' >short
    run "$PYMM" report short
    [ "$rc" -eq 0 ] || fail "report of a cut block: status $rc: $(head -c 300 err)"
    grep -q "short:9: warning: the capture ends inside a block" err || fail "no warning of a cut block"
    # Two allocations at one address, no free between: taken as freed, said.
    printf 'PYMMTRC\000\002\000\014\014\003\005\001\020\004\100\010\005\004\000\010\005' >twice
    run "$PYMM" report twice --format json
    [ "$rc" -eq 0 ] || fail "report of a repeated allocation: status $rc: $(head -c 300 err)"
    grep -q "1 allocations at an address still live" err || fail "no warning of a repeated allocation"
    grep -qF '"live_blocks_at_end": 1' out || fail "a repeated allocation counted twice"
    expect 1 "missing.trc:0: No such file" "$PYMM" report missing.trc
    expect 1 ".:0: not a regular file" "$PYMM" report .
    expect 2 "usage: pymm report" "$PYMM" report
}

# capture FILE RECORDS: a capture of one stored block holding RECORDS
# (printf escapes, under 128 bytes): the 9-byte header, kind 0, the two
# sizes, then the records from byte 12.
capture() {
    printf "$2" >"$1.records"
    n=$(wc -c <"$1.records")
    size=$(printf '\\%03o' "$n")
    { printf 'PYMMTRC\000\002\000'; printf "$size$size"; cat "$1.records"; } >"$1"
}

# the_list KEY: the lines of the report JSON's list KEY in out, from its
# key to its closing bracket.
the_list() {
    awk -v key="  \"$1\": [" 'index($0, key) == 1 { on = 1 }
        on { print }
        on && (/^  \]/ || /\[\][,}]?$/) { exit }' out
}

# temporaries N TOTALS ENTRIES: the JSON report of temp.trc with
# --temporary N has the summary's temporary totals and the list of
# temporary ENTRIES, one a line.
temporaries() {
    run "$PYMM" report temp.trc --format json --temporary "$1"
    [ "$rc" -eq 0 ] || fail "report --temporary $1: status $rc: $(head -c 300 err)"
    grep -qF "\"temporary_allocations\": $2, \"temporary_within\": $1," out ||
        fail "--temporary $1: totals not $2: $(head -1 out)"
    [ "$(the_list temporary)" = "  \"temporary\": [$3
  ]," ] || fail "--temporary $1: entries not$3: $(the_list temporary)"
}

# Temporary blocks (memray's term): freed by their own thread before it
# made N more allocations (--temporary N, default 1). Thread 1 allocates A
# (address 16, 100 B, obj) and frees it at once: temporary. It allocates
# B (32, 200 B, mem) and C (48, 7 B, raw), then frees B: one allocation
# between, temporary from N=2. It allocates D (64, 50 B, pm_heap); thread
# 2 frees D and C: never temporary, whatever N. Thread 1 allocates E (80,
# 9 B, obj), thread 2 allocates F (96, 11 B, obj), thread 1 frees E:
# another thread's allocation does not count, temporary.
case_report_temporary() {
    capture temp.trc '\007\001\004\040\144\003\005\000\004\040\310\001\002\004\040\007\001\005\037\004\100\062\004\007\002\005\000\005\037\007\001\004\100\011\003\007\002\004\040\013\003\007\001\005\037\010\006\005'
    temporaries 1 '2, "temporary_bytes": 109' '
    {"stack": [], "bytes": 109, "count": 2, "domain": "obj"}'
    temporaries 2 '3, "temporary_bytes": 309' '
    {"stack": [], "bytes": 200, "count": 1, "domain": "mem"},
    {"stack": [], "bytes": 109, "count": 2, "domain": "obj"}'
    temporaries 1024 '3, "temporary_bytes": 309' '
    {"stack": [], "bytes": 200, "count": 1, "domain": "mem"},
    {"stack": [], "bytes": 109, "count": 2, "domain": "obj"}'
    run "$PYMM" report temp.trc
    grep -q "^  temporary     2 (109 B), freed before their thread allocated again$" out ||
        fail "text: no temporary totals: $(cat out)"
    grep -A1 "^Temporary allocations, by stack (1 stacks):" out | grep -q "#1  109 B in 2 blocks  \[obj\]" ||
        fail "text: no temporary stacks: $(cat out)"
    for n in 0 1025 x -1; do
        expect 2 "usage: pymm report" "$PYMM" report temp.trc --temporary $n
    done
    # Threads are numbered 1, 2, ... in order of their first event.
    capture thread.trc '\007\001\007\003'
    expect 1 "thread.trc:14: a thread number out of order" "$PYMM" report thread.trc
}

# --diff of two hand-made captures with known changes. In both, an
# interpreter frame f at s.py:3 allocates in obj, and a native frame at
# offset 0x234 of /nonexistent/libx.so (unreadable: named libx.so+0x234)
# in mem; the stack ids, string ids, location ids, load biases and pcs
# differ, the meaning does not. A: f 100 B, libx 7 B, and 10 B of mem
# without frames, freed at once (the peak: 110 B, before libx's). B: f
# 300 B, libx 8 B, and g at s.py:9, a stack A lacks, 50 B; nothing freed.
case_report_diff() {
    capture da.trc '\011\001\004s.py\011\002\001f\012\001\001\002\003\003\005\003\201\200\200\200\200\200\200\200\200\001\002\200\040\200\040\200\040\024/nonexistent/libx.so\003\006\002\264\044\004\040\144\005\004\040\012\002\005\000\004\040\007\006\010\003\001'
    capture db.trc '\011\001\001g\011\002\004s.py\011\003\001f\012\001\002\001\011\012\002\002\003\003\003\005\003\201\200\200\200\200\200\200\200\200\001\003\006\003\202\200\200\200\200\200\200\200\200\001\002\200\240\001\200\240\001\200\040\024/nonexistent/libx.so\003\007\002\264\244\001\004\040\254\002\006\004\040\062\005\004\040\010\007\010\003\000'
    f='{"stack": [{"function": "f", "file": "s.py", "line": 3, "kind": "interpreter"}], "domain": "obj"'
    g='{"stack": [{"function": "g", "file": "s.py", "line": 9, "kind": "interpreter"}], "domain": "obj"'
    x='{"stack": [{"function": "libx.so+0x234", "file": null, "line": 0, "kind": "native"}], "domain": "mem"'
    m='{"stack": [], "domain": "mem"'
    run "$PYMM" report --diff da.trc db.trc --format json
    [ "$rc" -eq 0 ] || fail "report --diff: status $rc: $(head -c 300 err)"
    grep -qF '{"diff": {"a": {"file": "da.trc",' out || fail "--diff JSON: no summary of A"
    grep -qF '"b": {"file": "db.trc",' out || fail "--diff JSON: no summary of B"
    [ "$(the_list peak)" = "  \"peak\": [
    $f, \"bytes_a\": 100, \"bytes_b\": 300, \"bytes_delta\": 200, \"count_a\": 1, \"count_b\": 1, \"count_delta\": 0},
    $g, \"bytes_a\": 0, \"bytes_b\": 50, \"bytes_delta\": 50, \"count_a\": 0, \"count_b\": 1, \"count_delta\": 1},
    $m, \"bytes_a\": 10, \"bytes_b\": 0, \"bytes_delta\": -10, \"count_a\": 1, \"count_b\": 0, \"count_delta\": -1},
    $x, \"bytes_a\": 0, \"bytes_b\": 8, \"bytes_delta\": 8, \"count_a\": 0, \"count_b\": 1, \"count_delta\": 1}
  ]," ] || fail "--diff: peak list: $(the_list peak)"
    [ "$(the_list at_exit)" = "  \"at_exit\": [
    $f, \"bytes_a\": 100, \"bytes_b\": 300, \"bytes_delta\": 200, \"count_a\": 1, \"count_b\": 1, \"count_delta\": 0},
    $g, \"bytes_a\": 0, \"bytes_b\": 50, \"bytes_delta\": 50, \"count_a\": 0, \"count_b\": 1, \"count_delta\": 1},
    $x, \"bytes_a\": 7, \"bytes_b\": 8, \"bytes_delta\": 1, \"count_a\": 1, \"count_b\": 1, \"count_delta\": 0}
  ]," ] || fail "--diff: at_exit list: $(the_list at_exit)"
    run "$PYMM" report --diff db.trc da.trc --format json --top 1
    [ "$(the_list allocated)" = "  \"allocated\": [
    $f, \"bytes_a\": 300, \"bytes_b\": 100, \"bytes_delta\": -200, \"count_a\": 1, \"count_b\": 1, \"count_delta\": 0}
  ]," ] || fail "--diff B A --top 1: allocated list: $(the_list allocated)"
    run "$PYMM" report --diff da.trc db.trc
    [ "$rc" -eq 0 ] || fail "report --diff (text): status $rc: $(head -c 300 err)"
    grep -A2 "^Live at the end (never freed while traced), change by stack (3 stacks changed):" out |
        grep -A1 -F "#1  +200 B, +0 blocks  (100 B in 1 -> 300 B in 1)  [obj]" |
        grep -qF "        f  s.py:3 [interpreter]" || fail "--diff text: no change of f at the end: $(cat out)"
    grep -Eq "^  peak +110 B +358 B +\+248 B$" out || fail "--diff text: no change of the peak: $(cat out)"
    # Bad input: the file's own FILE:OFFSET: message, status 1.
    printf 'PYMMTRC\000\002\000\001\001\077' >badtag
    expect 1 "badtag:12: an unknown record tag" "$PYMM" report --diff da.trc badtag
    expect 1 "badtag:12: an unknown record tag" "$PYMM" report --diff badtag db.trc --format json
    [ -s out ] && fail "--diff of a bad file printed a report"
    expect 1 "missing.trc:0: No such file" "$PYMM" report --diff missing.trc db.trc
    expect 2 "usage: pymm report" "$PYMM" report --diff da.trc
    expect 2 "usage: pymm report" "$PYMM" report da.trc --diff da.trc db.trc
}

# --diff of two traced runs of `pymm json`, the second document ten times
# the first: its stacks match the first run's despite ASLR, and the
# strings' stack leads the peak's changes with a positive delta.
case_report_diff_runs() {
    for n in 100 1000; do
        i=0
        { printf '['; while [ $i -lt $n ]; do printf '"%s%090d", ' s $i; i=$((i + 1)); done
          printf '"end"]'; } >d$n.json
        PYMM_TRACE="$WORK/r$n.trc" "$PYMM" json d$n.json >/dev/null 2>err || fail "traced json: $(cat err)"
    done
    run "$PYMM" report --diff r100.trc r1000.trc --format json --top 3
    [ "$rc" -eq 0 ] || fail "report --diff of two runs: status $rc: $(head -c 300 err)"
    first=$(the_list peak | sed -n 2p)
    echo "$first" | grep -Eq '"bytes_a": [1-9][0-9]*, "bytes_b": [1-9][0-9]*, "bytes_delta": [1-9][0-9]*, "count_a": [1-9][0-9]*, "count_b": [1-9][0-9]*, "count_delta": 9[0-9][0-9]}' ||
        fail "--diff of two runs: the peak's first change is not a growth in both: $first"
    if [ "${NAMES:-0}" = 1 ]; then
        echo "$first" | grep -qF '"function": "make_str"' ||
            fail "--diff of two runs: the first change is not the strings' stack: $first"
    fi
    # A stack in A only and one in B only would be one stack not matched.
    the_list peak | grep -F '"bytes_b": 0,' && fail "--diff of two runs: a stack of A only at the peak"
    run "$PYMM" report --diff r100.trc r100.trc --format json
    [ "$(the_list peak)" = '  "peak": [],' ] || fail "--diff of a run with itself: $(the_list peak)"
}

# A sampled capture (INFO sample_bytes R): each recorded allocation of n
# bytes stands for 1/(1 - e^(-n/R)) of them (1000 bytes at R = 1000:
# 1.58, so 1582 bytes, and 1 or 2 blocks as the address's hash decides:
# 2 for this one); temporaries are not measured; a
# capture that says it dropped allocations makes the report say so.
case_report_sampled() {
    printf 'PYMMTRC\000\002\000\034\034\001\014sample_bytes\0041000\003\005\002\020\004\100\350\007\005' >sampled
    run "$PYMM" report sampled --format json
    [ "$rc" -eq 0 ] || fail "report of a sampled capture: status $rc: $(head -c 300 err)"
    for key in '"allocations": 2,' '"allocated_bytes": 1582,' '"live_bytes_at_end": 1582,' \
               '"live_blocks_at_end": 2,' '"sample_bytes": 1000,' '"bytes": 1582, "count": 2' \
               '"recorded_allocations": 1,'; do
        grep -qF -- "$key" out || fail "sampled report lacks $key: $(head -c 400 out)"
    done
    run "$PYMM" report sampled
    grep -q "temporary     not measured" out || fail "a sampled report measures temporaries"
    grep -q "every figure is an estimate" out || fail "a sampled report does not say so"
    printf 'PYMMTRC\000\002\000\013\013\001\007dropped\0017' >dropped
    run "$PYMM" report dropped --format json
    grep -qF '"dropped": 7,' out || fail "the report lost the dropped count: $(head -c 300 out)"
    printf 'PYMMTRC\000\002\000\020\020\001\014sample_bytes\001x' >badsample
    expect 1 "badsample:12: a sample_bytes that is not a positive number" "$PYMM" report badsample
    # R given after an event (the event was weighed as a full capture's).
    printf 'PYMMTRC\000\002\000\033\033\003\005\002\020\004\100\144\005\001\014sample_bytes\0041000' >late
    expect 1 "late:20: a sample_bytes after the first events" "$PYMM" report late
    printf 'PYMMTRC\000\002\000\033\033\001\014sample_bytes\0041000\003\005\002\020\004\100\000\005' >zero
    expect 1 "zero:35: an allocation of 0 bytes in a sampled capture" "$PYMM" report zero
}

# The timeline: 100 bytes at 0 ms, 50 more at 100 s, the first freed
# then. 100,000 ms in 10 ms steps is too many: steps merge and double to
# 80 ms (1,251 steps); the first holds 100, the last 150 at most and 50
# (mem) at its end. The text draws at most 20 rows.
case_report_timeline() {
    printf 'PYMMTRC\000\002\000\022\022\003\005\002\020\004\100\144\005\006\240\215\006\004\100\062\005\005\077' >tl
    run "$PYMM" report tl --format json
    [ "$rc" -eq 0 ] || fail "report of a timeline: status $rc: $(head -c 300 err)"
    grep -qF '"timeline": {"step_ms": 80, "steps": [' out || fail "no 80 ms timeline: $(tail -c 300 out)"
    grep -qF '{"ms": 0, "max_bytes": 100, "raw": 0, "mem": 100,' out || fail "the first step is wrong"
    grep -qF '{"ms": 100000, "max_bytes": 150, "raw": 0, "mem": 50, "obj": 0, "pm_heap": 0, "rss": 0}' out ||
        fail "the last step is wrong: $(tail -c 200 out)"
    [ "$(grep -c '"ms": [0-9]*, "max_bytes"' out)" -eq 1251 ] || fail "not 1251 steps"
    run "$PYMM" report tl
    grep -q "^Timeline (the most live in each 5.040 s):" out || fail "no text timeline: $(tail -c 300 out)"
    [ "$(grep -c ' s .* B  #*$' out)" -le 20 ] || fail "more than 20 timeline rows"
}

# RSS and COLLECTION records (version 3), made by hand: 2 MiB resident at
# 0 ms, 3 MiB at 20 ms, a collection of generation 2 ending at 20 ms
# after a pause of 1500 us that found 7 objects. The summary, the
# timeline's steps (the RSS in force: 2 MiB carried into 10 ms) and the
# collections say so; so does the text.
case_report_rss_gc_records() {
    printf 'PYMMTRC\000\003\000\024\024\015\200\200\200\001\006\024\015\200\200\300\001\016\002\334\013\007\010\000\000' >v3
    run "$PYMM" report v3 --format json
    [ "$rc" -eq 0 ] || { fail "report of RSS and a collection: status $rc: $(head -c 300 err)"; return; }
    grep -qF '"rss_bytes_at_end": 3145728, "rss_peak_bytes": 3145728, "rss_peak_ms": 20, "rss_samples": 2,' out ||
        fail "the summary's RSS is wrong: $(head -c 600 out)"
    grep -qF '{"ms": 10, "max_bytes": 0, "raw": 0, "mem": 0, "obj": 0, "pm_heap": 0, "rss": 2097152}' out ||
        fail "the RSS is not carried into the second step: $(grep -A4 timeline out)"
    grep -qF '"pm_heap": 0, "rss": 3145728}' out || fail "no step holds 3 MiB of RSS"
    tr -d '\n ' <out | grep -qF '"collections":{"count":1,"by_generation":[0,0,1],"pause_total_us":1500,"pause_max_us":1500,"found":7,"list":[{"generation":2,"end_ms":20,"pause_us":1500,"found":7}]}' ||
        fail "the collection is wrong: $(grep -A4 collections out)"
    run "$PYMM" report v3
    grep -qF "RSS           peak 3072.0 KiB at 0.020 s, 3072.0 KiB at the end (2 samples)" out ||
        fail "the text gives no RSS: $(head -12 out)"
    grep -qF "collector     1 collections (generations 0/1/2: 0/0/1), paused 1.500 ms in all, longest 1.500 ms, 7 unreachable objects found" out ||
        fail "the text gives no collection: $(head -12 out)"
}

# A traced run (report_sites gc): three explicit collections of 500
# cycles each, generations 0, 1 and 2, are three COLLECTION records; a
# 24 MiB block written through and held is in the sampled RSS; the page
# carries both.
case_report_rss_gc() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the data"; exit 77; }
    [ -n "${SITES:-}" ] || { fail "SITES names no program"; return; }
    PYMM_TRACE="$WORK/gc.trc" "$SITES" gc 2>err || { fail "traced gc: $(cat err)"; return; }
    run "$PYMM" report gc.trc --format json
    [ "$rc" -eq 0 ] || { fail "report gc.trc: status $rc: $(head -c 300 err)"; return; }
    python3 -c '
import json
d = json.load(open("out"))
c, s = d["collections"], d["summary"]
assert c["count"] == 3 and c["by_generation"] == [1, 1, 1] and c["found"] == 1500, c
assert [k["generation"] for k in c["list"]] == [0, 1, 2], c["list"]
assert all(k["found"] == 500 for k in c["list"]), c["list"]
assert s["rss_samples"] >= 3 and s["rss_peak_bytes"] >= 24 << 20, s
assert max(t["rss"] for t in d["timeline"]["steps"]) == s["rss_peak_bytes"], "timeline RSS"' >check 2>&1 ||
        fail "gc.trc: $(tail -2 check)"
    run "$PYMM" report gc.trc --format html -o gc.html
    [ "$rc" -eq 0 ] || { fail "html of gc.trc: status $rc: $(head -c 300 err)"; return; }
    html_data gc.html
    python3 -c '
import json
d = json.load(open("data.json"))
assert d["collections_total"] == 3 and [k[0] for k in d["collections"]] == [0, 1, 2], d["collections"]
assert max(s[6] for s in d["timeline"]["steps"]) >= 24 << 20, "no RSS in the steps"' >check 2>&1 ||
        fail "gc.html: $(tail -2 check)"
}

# ---- pymm run ------------------------------------------------------------

# `pymm run -- PROGRAM`: the program runs traced, its report is written
# where the command says (by default PROGRAM.PID.html beside
# PROGRAM.PID.trc), and the exit status is the program's: its own, 128 +
# N for signal N, 127 when it cannot start; a program not linked with
# pymm writes no capture, and that is said.
# run_dropin: `pymm run` of sh, a program not linked with pymm (case_run).
run_dropin() {
    run "$PYMM" run --frames 4 --sample 4096 --report text -o sh.txt -- \
        sh -c 'echo "$PYMM_TRACE $PYMM_TRACE_FRAMES $PYMM_TRACE_SAMPLE $LD_PRELOAD"'
    [ "$rc" -eq 0 ] || fail "pymm run of a program without pymm: status $rc: $(head -c 300 err)"
    grep -q '^sh\.%p\.trc 4 4096 .*/libpymm-malloc\.so$' out ||
        fail "pymm run: the program's environment: $(cat out)"
    grep -q "^pymm capture sh\.[0-9]*\.trc" sh.txt || fail "pymm run: no report of sh: $(cat err)"
    # A program that does not link pymm, traced through the drop-in: the
    # stacks start at its own calls, not in the drop-in.
    run "$PYMM" run --report text -o - -- sh -c 'for i in 1 2 3; do x=$i; done; echo $x'
    [ "$rc" -eq 0 ] && grep -q "^3$" out && grep -q "^Live at the peak, by stack" out ||
        fail "pymm run of sh: no report on stdout: $(head -c 300 err)"
    if grep -q "malloc\.c" out; then fail "pymm run: the drop-in's own frames show: $(grep malloc.c out)"; fi
}

case_run() {
    [ -n "${SITES:-}" ] || { fail "SITES names no program"; return; }
    run "$PYMM" run -- "$SITES"
    [ "$rc" -eq 0 ] || { fail "pymm run: status $rc: $(head -c 300 err)"; return; }
    page=$(sed -n 's/.*its report: \([^ ]*\) (capture: \([^)]*\)).*/\1/p' err)
    capture=$(sed -n 's/.*its report: \([^ ]*\) (capture: \([^)]*\)).*/\2/p' err)
    case "$page" in cli_report_sites.[0-9]*.html) ;; *) fail "pymm run: report '$page': $(cat err)" ;; esac
    [ -s "$page" ] && [ -s "$capture" ] || fail "pymm run: no $page or $capture"
    grep -qF '"format": "pymm-html"' "$page" || fail "pymm run: $page is not a report page"
    grep -qF "sites.py" "$page" || fail "pymm run: the page lacks the script's frames"
    grep -qF "xdg-open $page" err || fail "pymm run: does not say how to open the page"
    run "$PYMM" run --report json -o r.json --frames 4 -- "$SITES" exit 3
    [ "$rc" -eq 3 ] || fail "pymm run of a program exiting 3: status $rc: $(head -c 300 err)"
    grep -qF '"peak_bytes": 1090000' r.json || fail "pymm run --report json: not the sites' peak"
    run "$PYMM" run --report text -o - -- "$SITES"
    [ "$rc" -eq 0 ] && grep -q "^Live at the peak, by stack" out ||
        fail "pymm run -o -: no text report on stdout: $(head -c 300 err)"
    run "$PYMM" run --capture k.trc -o k.html -- "$SITES" kill
    [ "$rc" -eq 137 ] || fail "pymm run of a killed program: status $rc, want 137"
    grep -qF "ended by signal 9" err || fail "pymm run does not say the program was killed"
    [ -s k.html ] || fail "pymm run: no report of a killed run"
    # The environment the program gets: sh is not linked with pymm, so the
    # drop-in serves its malloc (LD_PRELOAD), and records it; a sanitized
    # build has no drop-in, and says so.
    if [ -n "$SANITIZED" ]; then
        run "$PYMM" run -- sh -c 'echo "$PYMM_TRACE"'
        [ "$rc" -eq 1 ] && grep -qF "libpymm-malloc.so is not installed beside pymm" err &&
            grep -qF "sh wrote no capture" err || fail "pymm run without the drop-in: $rc: $(cat err)"
    else
        run_dropin
    fi
    expect 127 "cannot run ./no-such-program: No such file or directory" \
        "$PYMM" run -- ./no-such-program
    expect 2 "no program to run" "$PYMM" run --
    expect 2 "usage: pymm run" "$PYMM" run "$SITES"
    expect 2 "--frames 0: not a number from 1 to" "$PYMM" run --frames 0 -- "$SITES"
    expect 2 "--sample 1x: not a number of bytes" "$PYMM" run --sample 1x -- "$SITES"
    expect 2 "--report xml: not a format" "$PYMM" run --report xml -- "$SITES"
}

# ---- the formats other tools read, on a run with known sites ------------

# sites: trace $SITES (tests/cli/report_sites.c) into sites.trc, and the
# report's JSON summary into summary (the totals the formats must add to).
sites() {
    [ -n "${SITES:-}" ] || { fail "SITES names no program"; return 1; }
    PYMM_TRACE="$WORK/sites.trc" "$SITES" 2>err || { fail "traced sites: $(cat err)"; return 1; }
    run "$PYMM" report sites.trc --format json
    [ "$rc" -eq 0 ] || { fail "report of sites.trc: status $rc: $(head -c 300 err)"; return 1; }
    head -1 out >summary
}

# summary_field KEY: a number of the JSON summary.
summary_field() {
    sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" summary
}

# sum_collapsed PREFIX: the bytes of out's collapsed lines that begin
# with PREFIX ("" for all of them).
sum_collapsed() {
    awk -v p="$1" 'index($0, p) == 1 { s += $NF } END { printf "%d\n", s }' out
}

# collapsed MEASURE KEEP LOAD CHURN TOTAL: `--format collapsed --measure
# MEASURE` gives each site's bytes (its lines begin with the script's
# main and the site's function) and the total, one line per stack.
collapsed() {
    run "$PYMM" report sites.trc --format collapsed --measure "$1"
    [ "$rc" -eq 0 ] || { fail "collapsed --measure $1: status $rc: $(head -c 300 err)"; return; }
    for site in "1;keep (sites.py:7);$2" "2;load (sites.py:3);$3" "4;churn (sites.py:9);$4"; do
        line=${site%%;*} rest=${site#*;}
        frame=${rest%;*} want=${rest##*;}
        got=$(sum_collapsed "main (sites.py:$line);$frame;")
        [ "$got" = "$want" ] || fail "collapsed --measure $1: $frame has $got bytes, want $want"
    done
    [ "$(sum_collapsed "")" = "$5" ] || fail "collapsed --measure $1: $(sum_collapsed "") bytes in all, want $5"
    grep -Ev '^[^ ;][^;]*(;[^;]+)* [1-9][0-9]*$' out && fail "collapsed --measure $1: a line not 'frame;...;frame bytes'"
    [ -z "$(sed 's/ [0-9]*$//' out | sort | uniq -d)" ] || fail "collapsed --measure $1: a stack on two lines"
}

# `pymm run --stats` and `--leaks` without --trace: no capture, the
# program's output unchanged, its heap statistics and leak verdicts (the
# drop-in's for programs without pymm, with files per process with %p), and
# the exit code asked for on a leak. LEAKY is tests/dropin/leaky.c. A
# sanitized build has no drop-in: a program without pymm gets a message,
# and only the program linked with pymm is checked.
case_run_stats_leaks() {
    [ -n "${SITES:-}" ] && [ -n "${LEAKY:-}" ] || { fail "SITES or LEAKY names no program"; return; }
    run "$PYMM" run --stats -- "$SITES"
    [ "$rc" -eq 0 ] && grep -q "^pymm heap 0x" err || fail "pymm run --stats of sites: $rc: $(head -c 300 err)"
    [ -z "$(ls ./*.trc 2>/dev/null)" ] || fail "pymm run --stats traced: $(ls)"
    run "$PYMM" run --leaks sites.%p.json -- "$SITES"
    file=$(sed -n 's/^pymm run: the leak verdicts of .*: \(\/.*\/sites\.[0-9]*\.json\)$/\1/p' err)
    [ "$rc" -eq 0 ] && [ -n "$file" ] && head -1 "$file" | grep -q '^{"leaks": \[' ||
        fail "pymm run --leaks FILE of sites: $rc: $(cat err)"
    expect 2 "--report collapsed does not show leak verdicts (--leaks with a trace goes with html, text or json)" \
        "$PYMM" run --leaks --report collapsed -- "$SITES"
    expect 2 "--leaks-exitcode 7: needs --leaks" "$PYMM" run --leaks-exitcode 7 -- "$SITES"
    expect 2 "--leaks-exitcode 256: not a number from 0 to 255" \
        "$PYMM" run --leaks --leaks-exitcode 256 -- "$SITES"
    if [ -n "$SANITIZED" ]; then
        run "$PYMM" run --stats -- sh -c 'echo hello'
        [ "$rc" -eq 0 ] && [ "$(cat out)" = hello ] &&
            grep -qF "libpymm-malloc.so is not installed beside pymm" err ||
            fail "pymm run --stats without the drop-in: $rc: $(cat err)"
        return
    fi
    # dash ends with _exit (no exit handlers): sed, its child, reports
    # (coreutils close stderr at exit: cat would print nothing).
    sh -c 'printf "%s\n" one two | sed s/o/0/' >plain.out
    run "$PYMM" run --stats -- sh -c 'printf "%s\n" one two | sed s/o/0/'
    [ "$rc" -eq 0 ] && cmp -s out plain.out || fail "pymm run --stats: the output changed: $(cat out)"
    grep -Eq '^# arenas allocated total += +[1-9]' err || fail "pymm run --stats: no arena: $(head -c 300 err)"
    [ -z "$(ls ./*.trc 2>/dev/null)" ] || fail "pymm run --stats traced: $(ls)"
    run "$PYMM" run --stats st.%p.txt -- "$LEAKY" clean
    file=$(sed -n 's/^pymm run: the statistics of .*: \(\/.*\/st\.[0-9]*\.txt\)$/\1/p' err)
    [ "$rc" -eq 0 ] && [ "$(cat out)" = "leaky clean" ] && [ -n "$file" ] &&
        grep -Eq '^# arenas allocated total += +[1-9]' "$file" ||
        fail "pymm run --stats FILE: $rc: $(cat err)"
    # A file of an earlier run is not announced as this run's; a relative
    # name is the caller's directory's, even when the program changes its own.
    echo old >old.txt
    touch -d '2000-01-01' old.txt
    run "$PYMM" run --stats old.txt -- sh -c 'echo x'
    [ "$rc" -eq 0 ] && grep -q "^pymm run: sh wrote no .*/old.txt (the statistics)" err ||
        fail "pymm run --stats: a stale file announced: $(cat err)"
    mkdir elsewhere
    run "$PYMM" run --stats here.txt -- sh -c "cd elsewhere && exec '$LEAKY' clean"
    [ "$rc" -eq 0 ] && [ -s here.txt ] && [ ! -e elsewhere/here.txt ] ||
        fail "pymm run --stats: the file followed the program's directory: $(ls . elsewhere)"
    run "$PYMM" run --leaks lk.%p.json -- "$LEAKY" leak
    file=$(sed -n 's/^pymm run: the leak verdicts of .*: \(\/.*\/lk\.[0-9]*\.json\)$/\1/p' err)
    [ "$rc" -eq 0 ] && [ -n "$file" ] && [ "$(grep -c '"kind": "block", .*"bytes": 112,' "$file")" = 1 ] &&
        [ "$(grep -c '"kind"' "$file")" = 1 ] || fail "pymm run --leaks FILE: $rc: $(cat err)"
    run "$PYMM" run --leaks -- "$LEAKY" clean
    [ "$rc" -eq 0 ] && [ ! -s err ] || fail "pymm run --leaks of a clean program: $rc: $(cat err)"
    run "$PYMM" run --leaks --leaks-exitcode 7 -- "$LEAKY" leak
    [ "$rc" -eq 7 ] && grep -q "^pymm: 1 leak at exit" err && grep -q "^leak: block, block, 1 blocks, 112 bytes" err ||
        fail "pymm run --leaks --leaks-exitcode 7: $rc: $(cat err)"
    # Children: one file each (dash itself runs no exit handler).
    mkdir tree
    run "$PYMM" run --leaks tree/l.%p.json -- sh -c "'$LEAKY' leak; '$LEAKY' clean; echo done"
    [ "$rc" -eq 0 ] && [ "$(ls tree | wc -l)" = 2 ] && [ "$(cat tree/* | grep -c '"kind"')" = 1 ] ||
        fail "pymm run --leaks of a tree: $rc: $(ls tree): $(cat err)"
    mkdir stree
    run "$PYMM" run --stats stree/s.%p.txt -- sh -c "'$LEAKY' clean; '$LEAKY' clean; echo done"
    [ "$rc" -eq 0 ] && [ "$(ls stree | wc -l)" = 2 ] &&
        [ "$(cat stree/* | grep -Ec '^# arenas allocated total += +[1-9]')" = 2 ] ||
        fail "pymm run --stats of a tree: $rc: $(ls stree): $(cat err)"
    # With --trace too: the report, and the statistics.
    run "$PYMM" run --trace --report text -o t.txt --stats -- "$LEAKY" clean
    [ "$rc" -eq 0 ] && grep -q "^pymm capture cli_leaky\.[0-9]*\.trc" t.txt && grep -q "^pymm heap 0x" err ||
        fail "pymm run --trace --stats: $rc: $(cat err)"
}

# Two copies of pymm in one process: a program linked with pymm under the
# drop-in's LD_PRELOAD (as `pymm run` of a shell passes it on). One copy
# traces, its capture reads whole, and a static copy left out says so.
case_run_two_copies() {
    [ -n "$SANITIZED" ] && exit 77 # no drop-in
    dropin=$(dirname "$PYMM")/../lib/libpymm-malloc.so
    [ -f "$dropin" ] || { fail "no drop-in at $dropin"; return; }
    # SITES links libpymm.so: the drop-in's copy serves its calls, quietly.
    LD_PRELOAD=$dropin PYMM_TRACE=shared.%p.trc "$SITES" >out 2>err
    [ $? -eq 0 ] || fail "the shared copy under the drop-in: $(head -c 300 err)"
    [ -s err ] && fail "the shared copy under the drop-in says: $(head -c 300 err)"
    set -- shared.*.trc
    [ $# -eq 1 ] && run "$PYMM" report --format json "$1" && grep -qF '"peak_bytes": 1090000' out ||
        fail "the shared copy's capture: $(ls): $(head -c 300 err)"
    # pymm itself is linked statically: its copy is left out, and says so.
    LD_PRELOAD=$dropin PYMM_TRACE=static.%p.trc "$PYMM" --version >out 2>err
    grep -qF "PYMM_TRACE: this process holds two copies of pymm" err ||
        fail "the static copy under the drop-in: $(head -c 300 err)"
    set -- static.*.trc
    [ $# -eq 1 ] && run "$PYMM" report "$1" && [ ! -s err ] ||
        fail "the static copy's process: $(ls): $(head -c 300 err)"
    LD_PRELOAD=$dropin PYMM_LEAKS=1 "$PYMM" --version >out 2>err
    grep -qF "PYMM_LEAKS: this process holds two copies of pymm" err ||
        fail "the static copy's leak check under the drop-in: $(head -c 300 err)"
}

# `pymm run --trace --leaks`: the program runs traced with its leak check
# at exit; the verdicts go to a file beside the capture (PROGRAM.PID.
# leaks.json, the same PID) or to FILE, and the report joins them with
# their stacks named (report_sites leaky: its cycle, allocated in leaky):
# text to a file and to stdout, JSON, and the page's leaks section. Each
# process of a tree writes its own capture and leak file; the report is
# of the program's own process. Under the drop-in: cli_leaky's lost block,
# allocated in plant.
case_run_trace_leaks() {
    [ -n "${SITES:-}" ] && [ -n "${LEAKY:-}" ] || { fail "SITES or LEAKY names no program"; return; }
    line=$(grep -n 'pm_object \*d = pm_dict_new(), \*l = pm_list_new(0);' "$HERE/report_sites.c" | cut -d: -f1)
    run "$PYMM" run --trace --leaks --report text -- "$SITES" leaky
    [ "$rc" -eq 0 ] || { fail "pymm run --trace --leaks: status $rc: $(head -c 300 err)"; return; }
    msg='.*its report: \([^ ]*\) (capture: \([^,]*\), leak verdicts: \([^)]*\)).*'
    report=$(sed -n "s/$msg/\1/p" err) capture=$(sed -n "s/$msg/\2/p" err) leaks=$(sed -n "s/$msg/\3/p" err)
    pid=${capture#cli_report_sites.}
    pid=${pid%.trc}
    [ "$report" = "cli_report_sites.$pid.txt" ] && [ "$leaks" = "$WORK/cli_report_sites.$pid.leaks.json" ] &&
        [ -s "$capture" ] && [ -s "$leaks" ] || fail "pymm run --trace --leaks: the files: $(cat err): $(ls)"
    grep -q "^pymm capture cli_report_sites\.$pid\.trc" "$report" &&
        grep -qxF "Leak verdicts ($leaks): 1" "$report" && grep -qxF "  cycle: dict, 3 objects, 192 B" "$report" ||
        fail "pymm run --trace --leaks: not the report with its verdict: $(cat "$report")"
    if [ "${NAMES:-0}" = 1 ]; then
        grep -qxF "          leaky  $HERE/report_sites.c:$line" "$report" ||
            fail "pymm run --trace --leaks: the verdict's stack is not named: $(cat "$report")"
    fi
    # -o -, a FILE of the caller's, the JSON and the page.
    run "$PYMM" run --leaks v.%p.json --report text -o - -- "$SITES" leaky
    [ "$rc" -eq 0 ] && grep -q "^Live at the peak, by stack" out && grep -q "^Leak verdicts (.*/v\.[0-9]*\.json): 1" out &&
        grep -q "^pymm run: the leak verdicts of .*: $WORK/v\.[0-9]*\.json (capture: cli_report_sites\.[0-9]*\.trc)" err ||
        fail "pymm run --leaks FILE -o -: $rc: $(cat err): $(tail -5 out)"
    run "$PYMM" run --trace --leaks --report json -o r.json -- "$SITES" leaky
    [ "$rc" -eq 0 ] && grep -qF '"leaks": [' r.json && grep -qF '"kind": "cycle", "type": "dict", "count": 3' r.json ||
        fail "pymm run --trace --leaks --report json: $rc: $(cat err)"
    run "$PYMM" run --leaks --capture pg.%p.trc -- "$SITES" leaky
    page=$(ls pg.*.html 2>/dev/null)
    [ "$rc" -eq 0 ] && [ -n "$page" ] && [ -s "${page%.html}.leaks.json" ] &&
        grep -q '"leaks_total": *1' "$page" && grep -q '"leaks_file": *"[^"]*pg\.[0-9]*\.leaks\.json"' "$page" &&
        grep -q '"kind": *"cycle", *"type": *"dict"' "$page" ||
        fail "pymm run --leaks html: no leaks section: $rc: $(cat err)"
    if [ "${NAMES:-0}" = 1 ]; then
        grep -q '"function": *"leaky", *"file": *"[^"]*report_sites.c", *"line": *'"$line" "$page" ||
            fail "pymm run --leaks html: leaky is not named on the page"
    fi
    expect 2 "--report pprof does not show leak verdicts" "$PYMM" run --leaks --report pprof -- "$SITES" leaky
    [ -n "$SANITIZED" ] && return # no drop-in
    # A program on the drop-in, and a tree: sh (dash ends with _exit: it
    # leaves a capture cut short and no verdicts, said) and its children,
    # each with its own capture and leak file.
    run "$PYMM" run --leaks --report text -o d.txt -- "$LEAKY" leak
    [ "$rc" -eq 0 ] && grep -qxF "  block: block, 1 blocks, 112 B" d.txt || fail "pymm run --leaks of leaky: $rc: $(cat err)"
    if [ "${NAMES:-0}" = 1 ]; then
        grep -q "^          plant  .*/leaky\.c:[0-9]*\$" d.txt || fail "pymm run --leaks of leaky: plant is not named: $(cat d.txt)"
    fi
    mkdir tree
    run "$PYMM" run --leaks --report text --capture tree/sh.%p.trc -- sh -c "'$LEAKY' leak; '$LEAKY' clean; echo done"
    [ "$rc" -eq 0 ] && [ "$(ls tree/sh.*.trc | wc -l)" = 3 ] && [ "$(ls tree/sh.*.leaks.json | wc -l)" = 2 ] &&
        [ "$(cat tree/sh.*.leaks.json | grep -c '"kind"')" = 1 ] &&
        grep -q "^pymm run: sh wrote no .*/tree/sh\.[0-9]*\.leaks\.json (the leak verdicts)" err ||
        fail "pymm run --leaks of a tree: $rc: $(ls tree): $(cat err)"
}

# Collapsed stacks (flamegraph.pl's input), outermost frame first: the
# script's frames, then the C ones down to the site's function.
case_report_collapsed() {
    sites || return
    collapsed peak 90000 1000000 0 "$(summary_field peak_bytes)"
    collapsed exit 90000 0 0 "$(summary_field live_bytes_at_end)"
    collapsed allocated 90000 1000000 320 "$(summary_field allocated_bytes)"
    collapsed temporary 0 100000 320 "$(summary_field temporary_bytes)"
    run "$PYMM" report sites.trc --format collapsed
    grep -q '^main (sites.py:2);load (sites.py:3);.* 1000000$' out ||
        fail "collapsed: the peak is not the default measure: $(cat out)"
    if [ "${NAMES:-0}" = 1 ]; then
        grep -q '^main (sites.py:1);keep (sites.py:7);.*;site_keep (.*report_sites.c:[0-9]*) 90000$' out ||
            fail "collapsed: keep's line does not end in site_keep: $(cat out)"
        grep -q ';main (.*report_sites.c:[0-9]*);site_load (.*report_sites.c:[0-9]*) 1000000$' out ||
            fail "collapsed: load's line does not end in main;site_load: $(cat out)"
    fi
}

# pprof_sums FILE FUNCTION...: from the text `protoc --decode` made of a
# profile: its sample types (type/unit ...) and default sample type, then
# for each FUNCTION the four values summed over the samples that have it
# in their stack, and TOTAL over all samples.
pprof_sums() {
    file=$1
    shift
    awk -v want="$*" '
        /^string_table: / { s = substr($0, 15); gsub(/^"|"$/, "", s); str[nstr++] = s }
        /^[a-z_]+ \{$/ { block = $1; if (block == "sample") { ns++; nl[ns] = 0; nv[ns] = 0 } }
        /^}$/ { block = "" }
        block == "sample_type" && $1 == "type:" { types = types " " $2 }
        block == "sample_type" && $1 == "unit:" { types = types "/" $2 }
        /^default_sample_type: / { dflt = $2 }
        block == "sample" && $1 == "location_id:" { loc[ns, ++nl[ns]] = $2 }
        block == "sample" && $1 == "value:" { val[ns, ++nv[ns]] = $2 }
        block == "location" && $1 == "id:" { lid = $2 }
        block == "location" && $1 == "function_id:" { lfn[lid] = $2 }
        block == "function" && $1 == "id:" { fid = $2 }
        block == "function" && $1 == "name:" { fname[fid] = $2 }
        END {
            n = split(types, t, " ")
            for (i = 1; i <= n; i++) { split(t[i], tu, "/"); printf "%s/%s ", str[tu[1]], str[tu[2]] }
            printf "default=%s\n", str[dflt]
            n = split(want " TOTAL", w, " ")
            for (k = 1; k <= n; k++) {
                for (j = 1; j <= 4; j++) sum[j] = 0
                for (i = 1; i <= ns; i++) {
                    has = w[k] == "TOTAL"
                    for (l = 1; l <= nl[i]; l++) if (str[fname[lfn[loc[i, l]]]] == w[k]) has = 1
                    if (has) for (j = 1; j <= 4; j++) sum[j] += val[i, j]
                }
                printf "%s %d %d %d %d\n", w[k], sum[1], sum[2], sum[3], sum[4]
            }
        }' "$file"
}

# pprof_check ARGS -- EXPECTED: `--format pprof ARGS` decodes (protoc,
# with pprof's own profile.proto) to the sums EXPECTED (pprof_sums).
pprof_check() {
    args=
    while [ "$1" != -- ]; do args="$args $1"; shift; done
    shift
    run "$PYMM" report sites.trc --format pprof -o p.pb $args
    [ "$rc" -eq 0 ] || { fail "pprof$args: status $rc: $(head -c 300 err)"; return; }
    [ -s out ] && fail "pprof -o p.pb$args wrote to stdout"
    magic=$(od -An -tx1 -N2 p.pb | tr -d ' ')
    if [ "${ZLIB:-0}" = 1 ]; then
        [ "$magic" = 1f8b ] || fail "pprof$args: not gzip-compressed (starts $magic)"
        gzip -dc p.pb >p.raw || fail "pprof$args: gzip -d failed"
    else
        cp p.pb p.raw
    fi
    protoc --decode perftools.profiles.Profile -I "$PROTO_DIR" profile.proto <p.raw >p.txt 2>err ||
        { fail "pprof$args: protoc cannot decode it: $(head -c 300 err)"; return; }
    got=$(pprof_sums p.txt keep load churn site_keep site_load)
    [ "$got" = "$1" ] || fail "pprof$args: decoded
$got
want
$1"
}

# google/pprof's profile, read with protoc and pprof's profile.proto
# (Debian: protobuf-compiler, golang-github-google-pprof-dev): the four
# sample types, each site's values and the totals; inuse_* at the peak,
# or at the exit with --measure exit. Without libdw the C functions are
# module+offset: their sums are then 0.
case_report_pprof() {
    PROTO_DIR=${PROTO_DIR:-/usr/share/gocode/src/github.com/google/pprof/proto}
    if ! command -v protoc >/dev/null || [ ! -f "$PROTO_DIR/profile.proto" ]; then
        echo "SKIP: needs protoc and pprof's profile.proto (apt install protobuf-compiler golang-github-google-pprof-dev)"
        exit 77
    fi
    sites || return
    types='alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes'
    allocs=$(summary_field allocations) bytes=$(summary_field allocated_bytes)
    k=0
    [ "${NAMES:-0}" = 1 ] && k=1
    at_peak="keep 3 90000 3 90000
load 10 1000000 10 1000000
churn 5 320 0 0
site_keep $((3 * k)) $((90000 * k)) $((3 * k)) $((90000 * k))
site_load $((10 * k)) $((1000000 * k)) $((10 * k)) $((1000000 * k))
TOTAL $allocs $bytes 13 $(summary_field peak_bytes)"
    pprof_check -- "$types default=inuse_space
$at_peak"
    grep -qF 'string_table: "sites.py"' p.txt || fail "pprof: the script's file is not in the strings"
    pprof_check --measure exit -- "$types default=inuse_space
keep 3 90000 3 90000
load 10 1000000 0 0
churn 5 320 0 0
site_keep $((3 * k)) $((90000 * k)) $((3 * k)) $((90000 * k))
site_load $((10 * k)) $((1000000 * k)) 0 0
TOTAL $allocs $bytes 3 $(summary_field live_bytes_at_end)"
    pprof_check --measure allocated -- "$types default=alloc_space
$at_peak"
    expect 2 "--measure temporary: pprof's sample types" \
        "$PYMM" report sites.trc --format pprof --measure temporary
}

# speedscope's JSON file format: pymm's own JSON reader parses it, and
# python3 checks its structure (shared frames, sampled profiles in bytes,
# a weight per sample, every index a frame) and each site's weights.
case_report_speedscope() {
    if ! command -v python3 >/dev/null; then
        echo "SKIP: needs python3 to check the structure"
        exit 77
    fi
    sites || return
    run "$PYMM" report sites.trc --format speedscope -o s.json
    [ "$rc" -eq 0 ] || { fail "speedscope: status $rc: $(head -c 300 err)"; return; }
    run "$PYMM" json --strict s.json
    [ "$rc" -eq 0 ] || fail "speedscope: pymm json cannot read it: $(head -c 300 err)"
    run "$PYMM" report sites.trc --format speedscope --measure allocated -o a.json
    cat >check.py <<'PY'
import json, sys
peak, at_exit, allocated, temporary, names = (int(a) for a in sys.argv[3:])
want = {"live at the peak": (peak, {"keep": 90000, "load": 1000000, "churn": 0}),
        "live at the exit": (at_exit, {"keep": 90000, "load": 0, "churn": 0}),
        "allocated in all": (allocated, {"keep": 90000, "load": 1000000, "churn": 320}),
        "temporary": (temporary, {"keep": 0, "load": 100000, "churn": 320})}
for path, active in ((sys.argv[1], "live at the peak"), (sys.argv[2], "allocated in all")):
    d = json.load(open(path))
    assert d["$schema"] == "https://www.speedscope.app/file-format-schema.json", d["$schema"]
    frames = d["shared"]["frames"]
    for f in frames:
        assert isinstance(f["name"], str) and set(f) <= {"name", "file", "line"}, f
        assert isinstance(f.get("file", ""), str) and isinstance(f.get("line", 1), int), f
    profiles = d["profiles"]
    assert [p["name"] for p in profiles] == list(want), [p["name"] for p in profiles]
    assert profiles[d["activeProfileIndex"]]["name"] == active, d["activeProfileIndex"]
    for p in profiles:
        total, sites = want[p["name"]]
        assert p["type"] == "sampled" and p["unit"] == "bytes" and p["startValue"] == 0, p["name"]
        assert len(p["samples"]) == len(p["weights"]), p["name"]
        assert all(w > 0 for w in p["weights"]), p["name"]
        assert sum(p["weights"]) == total == p["endValue"], (p["name"], sum(p["weights"]), total)
        for site, line in (("keep", 7), ("load", 3), ("churn", 9)):
            got = 0
            for stack, w in zip(p["samples"], p["weights"]):
                named = [frames[i] for i in stack]
                # outermost first: the script's main, then its function
                if named[1:2] == [{"name": site, "file": "sites.py", "line": line}]:
                    assert named[0]["name"] == "main" and named[0]["file"] == "sites.py", named
                    assert not names or named[-1]["name"] == "site_" + site, named
                    got += w
            assert got == sites[site], (p["name"], site, got, sites[site])
print("ok")
PY
    python3 check.py s.json a.json "$(summary_field peak_bytes)" "$(summary_field live_bytes_at_end)" \
        "$(summary_field allocated_bytes)" "$(summary_field temporary_bytes)" "${NAMES:-0}" >out 2>&1 ||
        fail "speedscope: $(cat out)"
}

# ---- the HTML page --------------------------------------------------------

# html_data PAGE: the JSON of the page's data element into data.json.
html_data() {
    awk '/^<script type="application\/json" id="pymm-data">$/ { on = 1; next }
         on && /^<\/script>$/ { exit } on' "$1" >data.json
}

# html_self_contained PAGE: one file that fetches nothing: outside its data
# (checked apart: no '<' in it), no src=, href=, url(, @import or <link,
# and the policy that forbids fetching is there.
html_self_contained() {
    awk '/id="pymm-data">$/ { skip = 1 } !skip { print } /^<\/script>$/ { skip = 0 }' "$1" >markup
    grep -Eio '(src|href) *=|url\(|@import|<link' markup && fail "$1 refers to another file"
    grep -qF "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';" markup ||
        fail "$1 has no policy against fetching"
    grep -q '<' data.json && fail "$1: a '<' in the data, which could end its script element"
    [ "$(grep -c '<script' markup)" -eq 1 ] || fail "$1: not one script element besides the data"
    [ "$(grep -c '^<script type="application/json" id="pymm-data">$' "$1")" -eq 1 ] ||
        fail "$1: not one data element"
}

# check_html.py DATA PEAK EXIT ALLOCATED TEMPORARY ALLOCATIONS LIVE_END SITES NAMES:
# the page's figures add up to the capture's (every measure: the kept
# stacks and "other"; the cells: allocations, frees, temporaries), and
# with SITES=1 each of report_sites' sites holds its known bytes.
write_check_html() {
    cat >check_html.py <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
peak, at_exit, allocated, temporary, allocations, live_end, sites, names = (int(a) for a in sys.argv[2:])
assert d["format"] == "pymm-html" and d["version"] == 1, d["format"]
totals = [peak, at_exit, allocated, temporary]
stacks, other, caps = d["stacks"], d["other"], d["caps"]
assert len(stacks) == caps["stacks_kept"] <= caps["max_stacks"], (len(stacks), caps)
for v in range(4):
    got = sum(s[1 + 2 * v] for s in stacks) + other[2 * v]
    assert got == totals[v], ("measure", v, got, totals[v])
assert sum(s[6] for s in stacks) + other[5] == allocations, "allocation counts"
cells = d["cells"]
assert all(0 <= c[0] < caps["buckets"] and 0 <= c[1] <= len(stacks) for c in cells), "a cell out of range"
assert sum(c[2] for c in cells) == allocated and sum(c[3] for c in cells) == allocations, "cells: allocations"
assert sum(c[2] - c[4] for c in cells) == live_end, "cells: live at the end"
assert sum(c[6] for c in cells) == temporary, "cells: temporaries"
nodes, frames = d["nodes"], d["frames"]
assert nodes[0] == [-1, -1] and all(p < i for i, (p, f) in enumerate(nodes) if i), "parents first"
def path(n):  # frames, innermost first
    out = []
    while n > 0:
        out.append(frames[nodes[n][1]])
        n = nodes[n][0]
    return out
if sites:
    want = {"keep": (7, [90000, 90000, 90000, 0]), "load": (3, [1000000, 0, 1000000, 100000]),
            "churn": (9, [0, 0, 320, 320])}
    for site, (line, figures) in want.items():
        got = [0, 0, 0, 0]
        for s in stacks:
            p = path(s[0])
            if [site, "sites.py", line, 1] in p:
                assert p[-1][:2] == ["main", "sites.py"], p
                assert not names or p[0][0] == "site_" + site, p
                got = [g + s[1 + 2 * v] for v, g in enumerate(got)]
        assert len(stacks) < 3 or got == figures, (site, got, figures)
print("ok")
PY
}

# check_html PAGE SITES [STACKS]: the data of PAGE against summary (and
# STACKS: how many stacks it must keep).
check_html() {
    html_data "$1"
    run "$PYMM" json --strict data.json
    [ "$rc" -eq 0 ] || fail "$1: pymm json cannot read its data: $(head -c 300 err)"
    python3 check_html.py data.json "$(summary_field peak_bytes)" "$(summary_field live_bytes_at_end)" \
        "$(summary_field allocated_bytes)" "$(summary_field temporary_bytes)" \
        "$(summary_field allocations)" "$(summary_field live_bytes_at_end)" "$2" "${NAMES:-0}" >out 2>&1 ||
        fail "$1: $(tail -3 out)"
    if [ -n "${3:-}" ]; then
        grep -qF "\"stacks_kept\": $3," data.json || fail "$1 does not keep $3 stacks: $(grep caps data.json)"
    fi
}

# `--format html`: one page, self-contained, whose data parses and adds up
# to the capture's figures, each site with its bytes; --max-stacks 1
# keeps one stack (keep's: all of the exit) and "other" the rest, totals
# unchanged; --buckets cuts the timeline's 100 s into that many buckets,
# each cell where its events are.
case_report_html() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the data"; exit 77; }
    sites || return
    write_check_html
    run "$PYMM" report sites.trc --format html -o s.html
    [ "$rc" -eq 0 ] && [ ! -s out ] || { fail "html: status $rc: $(head -c 300 err)"; return; }
    head -1 s.html | grep -qx '<!DOCTYPE html>' || fail "html: not an HTML document"
    html_data s.html
    html_self_contained s.html
    check_html s.html 1 3
    grep -qF '"max_stacks": 500, "stacks": 3, "stacks_kept": 3, "max_buckets": 100,' data.json ||
        fail "html: the default caps are not 500 stacks and 100 buckets: $(grep caps data.json)"
    run "$PYMM" report sites.trc --format html --max-stacks 1 -o one.html
    check_html one.html 1 1
    python3 -c '
import json, sys
d = json.load(open("data.json"))
assert d["stacks"][0][1:] == [90000, 3, 90000, 3, 90000, 3, 0, 0], d["stacks"]
assert d["other"] == [1000000, 10, 0, 0, 1000320, 15, 100320, 6], d["other"]' >out 2>&1 ||
        fail "--max-stacks 1: $(tail -1 out)"
    printf 'PYMMTRC\000\002\000\022\022\003\005\002\020\004\100\144\005\006\240\215\006\004\100\062\005\005\077' >tl
    run "$PYMM" report tl --format html --buckets 10 -o tl.html
    html_data tl.html
    grep -qF '"buckets": 10, "bucket_ms": 10001,' data.json || fail "--buckets 10: $(grep caps data.json)"
    tr -d '\n ' <data.json | grep -qF '"cells":[[0,0,100,1,0,0,0,0],[9,0,50,1,100,1,0,0]]' ||
        fail "--buckets 10: the cells are not where their events are: $(grep -A3 cells data.json)"
    run "$PYMM" report sites.trc --format html --measure allocated -o a.html
    grep -qF '"measure": "allocated"' a.html || fail "html --measure allocated: not the measure shown first"
    # --leaks: the page's data holds the verdicts as the file has them,
    # names that are markup included, and its figures still add up.
    leak_files || return
    run "$PYMM" report sites.trc --format html --leaks h.json -o lk.html
    [ "$rc" -eq 0 ] || fail "html --leaks: status $rc: $(head -c 300 err)"
    html_data lk.html
    html_self_contained lk.html
    grep -c '</script>' lk.html | grep -qx 2 || fail "html --leaks: a name ended a script element"
    python3 -c '
import json
d, want = json.load(open("data.json")), json.load(open("h.json"))["leaks"]
assert d["leaks"] == want and d["leaks_total"] == 4 and d["leaks_file"] == "h.json", d.get("leaks")' \
        >out 2>&1 || fail "html --leaks: $(tail -1 out)"
    check_html lk.html 1 3
    expect 2 "usage: pymm report" "$PYMM" report sites.trc --format html --max-stacks 0
    expect 2 "usage: pymm report" "$PYMM" report sites.trc --format html --buckets 100001
    expect 2 "--max-stacks and --buckets go with --format html" \
        "$PYMM" report sites.trc --format json --max-stacks 5
}

# Names that are markup (a script frame's function and file, a section,
# a mark) stay text: the data holds no '<', reads back as they were, and
# a name that is not UTF-8 becomes U+FFFD.
case_report_html_hostile() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the data"; exit 77; }
    PYMM_TRACE="$WORK/h.trc" "$SITES" hostile 2>err || { fail "traced hostile: $(cat err)"; return; }
    run "$PYMM" report h.trc --format html -o h.html
    [ "$rc" -eq 0 ] || { fail "html of hostile names: status $rc: $(head -c 300 err)"; return; }
    html_data h.html
    html_self_contained h.html
    grep -c '</script>' h.html | grep -qx 2 || fail "hostile: a name ended a script element"
    python3 -c '
import json
d = json.load(open("data.json"))
evil = "</script><script>document.body.setAttribute(\x27data-pwned\x27,\x271\x27)</script><!--"
label = "</SCRIPT><img src=x onerror=alert(1)>"
assert [evil, "<!--<script>/x.py\ufffd\ufffd", 1, 1] in d["frames"], d["frames"]
assert [m[0] for m in d["marks"]] == [label] and d["marks_total"] == 1, d["marks"]
assert [s[0] for s in d["spans"]] == [label] and d["sections"][0][0] == label, d["spans"]' >out 2>&1 ||
        fail "hostile: $(tail -2 out)"
}

# A capture of 100,000 distinct stacks with 200-byte names: the page stays
# under 10 MB with the default caps and with the largest ones (which it
# lowers, and says so), its totals still the capture's.
case_report_html_big() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the data"; exit 77; }
    PYMM_TRACE="$WORK/big.trc" PYMM_TRACE_FRAMES=1 "$SITES" many 100000 2>err ||
        { fail "traced many: $(cat err)"; return; }
    run "$PYMM" report big.trc --format json
    head -1 out >summary
    write_check_html
    for caps in "" "--max-stacks 100000 --buckets 100000"; do
        run "$PYMM" report big.trc --format html $caps -o big.html
        [ "$rc" -eq 0 ] || { fail "html $caps: status $rc: $(head -c 300 err)"; continue; }
        cp err said
        size=$(wc -c <big.html)
        [ "$size" -lt 10000000 ] || fail "html $caps: $size bytes, not under 10 MB"
        check_html big.html 0
    done
    grep -qF "to stay under 10 MB" said || fail "html with the largest caps did not say it lowered them"
    grep -qF '"reduced": true' data.json || fail "html with the largest caps: not marked reduced"
    grep -qF '"stacks": 100000,' data.json || fail "html: not 100,000 stacks: $(grep caps data.json)"
}

# Reading is bounded in memory (issues 14 and 16): the page of a capture
# of 200,000 distinct stacks (400,000 nodes) is written in 240 MB of
# address space. It took 345 MB when every node carried its figures and
# every tree stack two captures' (now 167 MB), so the bound catches that
# coming back.
case_report_bounded() {
    [ -n "$SANITIZED" ] && { echo "SKIP: ulimit -v under sanitizers"; exit 77; }
    PYMM_TRACE="$WORK/many.trc" "$SITES" many 200000 2>err || { fail "traced many: $(cat err)"; return; }
    (ulimit -v 240000 && exec "$PYMM" report many.trc --format html -o many.html) >out 2>err
    rc=$?
    [ "$rc" -eq 0 ] || { fail "html under ulimit -v 240000: status $rc: $(tail -c 300 err)"; return; }
    grep -qF '"stacks": 200000,' many.html || fail "html: not 200,000 stacks: $(grep -o '"caps": {[^}]*' many.html)"
}

# The issue's page size bound at scale: a capture of 10,000,000
# allocations from 1,000,000 distinct stacks (the trace bench's worker,
# `stacks 1000000 10`, which `pymm bench trace` loads in Chromium); its
# page is under 10 MB with the default caps and with the largest (which
# the report lowers, and says so), and its figures are the capture's.
# Label "slow": about 35 s on a quiet machine.
case_report_html_10m() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the data"; exit 77; }
    [ -n "${TRACE_WORKER:-}" ] || { echo "SKIP: the trace bench's worker is not built"; exit 77; }
    PYMM_TRACE="$WORK/big.trc" PYMM_TRACE_FRAMES=1 "$TRACE_WORKER" stacks 1000000 10 2>err ||
        { fail "traced stacks: $(cat err)"; return; }
    for caps in "" "--max-stacks 100000 --buckets 100000"; do
        run "$PYMM" report big.trc --format html $caps -o big.html
        [ "$rc" -eq 0 ] || { fail "html $caps: status $rc: $(head -c 300 err)"; continue; }
        size=$(wc -c <big.html)
        [ "$size" -lt 10000000 ] || fail "html $caps: $size bytes, not under 10 MB"
        [ -z "$caps" ] || grep -qF "to stay under 10 MB" err || fail "html $caps: did not say it lowered the caps"
        html_data big.html
        python3 -c '
import json
d = json.load(open("data.json"))
s, c = d["summary"], d["caps"]
assert s["allocations"] == 10000000 and s["frees"] == 10000000, s
assert c["stacks"] == 1000000, c
kept = sum(x[5] for x in d["stacks"]) + d["other"][4]
assert kept == s["allocated_bytes"] == 1000000 * (16 + 32 + 48 + 64 + 16 + 32 + 48 + 64 + 16 + 32), (kept, s)
assert sum(x[3] for x in d["cells"]) == 10000000, "cells: allocations"' >out 2>&1 ||
            fail "html $caps: $(tail -1 out)"
    done
}

# cdp_field NAME: the value cdp.py printed as NAME=VALUE (or "NAME VALUE")
# in the block of page number $2 (1, 2, ...) of cdp.out.
cdp_field() {
    awk -v name="$1" -v page="$2" '/^page / { n++ } n == page && index($0, name "=") == 1 {
        print substr($0, length(name) + 2); exit } n == page && $1 == name { print $2; exit }' cdp.out
}

# The page in a real browser (Debian's chromium, headless), driven by
# cdp.py over the DevTools protocol, one browser for every page: each
# report page loads with no console error and no network request (a page
# made to do both shows that they are caught); the script finishes, draws
# the flame graph's frames (the widest, main at the peak's line, and the
# expected interpreter frame) and the table's rows; hovering a frame shows its figures and a mouse click on it
# zooms (it then spans the graph's width and fewer frames are drawn); a
# screenshot goes to $SCREENSHOTS (its path printed); names that are
# markup stay text; a time range in the address (#range=MS-MS) re-sums
# the table; and the timeline marks the collector's pauses and draws the
# RSS. Skipped where no chromium or no python3 is installed.
case_report_html_browser() {
    CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome) || {
        echo "SKIP: needs chromium (apt install chromium)"
        exit 77
    }
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to drive chromium"; exit 77; }
    sites || return
    run "$PYMM" report sites.trc --format html -o s.html
    PYMM_TRACE="$WORK/h.trc" "$SITES" hostile 2>err || fail "traced hostile: $(cat err)"
    run "$PYMM" report h.trc --format html -o h.html
    PYMM_TRACE="$WORK/gc.trc" "$SITES" gc 2>err || fail "traced gc: $(cat err)"
    run "$PYMM" report gc.trc --format html -o gc.html
    printf 'PYMMTRC\000\002\000\022\022\003\005\002\020\004\100\144\005\006\240\215\006\004\100\062\005\005\077' >tl
    run "$PYMM" report tl --format html --buckets 10 -o tl.html
    leak_files || return
    run "$PYMM" report sites.trc --format html --leaks h.json -o lk.html
    # The control: a page that fetches an image and logs an error.
    printf '<!DOCTYPE html><body data-ready="1"><img src="x.png"><script>console.error("boom")</script>\n' >bad.html
    shot=
    if [ -n "${SCREENSHOTS:-}" ] && mkdir -p "$SCREENSHOTS"; then shot=$SCREENSHOTS/report_sites.png; fi
    fr="[].map.call(document.querySelectorAll('.fr'), function (e) { return e.textContent; })"
    load="[].find.call(document.querySelectorAll('.fr'), function (e) { return e.textContent === 'load  sites.py:3'; })"
    table="document.getElementById('sites').innerHTML"
    timeout 180 python3 "$HERE/cdp.py" "$CHROMIUM" \
        --page "file://$WORK/s.html" \
        --eval "frames=document.body.getAttribute('data-frames')" \
        --eval "in_dom=document.querySelectorAll('.fr[data-n]').length" \
        --eval "load_class=($load || {}).className" \
        --eval "top=[].slice.call(document.querySelectorAll('.fr.interp, .fr.native')).sort(function (a, b) { return b.offsetWidth - a.offsetWidth; })[0].textContent" \
        --eval "rows=document.body.getAttribute('data-rows')" \
        --eval "error=document.body.getAttribute('data-error')" \
        ${shot:+--screenshot "$shot"} \
        --click "load  sites.py:3" \
        --eval "tip=document.getElementById('tip').textContent" \
        --eval "zoomed=[$load.style.left, $load.style.width, document.querySelectorAll('.fr').length, document.getElementById('flame').clientWidth].join(' ')" \
        --page "file://$WORK/bad.html" \
        --page "file://$WORK/h.html" \
        --eval "pwned=document.body.hasAttribute('data-pwned')" \
        --eval "as_text=$fr.join('|').indexOf('</script><script>document.body') >= 0" \
        --page "file://$WORK/gc.html" \
        --eval "pauses=document.body.getAttribute('data-pauses')" \
        --eval "marks=document.querySelectorAll('#timeline .gc').length" \
        --eval "rss=document.body.getAttribute('data-rss')" \
        --page "file://$WORK/tl.html#view=allocated" --eval "table=$table" \
        --page "file://$WORK/tl.html#view=allocated&range=0-0" --eval "table=$table" \
        --page "file://$WORK/tl.html#view=allocated&range=90009-100000" --eval "table=$table" \
        --page "file://$WORK/lk.html" \
        --eval "leaks=document.body.getAttribute('data-leaks')" \
        --eval "steps=document.querySelectorAll('#leaks .path li').length" \
        --eval "frames=document.querySelectorAll('#leaks .stack li').length" \
        --eval "hood=[].map.call(document.querySelectorAll('#leaks .hood li'), function (e) { return e.textContent; }).join('|')" \
        --eval "kinds=[].map.call(document.querySelectorAll('#leaks .kind'), function (e) { return e.textContent; }).join(' ')" \
        --eval "evil=document.querySelectorAll('#leaks .type')[1].textContent" \
        --eval "pwned=document.body.hasAttribute('data-pwned') || document.querySelectorAll('#leaks b, #leaks script').length > 0" \
        --eval "visible=document.getElementById('leaks').offsetHeight > 0" \
        >cdp.out 2>cdp.err || { fail "cdp.py: status $?: $(tail -3 cdp.err)"; return; }
    for page in 1 3 4 5 6 7 8; do
        [ "$(cdp_field ready $page)" = 1 ] || fail "browser: page $page: the script did not finish: $(cat cdp.out)"
        [ "$(cdp_field console_errors $page)" = 0 ] ||
            fail "browser: page $page: console errors: $(grep console_error: cdp.out)"
        [ "$(cdp_field requests $page)" = 0 ] || fail "browser: page $page: requests: $(grep request: cdp.out)"
    done
    [ "$(cdp_field console_errors 2)" = 2 ] && [ "$(cdp_field requests 2)" = 1 ] ||
        fail "browser: the control page's error and request were not caught: $(cat cdp.out)"
    frames=$(cdp_field frames 1)
    [ "${frames:-0}" -ge 8 ] || fail "browser: ${frames:-no} frames drawn"
    [ "$(cdp_field in_dom 1)" = "$frames" ] || fail "browser: data-frames does not count the frames in the DOM"
    [ "$(cdp_field load_class 1)" = "fr interp" ] || fail "browser: no interpreter frame 'load  sites.py:3' drawn"
    # At the peak main is at line 2, in load, which holds 1,000,000 of its 1,090,000 B.
    [ "$(cdp_field top 1)" = "main  sites.py:2" ] || fail "browser: the widest frame is not main  sites.py:2: $(cdp_field top 1)"
    [ "$(cdp_field rows 1)" = 3 ] || fail "browser: not 3 sites in the table"
    [ "$(cdp_field error 1)" = None ] || fail "browser: a script error: $(cdp_field error 1)"
    if [ -n "$shot" ]; then
        [ -s "$shot" ] && grep -qx "screenshot $shot" cdp.out && echo "screenshot: $shot" ||
            fail "browser: no screenshot $shot"
    fi
    [ "$(cdp_field tip 1)" = "loadsites.py:3interpreter frame976.6 KiB in 10 blocks, 91.7% of live at the peak" ] ||
        fail "browser: the tooltip of load: $(cdp_field tip 1)"
    set -- $(cdp_field zoomed 1 | sed 's/px//g')
    [ "$#" -eq 4 ] && [ "$1" = 0 ] && [ "${2%.*}" -eq "$4" ] && [ "$3" -lt "$frames" ] ||
        fail "browser: a click on load did not zoom to it (left, width, frames, box: $*; $frames frames before)"
    [ "$(cdp_field pwned 3)" = False ] || fail "browser: a frame's name ran as script"
    [ "$(cdp_field as_text 3)" = True ] || fail "browser: the hostile name is not shown as text"
    [ "$(cdp_field pauses 4)" = 3 ] && [ "$(cdp_field marks 4)" = 3 ] ||
        fail "browser: not 3 collector pauses marked: $(cdp_field pauses 4), $(cdp_field marks 4)"
    [ "$(cdp_field rss 4)" -gt 0 ] 2>/dev/null || fail "browser: no RSS drawn"
    # The leak verdicts: each kind, every step of the paths (2 + 1 + 4 +
    # none), the stack's two frames; the markup in a type is its text.
    [ "$(cdp_field leaks 8)" = 4 ] && [ "$(cdp_field steps 8)" = 7 ] && [ "$(cdp_field frames 8)" = 2 ] ||
        fail "browser: the leak verdicts: $(grep -A9 lk.html cdp.out)"
    [ "$(cdp_field kinds 8)" = "growth unowned cycle block" ] || fail "browser: leak kinds $(cdp_field kinds 8)"
    # The growth's neighbourhood: three references, one a line, names as text.
    hood=$(cdp_field hood 8)
    [ "$(printf '%s' "$hood" | tr '|' '\n' | wc -l)" = 2 ] &&
        printf '%s' "$hood" | grep -qF "dict (1 items) [root 'server']  ['sessions']" &&
        printf '%s' "$hood" | grep -qF 'list (400 items)  [0] ' && printf '%s' "$hood" | grep -qF 'Session "<b>\' ||
        fail "browser: the neighbourhood: $hood"
    [ "$(cdp_field evil 8)" = "Evil\"</script><script>document.body.setAttribute('data-pwned','1')</script>\\&<b>" ] ||
        fail "browser: the hostile type is not its text: $(cdp_field evil 8)"
    [ "$(cdp_field pwned 8)" = False ] || fail "browser: a leak's type ran as markup"
    [ "$(cdp_field visible 8)" = True ] || fail "browser: the leak verdicts are not drawn"
    page=5
    for want in "150 B" "100 B" "50 B"; do
        cdp_field table $page | grep -q "<td>$want</td><td>[12]</td>" ||
            fail "browser: page $page: the table's allocated is not $want: $(cdp_field table $page)"
        page=$((page + 1))
    done
}

# ---- leak verdicts (--leaks) ---------------------------------------------

# leak_files: l.json, a real leak report (PYMM_LEAKS=FILE of `report_sites
# leaky`: one cycle of a dict and a list whose key is markup), and h.json,
# one verdict of each kind by hand: a stack, growth and a neighbourhood,
# names that are markup, quotes, backslashes and a newline, a shortened
# path, a block.
leak_files() {
    PYMM_LEAKS="$WORK/l.json" "$SITES" leaky 2>err || { fail "leaky: $(cat err)"; return 1; }
    grep -qF '"kind": "cycle", "type": "dict", "count": 3,' l.json ||
        { fail "leaky: not the one cycle: $(cat l.json)"; return 1; }
    cat >h.json <<'EOF2'
{"leaks": [
  {"kind": "growth", "type": "list", "count": 400, "bytes": 3264, "path": ["root 'server': dict (1 items)", "['sessions'] -> list (400 items)"], "stack": [{"function": "handle_request", "file": "/usr/bin/srv", "line": 0, "kind": "native"}, {"function": "main", "file": "srv.py", "line": 12, "kind": "interpreter"}], "growth": [100, 100, 100], "graph": {"nodes": ["list (400 items)", "Session \"<b>\\", "... 399 more", "dict (1 items) [root 'server']"], "refs": [[0, 1, "[0]"], [0, 2, ""]], "backrefs": [[3, 0, "['sessions']"]]}},
  {"kind": "unowned", "type": "Evil\"</script><script>document.body.setAttribute('data-pwned','1')</script>\\&<b>", "count": 1, "bytes": 64, "path": ["held from C: 1: Evil\"</script><script>document.body.setAttribute('data-pwned','1')</script>\\&<b> at 0x1"], "stack": []},
  {"kind": "cycle", "type": "dict", "count": 2, "bytes": 128, "path": ["cycle: dict (1 items)", "['k\"\\\n<&>'] -> list (1 items)", "... 7 steps left out ...", "[0] -> dict (1 items)"], "stack": []},
  {"kind": "block", "type": "block", "count": 1, "bytes": 4096, "path": [], "stack": []}
]}
EOF2
}

# `--leaks LEAKFILE`: the verdicts alone (text, json) and joined to a
# capture's report (a text section; a `leaks` member of the JSON equal to
# the file's verdicts); bad leak reports said as FILE:LINE: what, with
# status 1; formats that cannot show verdicts refused with status 2.
case_report_leaks() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the JSON"; exit 77; }
    leak_files || return
    run "$PYMM" report --leaks l.json
    [ "$rc" -eq 0 ] || fail "--leaks l.json: status $rc: $(head -c 300 err)"
    grep -qx "Leak verdicts (l.json): 1" out && grep -qx "  cycle: dict, 3 objects, 192 B" out &&
        grep -qx "      cycle: dict (1 items)" out && grep -qx "      \[0\] -> dict (1 items)" out ||
        fail "--leaks l.json: not the cycle with its path: $(cat out)"
    run "$PYMM" report --leaks h.json
    cp out h.txt
    for line in "Leak verdicts (h.json): 4" "  growth: list, 400 items, 3264 B" \
        "      ['sessions'] -> list (400 items)" "      grew by +100 +100 +100 at the last checkpoints" \
        "      allocated at:" "          handle_request  /usr/bin/srv:0" \
        "          main  srv.py:12 [interpreter]" "      ['k\"\\\\n<&>'] -> list (1 items)" \
        "      ... 7 steps left out ..." "  block: block, 1 blocks, 4096 B"; do
        grep -qxF -- "$line" h.txt || fail "--leaks h.json: no line '$line': $(cat h.txt)"
    done
    [ "$(wc -l <h.txt)" -eq 16 ] || fail "--leaks h.json: a name broke a line: $(cat h.txt)"
    sites || return
    run "$PYMM" report sites.trc --leaks l.json
    grep -q "^Live at the peak, by stack" out && grep -qx "Leak verdicts (l.json): 1" out ||
        fail "report with --leaks: not the report and its verdicts: $(head -c 300 out)"
    for f in l.json h.json; do
        run "$PYMM" report sites.trc --leaks $f --format json -o r.json
        [ "$rc" -eq 0 ] || { fail "json --leaks $f: status $rc: $(head -c 300 err)"; continue; }
        "$PYMM" json --strict r.json >/dev/null 2>err || fail "json --leaks $f: not JSON: $(cat err)"
        python3 -c '
import json, sys
r, want = json.load(open("r.json")), json.load(open(sys.argv[1]))["leaks"]
assert r["summary"]["peak_bytes"] == 1090000, r["summary"]
assert r["leaks"] == want, (r["leaks"], want)' $f >out 2>&1 || fail "json --leaks $f: $(tail -1 out)"
        run "$PYMM" report --leaks $f --format json
        python3 -c 'import json, sys; assert json.load(open("out")) == json.load(open(sys.argv[1])), "differs"' \
            $f 2>&1 || fail "--leaks $f --format json alone is not the file's verdicts"
    done
    run "$PYMM" report sites.trc --format json
    grep -qF '"leaks"' out && fail "json without --leaks has a leaks member"
    # Bad leak reports.
    printf '{"leaks": [\n  {"kind": "cycle", "type": "x", "count": 1, "bytes": 2, "path": [], "stack": []},\n  {"kind": "cycle", "type": "x", "count": -1, "bytes": 2, "path": [], "stack": []}\n]}\n' >b1.json
    expect 1 'pymm report: b1.json:3: leak 2: "count" is not a whole number from 0 up' \
        "$PYMM" report --leaks b1.json
    printf '{"leaks": [\n  {"kind": "cycle"}\n' >b2.json
    expect 1 "pymm report: b2.json:3:1: Expecting ',' delimiter" "$PYMM" report sites.trc --leaks b2.json
    printf '{"leaks":\n [{"kind": "cycle", "type": "x", "count": 1, "bytes": 2, "path": [],\n   "stack": []}, {"kind": "oops"}]}' >b3.json
    expect 1 'b3.json:3: leak 2: "kind" is not cycle, unowned, growth or block' "$PYMM" report --leaks b3.json
    printf '[1]' >b4.json
    expect 1 'b4.json:1: not a leak report: no "leaks" list' "$PYMM" report --leaks b4.json
    printf '{"leaks": [{"kind": "block", "type": "block", "count": 1, "bytes": 2, "path": [1], "stack": []}]}' >b5.json
    expect 1 'b5.json:1: leak 1: a step of "path" is not a string' "$PYMM" report --leaks b5.json
    printf '{"leaks": [{"kind": "block", "type": "block", "count": 1, "bytes": 2, "path": [], "stack": [{"function": "f", "file": "g", "line": 1}]}]}' >b6.json
    expect 1 'b6.json:1: leak 1: "kind" is not a string' "$PYMM" report --leaks b6.json
    # A neighbourhood's edges join its nodes.
    printf '{"leaks": [\n{"kind": "cycle", "type": "x", "count": 1, "bytes": 2, "path": [], "stack": [],\n "graph": {"nodes": ["x"], "refs": [[0, 1, "[0]"]], "backrefs": []}}]}' >b8.json
    expect 1 'b8.json:2: leak 1: an edge of "refs" is not [FROM, TO, LABEL] between its nodes' \
        "$PYMM" report --leaks b8.json --format dot
    printf '{"leaks": [{"kind": "cycle", "type": "x", "count": 1, "bytes": 2, "path": [], "stack": [], "graph": {"nodes": ["x", "y"], "refs": [], "backrefs": [[1, 0]]}}]}' >b9.json
    expect 1 'b9.json:1: leak 1: an edge of "backrefs" is not [FROM, TO, LABEL] between its nodes' \
        "$PYMM" report --leaks b9.json
    printf '{"leaks": [{"kind": "cycle", "type": "x", "count": 1, "bytes": 2, "path": [], "stack": [], "graph": [1]}]}' >b10.json
    expect 1 'b10.json:1: leak 1: "graph" is not an object' "$PYMM" report --leaks b10.json
    expect 1 "pymm report: missing.json: No such file or directory" "$PYMM" report --leaks missing.json
    echo kept >o.txt
    expect 1 "b1.json:3:" "$PYMM" report sites.trc --leaks b1.json -o o.txt
    [ "$(cat o.txt)" = kept ] || fail "a leak report that does not read emptied -o's file"
    expect 2 "--format collapsed does not show leak verdicts" \
        "$PYMM" report sites.trc --leaks l.json --format collapsed
    expect 2 "--format html needs a capture FILE" "$PYMM" report --leaks l.json --format html
    expect 2 "--format pprof does not show leak verdicts (--leaks goes with text, json, html, dot, svg)" \
        "$PYMM" report sites.trc --leaks l.json --format pprof
    expect 2 "usage: pymm report" "$PYMM" report --diff sites.trc sites.trc --leaks l.json
    run "$PYMM" report --help
    grep -qF -- "--leaks LEAKFILE" out || fail "pymm report --help does not mention --leaks"
}

# A traced run's leak report gives each native frame its module's file
# and offset there, and `pymm report --leaks` names the frames from them
# as a capture's are: the cycle of `report_sites leaky` was allocated in
# its static function leaky, at the line of its pm_dict_new, in a PIE and
# in a fixed executable, with the leak report alone or joined to the
# capture, as text, JSON and the page. A frame with an offset that cannot
# be named keeps the file's names; a bad offset is said.
case_report_leaks_stacks() {
    [ "${NAMES:-0}" = 1 ] || { echo "SKIP: pymm report names frames only with libdw"; exit 77; }
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the JSON"; exit 77; }
    line=$(grep -n 'pm_object \*d = pm_dict_new(), \*l = pm_list_new(0);' "$HERE/report_sites.c" | cut -d: -f1)
    want="          leaky  $HERE/report_sites.c:$line"
    for prog in "${SITES:-}" "${SITES_NOPIE:-}"; do
        [ -x "$prog" ] || { fail "no program '$prog' (SITES, SITES_NOPIE)"; continue; }
        rm -f lt.trc lt.json
        PYMM_TRACE="$WORK/lt.trc" PYMM_LEAKS="$WORK/lt.json" "$prog" leaky 2>err ||
            { fail "traced leaky $prog: $(cat err)"; continue; }
        grep -Fq "\"file\": \"$prog\", \"line\": 0, \"kind\": \"native\", \"offset\": " lt.json ||
            fail "$prog: no frame of the program by its path with its offset: $(cat lt.json)"
        run "$PYMM" report --leaks lt.json
        grep -qxF -- "$want" out || fail "--leaks of $prog: no '$want': $(cat out)"
        run "$PYMM" report lt.trc --leaks lt.json
        [ "$(grep -cxF -- "$want" out)" = 1 ] || fail "the capture of $prog with --leaks: no '$want': $(cat out)"
        run "$PYMM" report lt.trc --leaks lt.json --format json -o r.json
        python3 -c '
import json, sys
stack = json.load(open("r.json"))["leaks"][0]["stack"]
assert any(f["function"] == "leaky" and f["file"] == sys.argv[1] and f["line"] == int(sys.argv[2])
           for f in stack), stack' "$HERE/report_sites.c" "$line" >out 2>&1 ||
            fail "json --leaks of $prog: $(tail -1 out)"
        run "$PYMM" report lt.trc --leaks lt.json --format html -o lt.html
        grep -q '"function": *"leaky", *"file": *"[^"]*report_sites.c", *"line": *'"$line" lt.html ||
            fail "html --leaks of $prog: leaky is not named on the page"
    done
    # The stderr text: each frame's module and offset.
    PYMM_TRACE="$WORK/lt2.trc" PYMM_LEAKS=1 "$SITES" leaky 2>err
    grep -Eq "^    #[0-9]+ 0x[0-9a-f]+ \($SITES\+0x[0-9a-f]+\)\$" err ||
        fail "PYMM_LEAKS=1: no frame of the program with its offset: $(cat err)"
    # Frames that cannot be named keep what the file says; files without
    # offsets read as before (report_leaks); a bad offset is said.
    cat >o.json <<EOF2
{"leaks": [{"kind": "block", "type": "block", "count": 1, "bytes": 16, "path": [], "stack": [
  {"function": "0x1234", "file": "$WORK/no-such-module.so", "line": 0, "kind": "native", "offset": 4660},
  {"function": "0x99", "file": "$SITES", "line": 0, "kind": "native", "offset": 68719476736},
  {"function": "main", "file": "srv.py", "line": 3, "kind": "interpreter", "offset": 1},
  {"function": "handle", "file": "/usr/bin/srv", "line": 0, "kind": "native"}]}]}
EOF2
    run "$PYMM" report --leaks o.json
    for l in "          0x1234  $WORK/no-such-module.so:0" "          0x99  $SITES:0" \
        "          main  srv.py:3 [interpreter]" "          handle  /usr/bin/srv:0"; do
        grep -qxF -- "$l" out || fail "--leaks o.json: no line '$l': $(cat out)"
    done
    printf '{"leaks": [{"kind": "block", "type": "block", "count": 1, "bytes": 2, "path": [], "stack": [{"function": "f", "file": "g", "line": 0, "kind": "native", "offset": -4}]}]}' >b7.json
    expect 1 'b7.json:1: leak 1: "offset" is not a whole number from 0 up' "$PYMM" report --leaks b7.json
}

# check_dot.py DOT [SVG]: DOT is graphviz text that tokenizes whole (every
# quoted string closed, braces balanced), one cluster per verdict of
# h.json; with SVG (dot -Tsvg's drawing of it), the labels graphviz drew
# are the verdicts' texts as they were, markup and quotes included.
write_check_dot() {
    cat >check_dot.py <<'PY'
import json, re, sys
import xml.etree.ElementTree as ET
text = open(sys.argv[1]).read()
token = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z_0-9]*|[0-9.]+|->|[{}\[\];,=]|\s+')
pos, depth = 0, 0
while pos < len(text):
    m = token.match(text, pos)
    assert m, "not DOT at %d: %r" % (pos, text[pos:pos + 40])
    depth += {"{": 1, "}": -1}.get(m.group(), 0)
    assert depth >= 0, "a } too many"
    pos = m.end()
assert depth == 0 and text.startswith("digraph leaks {"), "braces"
leaks = json.load(open("h.json"))["leaks"]
assert text.count("subgraph cluster_") == len(leaks), "not a cluster per verdict"
if len(sys.argv) > 2:
    svg = ET.parse(sys.argv[2])
    drawn = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    evil = leaks[1]["type"]
    want = ["leak 1, growth: list, 400 items, 3264 B", "dict (1 items)", "root 'server'",
            "['sessions']", "list (400 items)", "400 items, 3264 B",
            "leak 2, unowned: " + evil + ", 1 objects, 64 B", evil + " at 0x1",
            "held from C: 1", "7 steps left out", "['k\"\\\\n<&>']", "[0]",
            "leak 4, block: block, 1 blocks, 4096 B", "1 blocks, 4096 B",
            "Session \"<b>\\", "... 399 more", "dict (1 items) [root 'server']"]
    for w in want:
        assert w in drawn, (w, drawn)
print("ok")
PY
}

# `--format dot` and `svg`: the leak verdicts' reference graphs (a
# cluster per verdict, the path's objects as nodes, references as
# labelled edges, the leaked object with its count and bytes). The DOT
# reads as DOT whatever the names; graphviz (when installed) draws it
# and its labels are the names as they were; without graphviz, svg says
# what to do instead.
case_report_leaks_dot() {
    command -v python3 >/dev/null || { echo "SKIP: needs python3 to check the DOT"; exit 77; }
    leak_files || return
    write_check_dot
    run "$PYMM" report --leaks h.json --format dot -o g.dot
    [ "$rc" -eq 0 ] && [ ! -s out ] || { fail "dot: status $rc: $(head -c 300 err)"; return; }
    python3 check_dot.py g.dot >out 2>&1 || fail "dot: $(tail -1 out)"
    grep -qF 'v0_0 -> v0_1 [label="['"'"'sessions'"'"']"];' g.dot || fail "dot: no labelled edge: $(cat g.dot)"
    grep -qF 'label="Evil\"</script>' g.dot || fail "dot: a quote in a type is not escaped: $(cat g.dot)"
    # The growth's neighbourhood: what it holds in blue, what holds it in
    # purple, around the path's last node (the leak root, v0_1).
    for edge in 'v0_1 -> n0_1 [label="[0]", color="#1f5fbf"' 'v0_1 -> n0_2 [label="", color="#1f5fbf"' \
        'n0_3 -> v0_1 [label="['"'"'sessions'"'"']", color="#8e3fa0"' 'n0_2 [label="... 399 more", style=dashed]' \
        'n0_1 [label="Session \"<b>\\"]'; do
        grep -qF "$edge" g.dot || fail "dot: no '$edge': $(cat g.dot)"
    done
    # A real report's cycle: the leak root's references drawn.
    run "$PYMM" report --leaks l.json --format dot -o l.dot
    grep -q '^    v0_[0-9]* -> n0_1 \[label=".*", color="#1f5fbf"' l.dot || fail "dot of l.json: no reference of the root: $(cat l.dot)"
    if command -v dot >/dev/null; then
        dot -Tsvg g.dot >g1.svg 2>err || fail "dot -Tsvg cannot read the DOT: $(cat err)"
        python3 check_dot.py g.dot g1.svg >out 2>&1 || fail "dot -Tsvg: $(tail -1 out)"
        run "$PYMM" report --leaks h.json --format svg -o g.svg
        [ "$rc" -eq 0 ] || fail "svg: status $rc: $(head -c 300 err)"
        python3 check_dot.py g.dot g.svg >out 2>&1 || fail "svg: $(tail -1 out)"
        run "$PYMM" report --leaks l.json --format svg
        [ "$rc" -eq 0 ] && grep -qF "<svg" out || fail "svg of l.json: status $rc: $(head -c 300 err)"
    else
        echo "note: graphviz's dot is not installed: svg checked for its message only"
    fi
    expect 1 "pymm report: svg needs graphviz's dot; use --format dot" \
        env PATH=/nonexistent "$PYMM" report --leaks h.json --format svg
    printf '{"leaks": []}\n' >none.json
    run "$PYMM" report --leaks none.json --format dot
    [ "$rc" -eq 0 ] && grep -qF 'label="no leak verdict"' out || fail "dot of no verdict: $(cat out err)"
    sites || return
    expect 2 "--format dot draws the verdicts of --leaks LEAKFILE: give one" \
        "$PYMM" report sites.trc --format dot
    expect 2 "--format svg draws the verdicts of --leaks alone: give no capture" \
        "$PYMM" report sites.trc --format svg --leaks h.json
    expect 2 "unknown format 'dot' for --diff" "$PYMM" report --diff sites.trc sites.trc --format dot
}

# -o OUT: the report goes to OUT, stdout stays empty; OUT that cannot be
# written is said as `pymm: OUT: reason` with status 1, and a capture that
# does not read leaves OUT as it was. Unknown formats and measures are
# refused with the valid ones.
case_report_output() {
    sites || return
    run "$PYMM" report sites.trc -o r.txt
    [ "$rc" -eq 0 ] && [ ! -s out ] || fail "-o r.txt: status $rc, stdout $(head -c 100 out)"
    grep -q "^Live at the peak, by stack" r.txt || fail "-o r.txt: no text report in it"
    run "$PYMM" report sites.trc --format json -o r.json
    grep -qF '"peak_bytes": 1090000,' r.json || fail "-o r.json: no JSON report in it"
    run "$PYMM" report --diff sites.trc sites.trc --format json -o d.json
    [ "$rc" -eq 0 ] && grep -qF '"peak": [],' d.json || fail "--diff -o d.json: $(head -c 300 d.json)"
    expect 1 "pymm: missing/r.txt: No such file or directory" "$PYMM" report sites.trc -o missing/r.txt
    mkdir dir
    expect 1 "pymm: dir: Is a directory" "$PYMM" report sites.trc --format collapsed -o dir
    if [ -w /dev/full ]; then
        expect 1 "pymm: /dev/full: No space left on device" \
            "$PYMM" report sites.trc --format pprof -o /dev/full
        expect 1 "pymm: /dev/full: No space left on device" \
            "$PYMM" report --diff sites.trc sites.trc -o /dev/full
        "$PYMM" report sites.trc --format speedscope >/dev/full 2>err
        [ $? -eq 1 ] && grep -qF "pymm: standard output: No space left on device" err ||
            fail "stdout on /dev/full: $(cat err)"
    fi
    printf 'hello' >notcapture
    echo kept >r.txt
    expect 1 "notcapture:0: not a pymm capture file" "$PYMM" report notcapture -o r.txt
    [ "$(cat r.txt)" = kept ] || fail "a capture that does not read emptied -o's file"
    valid="(valid: text, json, collapsed, pprof, speedscope, html, dot, svg)"
    expect 2 "pymm report: unknown format 'xml' $valid" "$PYMM" report sites.trc --format xml
    expect 2 "unknown format 'pprof' for --diff (valid: text, json)" \
        "$PYMM" report --diff sites.trc sites.trc --format pprof
    expect 2 "--measure most: not a measure (valid: peak, exit, allocated, temporary)" \
        "$PYMM" report sites.trc --format collapsed --measure most
    expect 2 "--measure exit: goes with --format collapsed, pprof, speedscope or html" \
        "$PYMM" report sites.trc --measure exit
    expect 2 "usage: pymm report" "$PYMM" report sites.trc -o
    run "$PYMM" report --help
    for word in collapsed pprof speedscope html --max-stacks --buckets --measure "-o OUT"; do
        grep -qF -- "$word" out || fail "pymm report --help does not mention $word"
    done
}

"case_$CASE" || exit 1
if [ "$failures" -ne 0 ]; then
    echo "$CASE: $failures failure(s)"
    exit 1
fi
echo "$CASE: ok"
