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

# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"

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
