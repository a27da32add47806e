#!/bin/sh
# gc_json_check.sh PYMM -- CTest bench.gc_json: a short `pymm bench gc` run
# (two cases, two rounds) whose JSON must give every timed record its
# median, min, max and samples by round. Exit 77 (skipped) without python3.
set -u
pymm=$1
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$pymm" bench gc --quick --cases header-bytes,pairs --rounds 2 --json "$dir/gc.json" \
    >"$dir/report.md" 2>"$dir/progress" || { cat "$dir/progress"; exit 1; }
python3 - "$dir/gc.json" "$dir/report.md" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
def find(case, impl, metric):
    hits = [r for r in recs if (r["case"], r["impl"], r["metric"]) == (case, impl, metric)]
    assert len(hits) == 1, (case, impl, metric, hits)
    return hits[0]
rate = find("pairs", "pymm", "objects_per_s")
assert rate["stat"] == "median", rate
assert rate["rounds"] == 2 and len(rate["samples"]) == 2, rate
lo, hi = sorted(rate["samples"])
assert rate["min"] == lo and rate["max"] == hi, rate
assert abs(rate["value"] - (lo + hi) / 2) <= 1e-6 * rate["value"], rate
assert find("pairs", "pymm", "tracked")["stat"] == "value"
assert find("header-bytes", "pymm", "bytes")["stat"] == "value"
assert not {r["case"] for r in recs} - {"pairs", "header-bytes", "node-bytes"}, "--cases ignored"
report = open(sys.argv[2]).read()
assert "**2 rounds.**" in report, "the header does not say the rounds"
print("bench.gc_json: ok")
PY
