#!/usr/bin/env bash
# Where each hot path's CPU goes: runs one path under wrk while `perf record`
# samples the serving process, then prints the top frames by self time.
#
#   tests/load/profile.sh [SECONDS]          (default 10)
#
# Paths: password logins, client_credentials (with a secret and with
# private_key_jwt), token exchange and JWKS at the auth-server,
# /profile/me (one token) and /health at the resource-server. Release
# binaries (LOAD_BIN_DIR, or built as run.sh builds them), a temporary
# SQLite database, loopback only; stops only what it started. Needs `perf`
# (Debian's linux-perf); where hardware counters are missing it samples the
# cpu-clock. PROFILE_PATHS="client_credentials token_exchange" profiles
# only the paths named (labels as printed).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
HERE="tests/load"
TOP="${PROFILE_TOP:-25}"
# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"
command -v perf >/dev/null 2>&1 || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }

PASSWORD="violet-harbor-quantum-91x"
start AUTH auth-server DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1"
curl -fsS -o /dev/null "$AUTH_URL/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$PASSWORD\",\"name\":\"Load\"}"
CLIENT_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-service --grant client_credentials \
  --scope profiles:read --json)
CLIENT_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
CLIENT_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
# A private_key_jwt client (ES256 assertions made ahead, one use each) and
# a token-exchange client with one user's token as the subject.
KEY_DIR="$WORK/client-key"
mkdir -p "$KEY_DIR"
dpop_load keygen "$KEY_DIR"
KEY_CLIENT_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-key-service --grant client_credentials \
  --scope profiles:read --auth-method private_key_jwt --jwks-file "$KEY_DIR/jwks.json" --json)
KEY_CLIENT_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$KEY_CLIENT_JSON")
KEY_BODY="grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="
EXCHANGE_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-orders --grant token-exchange \
  --scope profile:read --audience billing --json)
EXCHANGE_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$EXCHANGE_JSON")
EXCHANGE_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$EXCHANGE_JSON")
EXCHANGE_BASIC="Basic $(printf '%s:%s' "$EXCHANGE_ID" "$EXCHANGE_SECRET" | base64 -w0)"
start RESOURCE resource-server DATABASE_URL="sqlite://$WORK/resource.db" ISSUER="http://127.0.0.1:1" \
  JWKS_URL="$AUTH_URL/.well-known/jwks.json"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$RESOURCE_URL/ready" 2>/dev/null && break
  sleep 0.1
done
USER_TOKEN=$(curl -fsS "$AUTH_URL/oauth/token" -d grant_type=password -d username=load@example.com \
  -d "password=$PASSWORD" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')

# profile LABEL PID URL [wrk args…]: wrk on URL while perf samples PID.
profile() {
  local label=$1 pid=$2 url=$3
  shift 3
  if [ -n "${PROFILE_PATHS:-}" ] && [[ " $PROFILE_PATHS " != *" $label "* ]]; then
    return 0
  fi
  local data="$WORK/$label.perf"
  perf record -q -F 999 -g -o "$data" -p "$pid" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
  local perf_pid=$!
  rps "$label" "$url" "$@"
  wait "$perf_pid" || true
  echo "## $label: top $TOP frames by self time"
  perf report -i "$data" --no-children --sort symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | awk -v n="$TOP" 'NR <= n' | cut -c1-110
  echo
}

echo "# ${SECONDS_PER_RUN}s per path, $CONNECTIONS connections, $(nproc) cores"
LOAD_BODY="grant_type=password&username=load%40example.com&password=$PASSWORD" \
  profile password_grant "$AUTH_PID" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
LOAD_BODY="grant_type=client_credentials" LOAD_AUTHORIZATION="$BASIC" \
  profile client_credentials "$AUTH_PID" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
dpop_load assertions "$KEY_DIR" "$KEY_CLIENT_ID" "http://127.0.0.1:1" \
  $((SECONDS_PER_RUN * ONE_USE_PER_SECOND)) >"$WORK/assertions.txt"
LOAD_LINES="$WORK/assertions.txt" LOAD_LINE_AS=body LOAD_BODY="$KEY_BODY" \
  profile client_credentials_pkjwt "$AUTH_PID" "$AUTH_URL/oauth/token" -s "$HERE/one_use.lua"
EXCHANGE_BODY="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$USER_TOKEN"
EXCHANGE_BODY+="&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=billing"
LOAD_BODY="$EXCHANGE_BODY" LOAD_AUTHORIZATION="$EXCHANGE_BASIC" \
  profile token_exchange "$AUTH_PID" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
profile jwks "$AUTH_PID" "$AUTH_URL/.well-known/jwks.json"
profile profile_me "$RESOURCE_PID" "$RESOURCE_URL/profile/me" -H "Authorization: Bearer $USER_TOKEN"
profile resource_health "$RESOURCE_PID" "$RESOURCE_URL/health"
