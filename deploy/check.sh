#!/usr/bin/env bash
# Static checks of deploy/: no Docker engine or cluster needed.
#   - docker compose parses deploy/docker-compose.yml (skipped without compose)
#   - every manifest of deploy/k8s parses, and the Deployments keep their
#     probes, non-root security context, resources, and ports that match the
#     Dockerfile's EXPOSE and the Services
#   - kubectl kustomize builds deploy/k8s (skipped without kubectl)
#   - hadolint lints deploy/Dockerfile (skipped without hadolint)
#   - promtool checks and unit-tests deploy/prometheus/alerts.yml (Debian's
#     prometheus package installed when promtool is missing)
#   - deploy/grafana/dashboard.json parses and graphs only served series
# Prints one line per check and ends with "deploy checks: N passed, M failed";
# exits non-zero when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }

# --- docker compose: `config` only parses and interpolates; no engine needed.
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
  if out=$("${compose[@]}" -f deploy/docker-compose.yml config -q 2>&1); then
    pass "${compose[*]} config accepts deploy/docker-compose.yml"
  else
    fail "${compose[*]} config rejects deploy/docker-compose.yml: $out"
  fi
else
  skip "docker compose is not installed: deploy/docker-compose.yml not validated by compose"
fi

# --- PyYAML for the structural checks below.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "installing PyYAML for the manifest checks"
  pip install --quiet pyyaml >/dev/null 2>&1 || python3 -m pip install --quiet pyyaml >/dev/null 2>&1
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  fail "PyYAML is unavailable and could not be installed"
else
  while IFS= read -r line; do
    case "$line" in
      PASS:*) pass "${line#PASS: }" ;;
      FAIL:*) fail "${line#FAIL: }" ;;
      *) echo "$line" ;;
    esac
  done < <(python3 - <<'PY' 2>&1 || echo "FAIL: the manifest checker crashed"
import glob, os, re, sys
import yaml

def ok(cond, msg):
    print(("PASS: " if cond else "FAIL: ") + msg)
    return cond

# EXPOSE of each Dockerfile target: {"auth-server": {8000}, ...}
exposed, target = {}, None
for raw in open("deploy/Dockerfile"):
    m = re.match(r"\s*FROM\s+\S+(?:\s+AS\s+(\S+))?", raw, re.I)
    if m:
        target = m.group(1)
        continue
    m = re.match(r"\s*EXPOSE\s+(.+)", raw, re.I)
    if m and target:
        exposed.setdefault(target, set()).update(int(p.split("/")[0]) for p in m.group(1).split())
ok(set(exposed) == {"auth-server", "resource-server"},
   f"Dockerfile targets with EXPOSE are auth-server and resource-server ({sorted(exposed)})")

# Every manifest parses.
docs = {}
for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d]
    except yaml.YAMLError as e:
        ok(False, f"{path} parses: {e}")
        continue
    ok(bool(loaded), f"{path} parses")
    docs[path] = loaded
objects = [(p, d) for p, ds in docs.items() for d in ds if d.get("kind") != "Kustomization"]
by_kind = lambda kind: {d["metadata"]["name"]: d for _, d in objects if d.get("kind") == kind}
deployments, services = by_kind("Deployment"), by_kind("Service")
configmaps, secrets = by_kind("ConfigMap"), by_kind("Secret")
ok(set(deployments) == {"auth-server", "resource-server"}, f"Deployments: {sorted(deployments)}")
ok(all("namespace" not in d["metadata"] for _, d in objects), "no manifest names a namespace")

# kustomization.yaml lists every manifest except the placeholder Secrets.
kust = next((d for ds in docs.values() for d in ds if d.get("kind") == "Kustomization"), None)
if ok(kust is not None, "deploy/k8s/kustomization.yaml exists"):
    listed = set(kust.get("resources", []))
    files = {os.path.basename(p) for p in docs} - {"kustomization.yaml"}
    secret_files = {os.path.basename(p) for p, d in objects if d.get("kind") == "Secret"}
    ok(listed == files - secret_files,
       f"kustomization lists every manifest but the Secrets (listed {sorted(listed)})")

def probe_path(container, name):
    return ((container.get(name) or {}).get("httpGet") or {}).get("path")

for name, dep in sorted(deployments.items()):
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    psc = pod.get("securityContext") or {}
    ok(spec.get("replicas", 1) >= 2, f"{name}: at least 2 replicas")
    ok(spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
       f"{name}: selector matches the pod labels")
    ok(psc.get("runAsNonRoot") is True, f"{name}: runAsNonRoot is true")
    ok(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] != 0, f"{name}: fixed non-zero runAsUser")
    ok((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{name}: seccompProfile RuntimeDefault")
    ok(isinstance(pod.get("terminationGracePeriodSeconds"), int), f"{name}: terminationGracePeriodSeconds set")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        cname = f"{name}/{c['name']}"
        csc = c.get("securityContext") or {}
        ok(probe_path(c, "livenessProbe") == "/health", f"{cname}: livenessProbe on /health")
        ok(probe_path(c, "readinessProbe") == "/ready", f"{cname}: readinessProbe on /ready")
        ok(probe_path(c, "startupProbe") is not None, f"{cname}: startupProbe")
        ok(csc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation false")
        ok(csc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem true")
        ok("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), f"{cname}: capabilities drop ALL")
        res = c.get("resources") or {}
        ok({"cpu", "memory"} <= set(res.get("requests", {})) and {"cpu", "memory"} <= set(res.get("limits", {})),
           f"{cname}: cpu and memory requests and limits")
        # Ports: the container's ports are what the image EXPOSEs (the image
        # is named after its Dockerfile target) ...
        image = c["image"].rsplit("/", 1)[-1].split(":")[0].split("@")[0]
        ports = {p["containerPort"] for p in c.get("ports", [])}
        ok(ports and ports == exposed.get(image), f"{cname}: containerPorts {sorted(ports)} = EXPOSE of target {image}")
        # ... and the Service of the same name sends its ports there.
        svc = services.get(name)
        if ok(svc is not None, f"{name}: has a Service"):
            named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            ok(svc["spec"].get("type", "ClusterIP") == "ClusterIP", f"Service {name}: ClusterIP")
            ok(svc["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items(),
               f"Service {name}: selector matches the pods")
            for sp in svc["spec"]["ports"]:
                tp = sp.get("targetPort", sp["port"])
                tp = named.get(tp) if isinstance(tp, str) else tp
                ok(tp in ports and sp["port"] == tp,
                   f"Service {name}: port {sp['port']} -> {sp.get('targetPort')} reaches containerPort {tp}")
        # Every ConfigMap and Secret it reads is defined here, with the key.
        for ef in c.get("envFrom", []):
            if "configMapRef" in ef:
                ok(ef["configMapRef"]["name"] in configmaps, f"{cname}: ConfigMap {ef['configMapRef']['name']} defined")
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                s = secrets.get(ref["name"], {})
                ok(ref["key"] in {**s.get("data", {}), **s.get("stringData", {})},
                   f"{cname}: {e['name']} from Secret {ref['name']}/{ref['key']} defined")
        # No Secret volume: its files belong to root, readable by the server
        # only through fsGroup's group read, which the auth-server refuses
        # for a key-encryption key file.
        for m in c.get("volumeMounts", []):
            ok(not volumes.get(m["name"], {}).get("secret"),
               f"{cname}: no Secret mounted as files ({m['name']})")
        if name == "auth-server":
            env = {e["name"]: e for e in c.get("env", [])}
            ref = ((env.get("KEY_ENCRYPTION_KEY") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            ok(ref.get("key") == "kek", f"{cname}: KEY_ENCRYPTION_KEY from a Secret's kek")
            ok("KEY_ENCRYPTION_KEY_FILE" not in env, f"{cname}: no KEY_ENCRYPTION_KEY_FILE beside KEY_ENCRYPTION_KEY")
            # The Secret holds only the key-encryption key; the signing
            # keys live in the database.
            s = secrets.get(ref.get("name"), {})
            held = set(s.get("data", {})) | set(s.get("stringData", {}))
            ok(held == {"kek"}, f"{cname}: Secret {ref.get('name')} holds only the key-encryption key ({sorted(held)})")

# Several auth-server replicas act as one issuer (keys in the database).
ok((deployments.get("auth-server", {}).get("spec") or {}).get("replicas") == 3, "auth-server: 3 replicas")

# The compose file, structurally (compose itself may be absent).
compose = yaml.safe_load(open("deploy/docker-compose.yml"))
svcs = compose.get("services", {})
ok(set(svcs) == {"postgres", "auth-server", "resource-server"}, f"compose services: {sorted(svcs)}")
ok("healthcheck" in svcs.get("postgres", {}), "compose: postgres has a healthcheck")
for name in ("auth-server", "resource-server"):
    s = svcs.get(name, {})
    ok(((s.get("depends_on") or {}).get("postgres") or {}).get("condition") == "service_healthy",
       f"compose: {name} waits for a healthy postgres")
    ok(s.get("build", {}).get("target") == name, f"compose: {name} builds Dockerfile target {name}")
    published = {int(str(p).split(":")[-1]) for p in s.get("ports", [])}
    ok(published == exposed.get(name), f"compose: {name} publishes {sorted(published)} = EXPOSE")
    ok(s.get("restart") in ("always", "unless-stopped", "on-failure"), f"compose: {name} has a restart policy")
env = {k: str(v) for k, v in (svcs.get("resource-server", {}).get("environment") or {}).items()}
ok(env.get("ISSUER") == str((svcs.get("auth-server", {}).get("environment") or {}).get("ISSUER")),
   "compose: resource-server's ISSUER equals the auth-server's")
PY
)
fi

# --- kustomize (built into kubectl; works offline).
if command -v kubectl >/dev/null 2>&1; then
  if out=$(kubectl kustomize deploy/k8s 2>&1 >/dev/null); then
    pass "kubectl kustomize builds deploy/k8s"
  else
    fail "kubectl kustomize deploy/k8s: $out"
  fi
else
  skip "kubectl is not installed: kustomization not built"
fi

# --- hadolint.
if command -v hadolint >/dev/null 2>&1; then
  if out=$(hadolint deploy/Dockerfile 2>&1); then
    pass "hadolint deploy/Dockerfile"
  else
    fail "hadolint deploy/Dockerfile: $out"
  fi
else
  skip "hadolint is not installed: deploy/Dockerfile not linted"
fi

# --- Prometheus alert rules: promtool is in Debian's prometheus package,
# installed here (as root, where apt-get exists) when it is missing.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's prometheus package for promtool"
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1
fi
if command -v promtool >/dev/null 2>&1; then
  if out=$(promtool check rules deploy/prometheus/alerts.yml 2>&1); then
    pass "promtool check rules deploy/prometheus/alerts.yml"
  else
    fail "promtool check rules deploy/prometheus/alerts.yml: $out"
  fi
  if out=$(cd deploy/prometheus && promtool test rules alerts.test.yml 2>&1); then
    pass "promtool test rules deploy/prometheus/alerts.test.yml"
  else
    fail "promtool test rules deploy/prometheus/alerts.test.yml: $out"
  fi
else
  fail "promtool is not installed and could not be (Debian's prometheus package): alert rules unchecked"
fi

# --- The Grafana dashboard: JSON, and every series it graphs is one the
# services serve or the alert rules use.
if out=$(python3 - <<'PY' 2>&1
import json, re
dash = json.load(open("deploy/grafana/dashboard.json"))
rules = open("deploy/prometheus/alerts.yml").read()
known = {"http_requests_total", "tokens_issued_total", "failed_logins_total", "throttle_refusals_total",
         "refresh_token_replays_total", "signing_key_age_seconds", "signing_key_rotation_interval_seconds",
         "signing_key_next_rotation_timestamp_seconds", "signing_keys", "jwks_cache_age_seconds",
         "token_checks_total", "token_cache_total", "jwks_fetches_total"}
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
assert exprs, "no panel has a query"
used = {m for e in exprs for m in re.findall(r"\b([a-z_]+)\{", e)}
assert used <= known, f"unknown series: {sorted(used - known)}"
for name in re.findall(r"\b([a-z_]+_(?:seconds|total)|signing_keys)\b", rules):
    assert name in known, f"alerts.yml uses {name}, which the dashboard check does not know"
PY
); then
  pass "deploy/grafana/dashboard.json parses and graphs only served series"
else
  fail "deploy/grafana/dashboard.json: $out"
fi

echo "deploy checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
