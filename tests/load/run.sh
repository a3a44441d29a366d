#!/usr/bin/env bash
# Load runs against the real release binaries on loopback, bounded in time.
#
#   tests/load/run.sh [SECONDS_PER_RUN]      (default 10)
#
# Starts its own auth-server (and resource-server) on random loopback ports
# with a temporary SQLite database and key folder, runs wrk against each
# scenario in LOAD_ROUNDS (default 3) interleaved rounds, prints requests per
# second, the medians and, measured in the same run, each path's ratio to
# its limit, with the targets:
#   password logins / raw argon2id checks on as many threads as the
#     server's hashing slots (PASSWORD_HASH_CONCURRENCY, default the cores)
#                                                       >= 0.9
#   client_credentials / openssl rsa2048 signs on every core  >= 0.8
#     (and, for comparison, / the server's own RS256 signer on every core)
#   JWKS / auth-server /health                          >= 0.95
#   token exchange (RFC 8693) / client_credentials      >= 0.9
#   admin API: one client read / /profile/me            >= 0.5
#   admin API: a list of 100 clients / /profile/me      >= 0.1
#     (/profile/me measured here, at a resource-server of this run)
#   /profile/me (one token) / resource-server /health   >= 0.9
#   /profile/me (1,000 tokens) / resource-server /health >= 0.3
# The raw gauges are `auth-server/examples/gauge.rs`, built from this tree.
# It stops only the processes it started. Installs wrk from Debian's
# packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
ROUNDS="${LOAD_ROUNDS:-3}"
HERE="tests/load"

# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"

PASSWORD="violet-harbor-quantum-91x"

# --- auth-server ---------------------------------------------------------
start AUTH auth-server PASSWORD_HASH_CONCURRENCY="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}" DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" \
  ISSUER="http://127.0.0.1:1" CORS_ALLOWED_ORIGINS="http://127.0.0.1:8001"
curl -fsS -o /dev/null "$AUTH_URL/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$PASSWORD\",\"name\":\"Load\"}"

# --- client credentials grant (services) ---------------------------------
# A confidential client registered on the command line, authenticating with
# HTTP Basic: no argon2 on this path, so the RSA signature is the cost.
CLIENT_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-service --grant client_credentials \
  --scope profiles:read --json)
CLIENT_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
CLIENT_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$CLIENT_JSON")
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"

# --- client credentials with private_key_jwt (RFC 7523) -----------------
# The same grant for a client that authenticates with an ES256 assertion
# of its own key: the assertion checked and its jti spent in the database
# on every request. Assertions (a fresh jti each) are made ahead per run.
KEY_DIR="$WORK/client-key"
mkdir -p "$KEY_DIR"
dpop_load keygen "$KEY_DIR"
KEY_CLIENT_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-key-service --grant client_credentials \
  --scope profiles:read --auth-method private_key_jwt --jwks-file "$KEY_DIR/jwks.json" --json 2>/dev/null || true)
KEY_CLIENT_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$KEY_CLIENT_JSON")
KEY_BODY="grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="

# --- token exchange (RFC 8693) -------------------------------------------
# A service trading one user's token for a narrower one: the subject token
# verified against the key ring, its revocation looked up, the new token
# signed and its lineage stored.
if EXCHANGE_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-orders --grant token-exchange \
  --scope profile:read --audience billing --json 2>/dev/null); then
  EXCHANGE_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$EXCHANGE_JSON")
  EXCHANGE_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$EXCHANGE_JSON")
  EXCHANGE_BASIC="Basic $(printf '%s:%s' "$EXCHANGE_ID" "$EXCHANGE_SECRET" | base64 -w0)"
  SUBJECT_TOKEN=$(curl -fsS "$AUTH_URL/oauth/token" -d grant_type=password -d username=load@example.com \
    -d "password=$PASSWORD" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  EXCHANGE_BODY="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$SUBJECT_TOKEN"
  EXCHANGE_BODY+="&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=billing"
else
  # Binaries without the grant (an older build under compare.sh).
  EXCHANGE_BODY=""
fi

# --- the admin API, against /profile/me ------------------------------------
# A client with `admin` (command line), 100 clients made through the API,
# and a resource-server trusting this auth-server for /profile/me.
ADMIN_JSON=$(env DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="http://127.0.0.1:1" \
  "$BIN_DIR/auth-server" clients create --name load-admin --grant client_credentials \
  --scope admin --json 2>/dev/null || true)
ADMIN_ID=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$ADMIN_JSON")
ADMIN_SECRET=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$ADMIN_JSON")
ADMIN_BASIC="Basic $(printf '%s:%s' "$ADMIN_ID" "$ADMIN_SECRET" | base64 -w0)"
# A token per round: the run may outlast one ACCESS_TOKEN_TTL.
admin_token() {
  curl -fsS "$AUTH_URL/oauth/token" -H "Authorization: $ADMIN_BASIC" -d grant_type=client_credentials |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
user_token() {
  curl -fsS "$AUTH_URL/oauth/token" -d grant_type=password -d username=load@example.com \
    -d "password=$PASSWORD" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
ADMIN_API=""
if [ -n "$ADMIN_ID" ]; then
  ADMIN_TOKEN=$(admin_token)
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "$AUTH_URL/admin/v1/clients" -H "Authorization: Bearer $ADMIN_TOKEN" \
      -H 'content-type: application/json' -d "{\"name\":\"load-$i\"}"
  done
  start RESOURCE resource-server DATABASE_URL="sqlite://$WORK/resource.db" ISSUER="http://127.0.0.1:1" \
    JWKS_URL="$AUTH_URL/.well-known/jwks.json"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$RESOURCE_URL/ready" 2>/dev/null && break
    sleep 0.1
  done
  ADMIN_API=1
fi

SLOTS="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}"
echo "# auth-server, ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $ROUNDS rounds, $(nproc) cores, $SLOTS hashing slots"
for round in $(seq 1 "$ROUNDS"); do
  rps "auth_health#$round" "$AUTH_URL/health"
  rps "jwks#$round" "$AUTH_URL/.well-known/jwks.json"
  LOAD_BODY="grant_type=client_credentials" LOAD_AUTHORIZATION="$BASIC" \
    rps "client_credentials#$round" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
  LOAD_BODY="grant_type=password&username=load%40example.com&password=$PASSWORD" \
    rps "password_grant#$round" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
  if [ -n "$KEY_CLIENT_ID" ]; then
    dpop_load assertions "$KEY_DIR" "$KEY_CLIENT_ID" "http://127.0.0.1:1" \
      $((SECONDS_PER_RUN * ONE_USE_PER_SECOND)) >"$WORK/assertions.txt"
    LOAD_LINES="$WORK/assertions.txt" LOAD_LINE_AS=body LOAD_BODY="$KEY_BODY" \
      rps "client_credentials_pkjwt#$round" "$AUTH_URL/oauth/token" -s "$HERE/one_use.lua"
  fi
  gauge "argon2id_gauge#$round" argon2id "$SLOTS"
  gauge "rs256_gauge#$round" rs256 "$(nproc)"
  if [ -n "$EXCHANGE_BODY" ]; then
    LOAD_BODY="$EXCHANGE_BODY" LOAD_AUTHORIZATION="$EXCHANGE_BASIC" \
      rps "token_exchange#$round" "$AUTH_URL/oauth/token" -s "$HERE/form_post.lua"
  fi
  if [ -n "$ADMIN_API" ]; then
    ADMIN_TOKEN=$(admin_token)
    USER_TOKEN=$(user_token)
    rps "profile_me#$round" "$RESOURCE_URL/profile/me" -H "Authorization: Bearer $USER_TOKEN"
    rps "admin_client_read#$round" "$AUTH_URL/admin/v1/clients/$CLIENT_ID" \
      -H "Authorization: Bearer $ADMIN_TOKEN"
    rps "admin_clients_list#$round" "$AUTH_URL/admin/v1/clients?limit=100" \
      -H "Authorization: Bearer $ADMIN_TOKEN"
  fi
done

# The ceiling of client_credentials: one RSA-2048 signature per token, on
# every core. `openssl speed` prints a table whose sign/s column moves
# between versions, so its position is read from the header line.
if command -v openssl >/dev/null 2>&1; then
  RPS[openssl_rsa2048_sign]=$(timeout 60 openssl speed -seconds 3 -multi "$(nproc)" rsa2048 2>/dev/null |
    awk '/sign\/s/ && !/^rsa/ { for (i = 1; i <= NF; i++) if ($i == "sign/s") col = i }
         /^rsa 2048 bits/ && col { print $(col + 3) }')
  printf '%-28s %10s sign/s  (openssl speed -seconds 3 -multi %s rsa2048)\n' openssl_rsa2048_sign \
    "${RPS[openssl_rsa2048_sign]:-n/a}" "$(nproc)"
fi

echo "# medians"
summary auth_health
summary jwks
summary client_credentials
summary password_grant
summary argon2id_gauge
summary rs256_gauge
echo "# each path against its limit, measured in this run"
ratio password_grant argon2id_gauge 0.9
ratio client_credentials openssl_rsa2048_sign 0.8
ratio client_credentials rs256_gauge -
ratio rs256_gauge openssl_rsa2048_sign -
ratio jwks auth_health 0.95
if [ -n "$EXCHANGE_BODY" ]; then
  summary token_exchange
  ratio token_exchange client_credentials 0.9
fi
if [ -n "$ADMIN_API" ]; then
  summary profile_me
  summary admin_client_read
  summary admin_clients_list
  ratio admin_client_read profile_me 0.5
  ratio admin_clients_list profile_me 0.1
fi
if [ -n "$KEY_CLIENT_ID" ]; then
  summary client_credentials_pkjwt
  ratio client_credentials_pkjwt client_credentials 0.8
fi

# --- resource-server: GET /profile/me with a valid token vs /health ------
LOAD_ROUNDS="$ROUNDS" bash "$HERE/resource_server.sh" "$SECONDS_PER_RUN"
