#!/bin/sh
# threads_json_check.sh PYMM -- CTest bench.threads_json: a short
# `pymm bench threads` run (two cases, one round, --quick) whose JSON must
# hold pymm's and glibc's throughput and peak RSS for each case, and whose
# report must show the targets. Exit 77 (skipped) without python3.
set -u
pymm=$1
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$pymm" bench threads --quick --cases larson-2,xmalloc-2 --impls pymm,glibc --rounds 1 \
    --json "$dir/threads.json" >"$dir/report.md" 2>"$dir/progress" || { cat "$dir/progress"; exit 1; }
python3 - "$dir/threads.json" "$dir/report.md" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
for case in ("larson-2", "xmalloc-2"):
    for impl in ("pymm", "glibc"):
        hits = [r for r in recs if (r["case"], r["impl"]) == (case, impl)]
        metrics = {r["metric"]: r["value"] for r in hits}
        assert metrics.get("ops_per_s", 0) > 0, (case, impl, hits)
        assert metrics.get("peak_rss_kb", 0) > 0, (case, impl, hits)
assert {r["case"] for r in recs} == {"larson-2", "xmalloc-2"}, "--cases ignored"
assert {r["impl"] for r in recs} == {"pymm", "glibc"}, "--impls ignored"
report = open(sys.argv[2]).read()
assert "throughput, pymm / glibc" in report and "**1 rounds.**" in report, report
print("bench.threads_json: ok")
PY
