# Shared by the load scripts (sourced, not run): wrk on demand, release
# binaries, services on random loopback ports, bounded wrk runs, and a
# cleanup that stops only the processes these scripts started.
# Expects SECONDS_PER_RUN and CONNECTIONS to be set by the caller.
# LOAD_BIN_DIR runs binaries built elsewhere (say, of an older commit) and
# skips the build; otherwise they are built in CARGO_TARGET_DIR (or target).

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk" >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 ||
    { echo "wrk is missing and could not be installed" >&2; exit 1; }
fi

if [ -n "${LOAD_BIN_DIR:-}" ]; then
  BIN_DIR=$LOAD_BIN_DIR
else
  cargo build --release --quiet -p auth-server -p resource-server
  BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
fi
# The raw gauges (auth-server/examples/gauge.rs) come from this tree, whatever
# binaries are measured: they measure the machine, not a version. Built on
# first use, unless LOAD_GAUGE names one.
GAUGE="${LOAD_GAUGE:-${CARGO_TARGET_DIR:-target}/release/examples/gauge}"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start NAME BINARY [ENV=VALUE…]: starts a service on a random loopback port
# and sets NAME_URL from its one "listening on" line and NAME_PID. BINARY is
# a name in BIN_DIR, or a path when it has a slash.
start() {
  local name=$1 binary=$2; shift 2
  local out="$WORK/$name.out"
  [[ $binary == */* ]] || binary="$BIN_DIR/$binary"
  env ROCKET_PORT=0 ROCKET_ADDRESS=127.0.0.1 RUST_LOG=warn "$@" "$binary" serve \
    >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  # Up to 20 s: a release binary on a busy machine may take a while to
  # open its database and keys.
  for _ in $(seq 1 400); do
    if grep -q "listening on" "$out" 2>/dev/null; then
      printf -v "${name}_URL" '%s' "$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)"
      return 0
    fi
    sleep 0.05
  done
  echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1
}

# free_port: a loopback port nothing listens on now, for a service whose
# own URL must be known before it starts (PUBLIC_URL).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rps LABEL URL [wrk args…]: one wrk run, bounded in time; prints the rate
# and latency and records the rate in RPS[LABEL], p99 in P99[LABEL] (ms).
# A run with any answer that is not 2xx records a rate of 0 and says so:
# refusals are fast, and a rate of them would pass for the path's.
declare -A RPS P99
rps() {
  local label=$1 url=$2; shift 2
  local output p99
  output=$(timeout $((SECONDS_PER_RUN + 30)) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url")
  RPS[$label]=$(awk '/^Requests\/sec:/ {print $2}' <<<"$output")
  if grep -q 'Non-2xx' <<<"$output"; then
    echo "$label: answers that are not 2xx; its rate counts as 0" >&2
    RPS[$label]=0
  fi
  p99=$(awk '$1=="99%" {print $2}' <<<"$output")
  P99[$label]=$(to_ms "$p99")
  printf '%-28s %10s req/s   p50 %-9s p99 %-9s %s\n' "$label" "${RPS[$label]}" \
    "$(awk '$1=="50%" {print $2}' <<<"$output")" "$p99" \
    "$(grep -E '^status|Non-2xx' <<<"$output" | tr '\n' ' ')"
}

# gauge LABEL KIND THREADS: one raw gauge run (as long as a wrk run),
# recorded in RPS[LABEL] with no latency.
gauge() {
  local label=$1 kind=$2 threads=$3
  if [ -z "${LOAD_GAUGE:-}" ] && [ -z "${GAUGE_BUILT:-}" ]; then
    cargo build --release --quiet -p auth-server --example gauge
    GAUGE_BUILT=1
  fi
  RPS[$label]=$(timeout $((SECONDS_PER_RUN + 60)) "$GAUGE" "$kind" "$threads" "$SECONDS_PER_RUN" | awk '{print $3}')
  P99[$label]=0
  printf '%-28s %10s per s   (%s on %s threads, no HTTP)\n' "$label" "${RPS[$label]}" "$kind" "$threads"
}

# to_ms 1.23ms|456.00us|1.2s: wrk's latency in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# median VALUE…: the middle value (the lower middle of an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# summary LABEL: the median rate and p99 of the runs LABEL#1…LABEL#ROUNDS,
# recorded as RPS[LABEL].
summary() {
  local label=$1 rates=() p99s=() round
  for round in $(seq 1 "$ROUNDS"); do
    rates+=("${RPS[$label#$round]}")
    p99s+=("${P99[$label#$round]}")
  done
  RPS[$label]=$(median "${rates[@]}")
  printf '%-28s %10s req/s   p99 %sms (medians of %s)\n' "$label" "${RPS[$label]}" \
    "$(median "${p99s[@]}")" "$ROUNDS"
}

# ratio LABEL BASE TARGET: RPS[LABEL] / RPS[BASE], and whether it reaches
# TARGET ("-": no target, shown for comparison).
ratio() {
  awk -v a="${RPS[$1]:-0}" -v b="${RPS[$2]:-0}" -v t="$3" -v l="$1 / $2" 'BEGIN {
    if (b <= 0) { printf "%-44s    n/a\n", l; exit }
    if (t == "-") printf "%-44s %6.2f   (for comparison)\n", l, a / b
    else printf "%-44s %6.2f   target >= %s: %s\n", l, a / b, t, (a / b >= t + 0 ? "met" : "NOT met") }'
}

# dpop_load ARGS…: auth-server/examples/dpop_load.rs (ES256 DPoP proofs and
# client assertions made ahead), built from this tree once.
DPOP_LOAD="${CARGO_TARGET_DIR:-target}/release/examples/dpop_load"
dpop_load() {
  if [ -z "${DPOP_LOAD_BUILT:-}" ]; then
    cargo build --release --quiet -p auth-server --example dpop_load
    DPOP_LOAD_BUILT=1
  fi
  "$DPOP_LOAD" "$@"
}
# How many one-use credentials a run is given per second it lasts: more
# than the fastest such path serves on this machine.
ONE_USE_PER_SECOND="${LOAD_ONE_USE_PER_SECOND:-25000}"
