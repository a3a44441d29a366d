#!/usr/bin/env bash
# Two builds under the same load, in one run, so that a change is judged
# against its own baseline on the same machine at the same time:
#
#   tests/load/compare.sh BEFORE_BIN_DIR AFTER_BIN_DIR [SECONDS_PER_RUN] [ROUNDS]
#
# Each BIN_DIR holds release `auth-server` and `resource-server` binaries
# (say, target/release of two worktrees). Runs tests/load/run.sh (which runs
# resource_server.sh too) alternately on each, ROUNDS times (default 3),
# then prints per scenario the median requests per second and p99 of each
# build and their ratio. Every run starts and stops its own processes.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
  echo "usage: $0 BEFORE_BIN_DIR AFTER_BIN_DIR [SECONDS_PER_RUN] [ROUNDS]" >&2
  exit 2
fi
BEFORE=$1 AFTER=$2 SECONDS_PER_RUN=${3:-5} ROUNDS=${4:-3}
for dir in "$BEFORE" "$AFTER"; do
  for binary in auth-server resource-server; do
    [ -x "$dir/$binary" ] || { echo "$dir/$binary is missing" >&2; exit 2; }
  done
done

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for round in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    if [ "$side" = before ]; then dir=$BEFORE; else dir=$AFTER; fi
    echo "# round $round of $ROUNDS: $side ($dir)" >&2
    LOAD_BIN_DIR=$dir LOAD_ROUNDS=1 bash tests/load/run.sh "$SECONDS_PER_RUN" \
      >"$OUT/$side.$round" 2>&1 || { cat "$OUT/$side.$round" >&2; exit 1; }
  done
done

# One line per wrk run: "label[#n]  RATE req/s   p50 X   p99 Y ...".
collect() {
  cat "$OUT/$1".* | awk '/ req\/s   p50 / {
    label = $1; sub(/#[0-9]+$/, "", label)
    p99 = $7; ms = p99 + 0
    if (p99 ~ /us$/) ms /= 1000; else if (p99 ~ /ms$/) ms += 0; else if (p99 ~ /s$/) ms *= 1000
    printf "%s %s %.3f\n", label, $2, ms }'
}
collect before >"$OUT/before.all"
collect after >"$OUT/after.all"

echo "# $SECONDS_PER_RUN s per run, $ROUNDS rounds each, alternating; medians; $(nproc) cores"
echo "#   before: $BEFORE"
echo "#   after:  $AFTER"
printf '%-28s %12s %12s %7s %11s %11s\n' scenario "before r/s" "after r/s" ratio "before p99" "after p99"
awk '
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return v[int((n + 1) / 2)]
  }
  FNR == 1 { side++ }
  { key = side SUBSEP $1; rate[key] = rate[key] " " $2; p99[key] = p99[key] " " $3
    if (side == 1 && !($1 in seen)) { seen[$1] = 1; order[++count] = $1 } }
  END {
    for (i = 1; i <= count; i++) {
      s = order[i]; b = median(rate[1 SUBSEP s]); a = median(rate[2 SUBSEP s])
      printf "%-28s %12.0f %12.0f %7.2f %9.2fms %9.2fms\n", s, b, a, (b > 0 ? a / b : 0),
        median(p99[1 SUBSEP s]), median(p99[2 SUBSEP s])
    }
  }' "$OUT/before.all" "$OUT/after.all"
grep -h 'sign/s' "$OUT"/before.* "$OUT"/after.* | head -2 || true
