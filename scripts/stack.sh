#!/usr/bin/env bash
# Starts the whole stack on SQLite: the auth-server on 127.0.0.1:8000 and the
# resource-server on 127.0.0.1:8001, each with its own database under data/
# and the signing keys in the auth database, encrypted with keys/kek (made on
# first start). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bins -p auth-server -p resource-server

export ISSUER="${ISSUER:-http://127.0.0.1:8000}"
pids=()
stop() {
  # `${pids[@]+…}`: an empty array is "unbound" to bash 3.2 under `set -u`.
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

ROCKET_PORT=8000 DATABASE_URL="${AUTH_DATABASE_URL:-sqlite://data/auth.db}" \
  target/release/auth-server serve &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$ISSUER/health" >/dev/null 2>&1 && break
  sleep 0.1
done
ROCKET_PORT=8001 DATABASE_URL="${RESOURCE_DATABASE_URL:-sqlite://data/resource.db}" \
  target/release/resource-server serve &
pids+=($!)

cat <<MSG
auth-server      $ISSUER      (docs: $ISSUER/docs)
resource-server  http://127.0.0.1:8001  (docs: http://127.0.0.1:8001/docs)
Press Ctrl-C to stop both.
MSG
# Until either stops. Not `wait -n`: macOS ships bash 3.2, which lacks it.
while kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; do
  sleep 1
done
