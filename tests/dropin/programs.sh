#!/bin/sh
# programs.sh PYMM THREADED -- real programs under `PYMM run --stats`,
# which gives them the drop-in (libpymm-malloc.so in LD_PRELOAD): the same
# standard output and exit status as without it, and pymm's statistics at
# their exit showing that its heap served them: CPython (the binary itself,
# sys.executable, not a shim), cmake, sqlite3, git, lua5.4, perl and
# THREADED, a threaded C program of ours (threaded.c). A program that is
# not installed is left out with a note ("lua: lua5.4 is not installed,
# left out"; CI installs them all); when none is, the test is skipped (77).
set -u
pymm=$1
threaded=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ran=0 failed=0

# check NAME CMD...: run CMD both ways, each in a new folder under $work
# (the files it makes must not meet the other run's), and compare.
check() {
    name=$1
    shift
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "$name: $1 is not installed, left out"
        return
    fi
    ran=$((ran + 1))
    rm -rf "$work/run" && mkdir "$work/run"
    (cd "$work/run" && "$@") >"$work/plain.out" 2>"$work/plain.err"
    plain=$?
    rm -rf "$work/run" && mkdir "$work/run"
    (cd "$work/run" && "$pymm" run --stats -- "$@") >"$work/pymm.out" 2>"$work/pymm.err"
    status=$?
    if [ "$status" != "$plain" ]; then
        echo "$name: exit status $status under the drop-in, $plain without"
        failed=$((failed + 1))
    elif ! cmp -s "$work/plain.out" "$work/pymm.out"; then
        echo "$name: output differs under the drop-in:"
        diff "$work/plain.out" "$work/pymm.out" | head -20
        failed=$((failed + 1))
    elif ! grep -Eq '^# arenas allocated total += +[1-9]' "$work/pymm.err"; then
        echo "$name: no pymm statistics showing an arena at exit:"
        head -20 "$work/pymm.err"
        failed=$((failed + 1))
    else
        echo "$name: same output, served by pymm"
    fi
    rm -f "$work/plain.out" "$work/pymm.out" "$work/plain.err" "$work/pymm.err"
}

cat >"$work/script.py" <<'PY'
import json, sys, threading, collections
def work(n, out):
    d = {str(i): [i] * (i % 7) for i in range(n)}
    out.append(sum(len(v) for v in d.values()))
out = []
threads = [threading.Thread(target=work, args=(20000 + k, out)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(out), json.dumps(collections.Counter("drop-in malloc")), sys.version_info[0])
PY
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || python=python3
check python "$python" "$work/script.py"
check cmake cmake --version
cat >"$work/work.sql" <<'SQL'
create table t(k integer primary key, v text);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000)
insert into t select x, printf('row %d', x) from c;
select count(*), sum(length(v)), max(v) from t where k % 3 = 0;
SQL
check sqlite3 sh -c 'sqlite3 :memory: < ../work.sql'
check git sh -c 'git init -q repo && cd repo && echo hello > a && git add a &&
    git -c user.name=t -c user.email=t@t commit -q -m first && git log --format=%s'
cat >"$work/script.lua" <<'LUA'
local t, words = {}, {}
for i = 1, 20000 do t[i] = string.rep("x", i % 13) .. i end
for w in ("the drop-in serves lua as it serves any program"):gmatch("%a+") do
  words[#words + 1] = w:upper()
end
table.sort(words)
local n = 0
for _, v in ipairs(t) do n = n + #v end
print(#t, n, table.concat(words, ","), string.format("%.3f", math.pi))
LUA
check lua lua5.4 "$work/script.lua"
check threaded "$threaded"
check perl perl -e 'my %h; $h{$_} = [1 .. ($_ % 9)] for 1 .. 20000; print scalar(keys %h), "\n"'

if [ "$ran" = 0 ]; then
    echo "no program to run"
    exit 77
fi
[ "$failed" = 0 ]
