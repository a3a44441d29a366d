#!/usr/bin/env bash
# Load runs against the real release binaries on loopback, bounded in time.
#
#   tests/load/run.sh [SECONDS_PER_RUN]      (default 10)
#
# Starts its own auth-server (and resource-server) on random loopback ports
# with a temporary SQLite database and key folder, runs wrk against each
# scenario, prints requests per second, and stops only the processes it
# started. Installs wrk from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
HERE="tests/load"

# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"

PASSWORD="violet-harbor-quantum-91x"

# --- auth-server ---------------------------------------------------------
start AUTH auth-server DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" \
  ISSUER="http://127.0.0.1:1" CORS_ALLOWED_ORIGINS="http://127.0.0.1:8001"
curl -fsS -o /dev/null "$AUTH_URL/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$PASSWORD\",\"name\":\"Load\"}"

echo "# ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $(nproc) cores"
rps jwks "$AUTH_URL/.well-known/jwks.json"
LOAD_BODY="grant_type=password&username=load%40example.com&password=$PASSWORD" \
  rps password_grant "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"


# --- client credentials grant (services) ---------------------------------
# A confidential client registered on the command line, authenticating with
# HTTP Basic: no argon2 on this path, so the RSA signature is the cost.
CLIENT_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-service --grant client_credentials \
  --scope profiles:read --json)
CLIENT_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
CLIENT_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
LOAD_BODY="grant_type=client_credentials" \
LOAD_AUTHORIZATION="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)" \
  rps client_credentials "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"

# The ceiling: one RSA-2048 signature per token. Target: >= 80 % of it.
if command -v openssl >/dev/null 2>&1; then
  SIGN=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
  if [ -n "$SIGN" ]; then
    printf '%-28s %10s sign/s   client_credentials at %s %% of it\n' "openssl rsa2048 (1 core)" "$SIGN" \
      "$(awk -v a="${RPS[client_credentials]}" -v b="$SIGN" 'BEGIN {printf "%.0f", 100 * a / b}')"
  fi
fi

# --- resource-server: GET /profile/me with a valid token vs /health ------
bash "$HERE/resource_server.sh" "$SECONDS_PER_RUN"
