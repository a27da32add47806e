#!/bin/sh
# trace_json_check.sh PYMM -- CTest bench.trace_json: a one-round `pymm bench
# trace` of the mix alone (the quick size), without heaptrack (seconds), whose
# JSON must hold every mode's CPU time and peak RSS and the traced modes'
# reading figures. Exit 77 (skipped) without python3 (the JSON check).
set -u
pymm=$1
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$pymm" bench trace --quick --rounds 1 --cases mix --impls untraced,full-1,full-16,sampled \
    --json "$dir/trace.json" >"$dir/report.md" 2>"$dir/progress" ||
    { cat "$dir/progress" "$dir/report.md"; exit 1; }
python3 - "$dir/trace.json" "$dir/report.md" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["suite"] == "trace", doc.get("suite")
recs = doc["records"]
def find(impl, metric):
    hits = [r for r in recs if (r["case"], r["impl"], r["metric"]) == ("mix", impl, metric)]
    assert len(hits) == 1, (impl, metric, hits)
    r = hits[0]
    assert r["stat"] == "median" and r["rounds"] == 1 and len(r["samples"]) == 1, r
    assert r["value"] > 0 and r["min"] <= r["value"] <= r["max"], r
    return r
for impl in ("untraced", "full-1", "full-16", "sampled"):
    find(impl, "cpu_s")
    find(impl, "peak_rss_kb")
for impl in ("full-1", "full-16", "sampled"):
    for metric in ("recorded", "capture_per_alloc", "read_s", "read_events_per_s"):
        find(impl, metric)

full = find("full-16", "recorded")["value"]
sampled = find("sampled", "recorded")["value"]
assert sampled < full, (sampled, full)
assert not {r["case"] for r in recs} - {"mix"}, "--cases ignored"
assert not {r["impl"] for r in recs} - {"untraced", "full-1", "full-16", "sampled"}, "--impls"
report = open(sys.argv[2]).read()
assert "**1 rounds.**" in report and "### Targets" in report, "report incomplete"
print("bench.trace_json: ok")
PY
