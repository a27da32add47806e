#!/bin/sh
# inspect_json_check.sh PYMM -- CTest bench.inspect_json: a short `pymm bench
# inspect` run (the chain, pymm alone, two rounds) whose JSON has every
# metric of pymm with its median and samples, and whose report judges the
# retained-size target. Exit 77 (skipped) without python3 to read the JSON.
set -u
pymm=$1
command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$pymm" bench inspect --quick --cases chain --impls pymm --rounds 2 --json "$dir/in.json" \
    >"$dir/report.md" 2>"$dir/progress" || { cat "$dir/progress"; exit 1; }
python3 - "$dir/in.json" "$dir/report.md" <<'PY'
import json, sys
recs = json.load(open(sys.argv[1]))["records"]
def find(metric):
    hits = [r for r in recs if (r["case"], r["impl"], r["metric"]) == ("chain", "pymm", metric)]
    assert len(hits) == 1, (metric, hits)
    return hits[0]
for what in ("census", "path", "deep", "retained"):
    rate = find(what + "_objects_per_s")
    assert rate["stat"] == "median" and rate["rounds"] == 2, rate
    assert rate["value"] > 0, rate
assert find("deep_bytes")["stat"] == "value"
assert find("deep_bytes")["value"] == 200000 * 64 - 32, find("deep_bytes")  # 200,000 lists
assert not {r["case"] for r in recs} - {"chain"}, "--cases ignored"
report = open(sys.argv[2]).read()
assert "chain: retained sizes of 1,000,000 objects" in report, "no retained target"
print("bench.inspect_json: ok")
PY
