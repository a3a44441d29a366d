#!/usr/bin/env bash
# Load run of the resource-server against the real release binaries on
# loopback, bounded in time:
#
#   tests/load/resource_server.sh [SECONDS_PER_RUN]      (default 10)
#
# Starts its own auth-server and resource-server on random loopback ports
# (temporary SQLite databases and key folder), signs up one user, takes a
# token with the password grant, then runs wrk against GET /health and
# GET /profile/me with that token, prints requests per second of each and
# their ratio, and stops only the processes it started. Installs wrk from
# Debian's packages when missing. Tokens and passwords are not printed.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk" >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 ||
    { echo "wrk is missing and could not be installed" >&2; exit 1; }
fi

cargo build --release --quiet -p auth-server -p resource-server

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start NAME BINARY [ENV=VALUE…]: starts a service on a random loopback port
# and sets NAME_URL from its one "listening on" line.
start() {
  local name=$1 binary=$2; shift 2
  local out="$WORK/$name.out"
  env ROCKET_PORT=0 ROCKET_ADDRESS=127.0.0.1 RUST_LOG=warn "$@" "target/release/$binary" serve \
    >"$out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    if grep -q "listening on" "$out" 2>/dev/null; then
      printf -v "${name}_URL" '%s' "$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -1)"
      return 0
    fi
    sleep 0.05
  done
  echo "$name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1
}

# rps LABEL URL [wrk args…]: one bounded wrk run; prints and records rps.
declare -A RPS
rps() {
  local label=$1 url=$2; shift 2
  local output
  output=$(timeout $((SECONDS_PER_RUN + 30)) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url")
  RPS[$label]=$(awk '/^Requests\/sec:/ {print $2}' <<<"$output")
  printf '%-22s %10s req/s   p50 %-9s p99 %-9s %s\n' "$label" "${RPS[$label]}" \
    "$(awk '$1=="50%" {print $2}' <<<"$output")" "$(awk '$1=="99%" {print $2}' <<<"$output")" \
    "$(grep -E 'Non-2xx' <<<"$output" | tr '\n' ' ')"
}

PASSWORD="violet-harbor-quantum-91x"
# The auth-server's port is unknown until it starts, so its ISSUER is a fixed
# placeholder; the resource-server trusts that issuer and fetches the keys
# from the real address through JWKS_URL.
ISSUER="http://127.0.0.1:1"
start AUTH auth-server DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="$ISSUER"
start RESOURCE resource-server DATABASE_URL="sqlite://$WORK/resource.db" ISSUER="$ISSUER" \
  JWKS_URL="$AUTH_URL/.well-known/jwks.json"

curl -fsS -o /dev/null "$AUTH_URL/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$PASSWORD\",\"name\":\"Load\"}"
TOKEN=$(curl -fsS "$AUTH_URL/oauth/token" -d grant_type=password \
  --data-urlencode username=load@example.com --data-urlencode "password=$PASSWORD" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$RESOURCE_URL/ready" 2>/dev/null && break
  sleep 0.1
done
status=$(curl -s -o /dev/null -w '%{http_code}' "$RESOURCE_URL/profile/me" -H "authorization: Bearer $TOKEN")
[ "$status" = 200 ] || { echo "GET /profile/me answered $status before the run" >&2; exit 1; }

echo "# resource-server, ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $(nproc) cores"
rps health "$RESOURCE_URL/health"
rps profile_me "$RESOURCE_URL/profile/me" -H "Authorization: Bearer $TOKEN"
awk -v a="${RPS[profile_me]}" -v b="${RPS[health]}" \
  'BEGIN { if (b > 0) printf "profile_me / health      %9.2f\n", a / b }'
