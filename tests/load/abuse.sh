#!/usr/bin/env bash
# Memory and load shedding under a flood of failed logins, against the real
# release binaries on loopback, bounded in count and time:
#
#   tests/load/abuse.sh [REQUESTS] [CONNECTIONS]      (default 10000 64)
#
# Starts its own auth-server and resource-server on random loopback ports
# (temporary SQLite databases and key folder), reads each one's idle
# resident memory, then sends REQUESTS failed logins (POST /login, each for
# a different unknown email, so each costs an argon2id check) over
# CONNECTIONS connections with wrk, sampling the auth-server's VmRSS from
# /proc/<pid>/status meanwhile. Prints idle, peak (VmHWM) and final RSS,
# p50/p99 latency and the count of each status, 503s among them. Stops only
# the processes it started. Installs wrk from Debian's packages if missing.
# ABUSE_BIN_DIR runs the binaries of another folder than the release one
# (then nothing is built); AUTH_SERVER_BIN another auth-server build (for
# comparisons).
#
# Targets: at most 40 MiB + 20 MiB × PASSWORD_HASH_CONCURRENCY resident at
# peak and at the end (API.md; the exit status is non-zero when missed); at
# most 20 MiB idle for each service (shown, with the anonymous part: most of
# an idle process is its code pages). Without PASSWORD_HASH_CONCURRENCY set,
# it runs twice, with 1 and 2 hashing slots.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PASSWORD_HASH_CONCURRENCY:-}" ]; then
  status=0
  for slots in 1 2; do
    PASSWORD_HASH_CONCURRENCY=$slots bash "$0" "$@" || status=1
  done
  exit "$status"
fi
SLOTS=$PASSWORD_HASH_CONCURRENCY
LIMIT_MIB=$((40 + 20 * SLOTS))

REQUESTS="${1:-10000}"
CONNECTIONS="${2:-64}"
THREADS=2
TIME_LIMIT=600
HERE="tests/load"

# The binaries: ABUSE_BIN_DIR as common.sh's LOAD_BIN_DIR (nothing built).
if [ -n "${ABUSE_BIN_DIR:-}" ]; then LOAD_BIN_DIR=$ABUSE_BIN_DIR; fi
# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"
AUTH_SERVER_BIN="${AUTH_SERVER_BIN:-$BIN_DIR/auth-server}"

# kib PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Loopback is the proxy here: the varied client addresses in abuse.lua's
# headers stand for a crowd of attackers, so the per-address throttle does
# not turn the run into cheap 429s.
start AUTH "$AUTH_SERVER_BIN" PASSWORD_HASH_CONCURRENCY="$SLOTS" DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" \
  ISSUER="http://127.0.0.1:1" TRUSTED_PROXIES="127.0.0.1/32"
start RESOURCE resource-server DATABASE_URL="sqlite://$WORK/resource.db" \
  ISSUER="http://127.0.0.1:1" JWKS_URL="$AUTH_URL/.well-known/jwks.json"
curl -fsS -o /dev/null "$AUTH_URL/health"
sleep 2
AUTH_IDLE=$(kib "$AUTH_PID" VmRSS)
AUTH_IDLE_ANON=$(kib "$AUTH_PID" RssAnon)
RESOURCE_IDLE=$(kib "$RESOURCE_PID" VmRSS)

# Sample VmRSS every 100 ms while the flood runs (VmHWM is the kernel's own
# peak; the samples show the shape).
(
  peak=0
  while kill -0 "$AUTH_PID" 2>/dev/null && [ ! -e "$WORK/stop-sampling" ]; do
    rss=$(kib "$AUTH_PID" VmRSS || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    echo "$peak" >"$WORK/sampled-peak"
    sleep 0.1
  done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")

STARTED=$(date +%s.%N)
mkdir "$WORK/done"
ABUSE_REQUESTS="$REQUESTS" ABUSE_THREADS="$THREADS" ABUSE_DONE_DIR="$WORK/done" timeout $((TIME_LIMIT + 30)) \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${TIME_LIMIT}s" --timeout 30s -s "$HERE/abuse.lua" "$AUTH_URL" \
  >"$WORK/wrk.out" &
WRK=$!
PIDS+=("$WRK")
while kill -0 "$WRK" 2>/dev/null && [ "$(ls "$WORK/done" | wc -l)" -lt "$THREADS" ]; do sleep 0.2; done
kill -INT "$WRK" 2>/dev/null || true
wait "$WRK" 2>/dev/null || true
OUTPUT=$(cat "$WORK/wrk.out")
ELAPSED=$(awk -v s="$STARTED" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
sleep 2
touch "$WORK/stop-sampling"
wait "$SAMPLER" 2>/dev/null || true

AUTH_HWM=$(kib "$AUTH_PID" VmHWM)
AUTH_FINAL=$(kib "$AUTH_PID" VmRSS)
SAMPLED=$(cat "$WORK/sampled-peak" 2>/dev/null || echo 0)
count() { awk -v s="$1" '$1 == "status" && $2 == s":" {print $3}' <<<"$OUTPUT"; }

# within KIB LIMIT_MIB: "met" or "NOT met".
within() {
  if [ "$1" -le $(($2 * 1024)) ]; then echo met; else echo "NOT met"; fi
}
echo "# $(awk '/^requests:/ {print $2}' <<<"$OUTPUT") failed logins over $CONNECTIONS connections in ${ELAPSED}s, $(nproc) cores, PASSWORD_HASH_CONCURRENCY=$SLOTS"
echo "auth-server idle RSS:        $(mib "$AUTH_IDLE") MiB   (target <= 20: $(within "$AUTH_IDLE" 20); anonymous $(mib "$AUTH_IDLE_ANON") MiB)"
echo "resource-server idle RSS:    $(mib "$RESOURCE_IDLE") MiB   (target <= 20: $(within "$RESOURCE_IDLE" 20))"
echo "auth-server peak RSS (HWM):  $(mib "$AUTH_HWM") MiB   (target <= $LIMIT_MIB: $(within "$AUTH_HWM" "$LIMIT_MIB"); sampled peak $(mib "$SAMPLED") MiB)"
echo "auth-server final RSS:       $(mib "$AUTH_FINAL") MiB   (target <= $LIMIT_MIB: $(within "$AUTH_FINAL" "$LIMIT_MIB"))"
echo "latency p50 $(awk '/^p50_ms:/ {print $2}' <<<"$OUTPUT") ms, p99 $(awk '/^p99_ms:/ {print $2}' <<<"$OUTPUT") ms, max $(awk '/^max_ms:/ {print $2}' <<<"$OUTPUT") ms"
echo "status 400: $(count 400 || true)  429: $(count 429 || true)  503: $(count 503 || true)  other: $(grep '^status' <<<"$OUTPUT" | grep -vE 'status (400|429|503):' | tr '\n' ' ')"
# A missed bound of the contract fails the run.
[ "$AUTH_HWM" -le $((LIMIT_MIB * 1024)) ] && [ "$AUTH_FINAL" -le $((LIMIT_MIB * 1024)) ]
