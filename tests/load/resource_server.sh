#!/usr/bin/env bash
# Load run of the resource-server against the real release binaries on
# loopback, bounded in time:
#
#   tests/load/resource_server.sh [SECONDS_PER_RUN]      (default 10)
#
# Starts its own auth-server and resource-server on random loopback ports
# (temporary SQLite databases and key folder), signs up one user, takes a
# token with the password grant and 1,000 more through the refresh grant,
# then runs wrk, in LOAD_ROUNDS (default 3) interleaved rounds, against
#   - GET /health,
#   - GET /profile/me with the one token,
#   - GET /profile/me cycling through the 1,000 tokens (tokens.lua),
#   - GET /profile/me with the one token at a second resource-server on the
#     same database with its profile cache off (PROFILE_CACHE_TTL_MS=0), to
#     show what the cache is worth,
# and prints each run, the medians, and the ratios to /health with their
# targets (>= 0.9 and >= 0.3). It stops only the processes it started and
# installs wrk from Debian's packages when missing. Tokens and passwords are
# not printed.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN="${1:-10}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
ROUNDS="${LOAD_ROUNDS:-3}"
TOKEN_COUNT=1000
HERE="tests/load"

# shellcheck source=tests/load/common.sh
source "tests/load/common.sh"

PASSWORD="violet-harbor-quantum-91x"
# The auth-server's port is unknown until it starts, so its ISSUER is a fixed
# placeholder; the resource-server trusts that issuer and fetches the keys
# from the real address through JWKS_URL.
ISSUER="http://127.0.0.1:1"
start AUTH auth-server DATABASE_URL="sqlite://$WORK/auth.db" KEYS_DIR="$WORK/keys" ISSUER="$ISSUER"
# Its port is chosen first: a DPoP proof's htu is checked against
# PUBLIC_URL, which must then be the URL the load is sent to.
RESOURCE_PORT=$(free_port)
start RESOURCE resource-server DATABASE_URL="sqlite://$WORK/resource.db" ISSUER="$ISSUER" \
  JWKS_URL="$AUTH_URL/.well-known/jwks.json" ROCKET_PORT="$RESOURCE_PORT" \
  PUBLIC_URL="http://127.0.0.1:$RESOURCE_PORT"
start UNCACHED resource-server DATABASE_URL="sqlite://$WORK/resource.db" ISSUER="$ISSUER" \
  JWKS_URL="$AUTH_URL/.well-known/jwks.json" PROFILE_CACHE_TTL_MS=0

curl -fsS -o /dev/null "$AUTH_URL/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"load@example.com\",\"password\":\"$PASSWORD\",\"name\":\"Load\"}"
# One login, then a chain of refreshes: each gives a distinct access token
# (its own jti) without another password hash.
TOKENS="$WORK/tokens.txt"
AUTH_URL="$AUTH_URL" LOAD_PASSWORD="$PASSWORD" python3 - "$TOKENS" "$TOKEN_COUNT" <<'PY'
import json, os, sys, urllib.error, urllib.parse, urllib.request

def token(fields):
    body = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(os.environ["AUTH_URL"] + "/oauth/token", body) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        # The OAuth error body names the reason; it holds no token.
        sys.exit(f"{fields['grant_type']} grant answered {error.code}: {error.read().decode()[:300]}")

path, count = sys.argv[1], int(sys.argv[2])
answer = token({"grant_type": "password", "username": "load@example.com",
                "password": os.environ["LOAD_PASSWORD"]})
tokens = [answer["access_token"]]
while len(tokens) < count:
    answer = token({"grant_type": "refresh_token", "refresh_token": answer["refresh_token"],
                    "client_id": "first-party"})
    tokens.append(answer["access_token"])
if len(set(tokens)) != count:
    sys.exit("the refresh grant gave the same access token twice")
with open(path, "w") as out:
    out.write("\n".join(tokens) + "\n")
PY
TOKEN=$(head -1 "$TOKENS")
# A token bound to an ES256 key (DPoP, RFC 9449): a proof at the token
# endpoint, then a fresh proof per request to /profile/me, made ahead per
# run (each jti is accepted once, and only within 60 s of its iat).
DPOP_DIR="$WORK/dpop-key"
mkdir -p "$DPOP_DIR"
dpop_load keygen "$DPOP_DIR"
DPOP_TOKEN=$(curl -fsS "$AUTH_URL/oauth/token" \
  -H "DPoP: $(dpop_load proofs "$DPOP_DIR" POST "$ISSUER/oauth/token" 1)" \
  -d grant_type=password -d username=load@example.com -d "password=$PASSWORD" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
for url in "$RESOURCE_URL" "$UNCACHED_URL"; do
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$url/ready" 2>/dev/null && break
    sleep 0.1
  done
  for probe in "$TOKEN" "$(tail -1 "$TOKENS")"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "$url/profile/me" -H "authorization: Bearer $probe")
    [ "$status" = 200 ] || { echo "GET /profile/me answered $status before the run" >&2; exit 1; }
  done
done

status=$(curl -s -o /dev/null -w '%{http_code}' "$RESOURCE_URL/profile/me" -H "authorization: DPoP $DPOP_TOKEN" \
  -H "DPoP: $(dpop_load proofs "$DPOP_DIR" GET "$RESOURCE_URL/profile/me" 1 "$DPOP_TOKEN")")
# An issuer that binds no token (a build from before DPoP, under
# compare.sh) leaves the scenario out rather than measuring refusals.
DPOP=1
if [ "$status" != 200 ]; then
  echo "GET /profile/me with DPoP answered $status before the run: the DPoP scenario is left out" >&2
  DPOP=""
fi

echo "# resource-server, ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $ROUNDS rounds, $(nproc) cores"
for round in $(seq 1 "$ROUNDS"); do
  rps "health#$round" "$RESOURCE_URL/health"
  rps "profile_me#$round" "$RESOURCE_URL/profile/me" -H "Authorization: Bearer $TOKEN"
  if [ -n "$DPOP" ]; then
    dpop_load proofs "$DPOP_DIR" GET "$RESOURCE_URL/profile/me" $((SECONDS_PER_RUN * ONE_USE_PER_SECOND)) \
      "$DPOP_TOKEN" >"$WORK/proofs.txt"
    LOAD_LINES="$WORK/proofs.txt" LOAD_LINE_AS=dpop LOAD_AUTHORIZATION="DPoP $DPOP_TOKEN" \
      rps "profile_me_dpop#$round" "$RESOURCE_URL/profile/me" -s "$HERE/one_use.lua"
  fi
  LOAD_TOKENS="$TOKENS" rps "profile_me_${TOKEN_COUNT}#$round" "$RESOURCE_URL/profile/me" -s "$HERE/tokens.lua"
  rps "profile_me_uncached#$round" "$UNCACHED_URL/profile/me" -H "Authorization: Bearer $TOKEN"
done

echo "# medians"
summary health
summary profile_me
summary "profile_me_${TOKEN_COUNT}"
summary profile_me_uncached
[ -z "$DPOP" ] || summary profile_me_dpop
ratio profile_me health 0.9
[ -z "$DPOP" ] || ratio profile_me_dpop profile_me 0.4
ratio "profile_me_${TOKEN_COUNT}" health 0.3
ratio profile_me_uncached health -
