#!/usr/bin/env bash
# Offline checks of the deployment artifacts: the Helm chart (lint, render,
# schema, assertions on what matters), docker-compose.yml, the Prometheus
# scrape config and the Grafana dashboard. No cluster and no Docker engine are
# needed. Exits non-zero when any check fails; the last line is a summary.
#
# Tools: helm is built once by .ci/install-helm.sh (cached); docker-compose,
# promtool and PyYAML come from Debian packages, installed here when missing.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
CHART=helm/mcpgw
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

passed=0
failed=0
failures=()
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

# check NAME CMD...: runs CMD, counts a pass or a failure, shows its output on
# failure so the log says what broke.
check() {
  local name="$1"; shift
  local start out
  start="$(now)"
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    printf 'ok    %-66s %s\n' "$name" "$(elapsed "$start")"
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %-66s %s\n' "$name" "$(elapsed "$start")"
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/      | /'
  fi
}

summary() {
  # One word before the colon: CI reads a closing "N passed, N failed" line.
  echo "deploy-checks: $passed passed, $failed failed"
}

# A missing tool is a failure of the whole run, not of one check.
die() {
  echo "check-deploy: $*" >&2
  failed=$((failed + 1))
  summary
  exit 1
}

apt_updated=""
apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*; install it by hand"
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    apt_updated=1
  fi
  # Recommends are not needed for validation (prometheus would pull exporters).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || die "apt-get install $* failed"
}

# --- tools ------------------------------------------------------------------
start="$(now)"
if ! HELM="$(bash .ci/install-helm.sh | tail -n 1)" || [ ! -x "$HELM" ]; then
  die "building helm failed (.ci/install-helm.sh)"
fi
echo "tools: helm $("$HELM" version --template '{{.Version}}') at $HELM ($(elapsed "$start"))"

start="$(now)"
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  COMPOSE=(docker-compose)
fi
command -v promtool >/dev/null 2>&1 || apt_install prometheus
python3 -c 'import yaml' >/dev/null 2>&1 || apt_install python3-yaml
echo "tools: ${COMPOSE[*]}, promtool, python3-yaml ready ($(elapsed "$start"))"

# --- Helm: lint and render every value set ----------------------------------
# values.schema.json is applied by both `helm lint` and `helm template`.
render() { # NAME [helm args...]: renders into $OUT/NAME.yaml
  local name="$1"; shift
  "$HELM" template mcpgw "$CHART" --namespace mcp "$@" > "$OUT/$name.yaml"
}

# Structural assertions on one rendered value set. Expectations per set are
# in the EXPECT table; the rest holds for every set.
assert_rendered() { # NAME
  python3 - "$OUT/$1.yaml" "$1" <<'PY'
import sys, yaml

path, vset = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
errors = []
def err(msg): errors.append(msg)
def of(kind): return [d for d in docs if d["kind"] == kind]
def one(kind, suffix):
    found = [d for d in of(kind) if d["metadata"]["name"].endswith(suffix)]
    if len(found) != 1: err(f"expected one {kind} named *{suffix}, found {len(found)}")
    return found[0] if found else None

# What each value set must and must not render.
EXPECT = {
    "default-values": dict(present={"HorizontalPodAutoscaler", "StatefulSet", "Secret", "NetworkPolicy"},
                    absent={"Ingress", "HTTPRoute", "ServiceMonitor"},
                    servers={"demo", "everything"}, master_key=True, redis="bundled", database="bundled"),
    "external-redis-values": dict(present={"ServiceMonitor", "NetworkPolicy", "HorizontalPodAutoscaler"},
                    absent={"StatefulSet", "Secret", "Ingress", "HTTPRoute"},
                    servers={"github", "everything"}, master_key=True, redis="secret", database="secret"),
    "ingress-tls-values": dict(present={"Ingress", "Secret", "StatefulSet", "HorizontalPodAutoscaler"},
                    absent={"HTTPRoute"},
                    servers={"demo", "everything", "fetch"}, master_key=True, redis="bundled", database="bundled",
                    hosts={"mcp.example.com"}),
    "httproute-no-hpa-values": dict(present={"HTTPRoute", "StatefulSet", "Secret"},
                    absent={"HorizontalPodAutoscaler", "Ingress"},
                    servers={"demo", "everything"}, master_key=False, redis="bundled", database="url",
                    hosts={"mcp.internal.example"}, edge_replicas=3),
}
if vset not in EXPECT:
    sys.exit(f"{vset}: no expectations written for this value set (add it to EXPECT in .ci/check-deploy.sh)")
exp = EXPECT[vset]
kinds = {d["kind"] for d in docs}
for k in exp["present"] - kinds: err(f"{k} not rendered")
for k in exp["absent"] & kinds: err(f"{k} rendered but should not be")

# Labels on every resource.
for d in docs:
    labels = d["metadata"].get("labels", {})
    for l in ("name", "instance", "component", "part-of", "version", "managed-by"):
        if f"app.kubernetes.io/{l}" not in labels:
            err(f'{d["kind"]}/{d["metadata"]["name"]}: label app.kubernetes.io/{l} missing')

# Workloads: selectors match, hardened security contexts, probes, /tmp.
workloads = of("Deployment") + of("StatefulSet")
for w in workloads:
    wid = f'{w["kind"]}/{w["metadata"]["name"]}'
    spec, pod = w["spec"], w["spec"]["template"]["spec"]
    tlabels = w["spec"]["template"]["metadata"]["labels"]
    for k, v in spec["selector"]["matchLabels"].items():
        if tlabels.get(k) != v: err(f"{wid}: selector {k}={v} does not match the pod labels")
    if not pod.get("securityContext", {}).get("runAsNonRoot"): err(f"{wid}: pod runAsNonRoot not set")
    if pod.get("automountServiceAccountToken") is not False: err(f"{wid}: service account token mounted")
    tmp_vols = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for c in pod["containers"]:
        cid = f'{wid}/{c["name"]}'
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True: err(f"{cid}: readOnlyRootFilesystem is not true")
        if sc.get("runAsNonRoot") is not True: err(f"{cid}: runAsNonRoot is not true")
        if sc.get("allowPrivilegeEscalation") is not False: err(f"{cid}: allowPrivilegeEscalation is not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]: err(f"{cid}: capabilities do not drop ALL")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault": err(f"{cid}: seccomp is not RuntimeDefault")
        for p in ("livenessProbe", "readinessProbe"):
            if p not in c: err(f"{cid}: {p} missing")
        if not any(m["mountPath"] == "/tmp" and m["name"] in tmp_vols for m in c.get("volumeMounts", [])):
            err(f"{cid}: /tmp is not an emptyDir mount")
        if "resources" not in c: err(f"{cid}: no resources")

# Services select the pods of some workload.
for s in of("Service"):
    sel = s["spec"]["selector"]
    if not any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()) for w in workloads):
        err(f'Service/{s["metadata"]["name"]}: selector matches no workload')

def env(container):
    return {e["name"]: e for e in container.get("env", [])}

edge = one("Deployment", "-edge")
registry = one("Deployment", "-registry")
headless = one("Service", "-registry-headless")
if edge:
    c = edge["spec"]["template"]["spec"]["containers"][0]
    e = env(c)
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz": err("edge: liveness is not GET /healthz")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz": err("edge: readiness is not GET /readyz")
    if "preStop" not in c.get("lifecycle", {}): err("edge: no preStop drain")
    if edge["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30) < 60: err("edge: terminationGracePeriodSeconds < 60")
    if headless and e.get("REGISTRY_URL", {}).get("value", "").split(":")[0:2] != ["dns", f'///{headless["metadata"]["name"]}.mcp.svc.cluster.local']:
        err(f'edge: REGISTRY_URL {e.get("REGISTRY_URL")} does not point at the headless Service with dns:///')
    if e.get("HOST", {}).get("value") != "0.0.0.0": err("edge: HOST is not 0.0.0.0")
    allowed = set(e.get("MCPGW_ALLOWED_HOSTS", {}).get("value", "").split(","))
    for h in exp.get("hosts", set()) | {edge["metadata"]["name"]}:
        if h not in allowed: err(f"edge: MCPGW_ALLOWED_HOSTS lacks {h}: {sorted(allowed)}")
    if exp["master_key"] != ("MCPGW_MASTER_KEY" in e): err(f'edge: MCPGW_MASTER_KEY presence should be {exp["master_key"]}')
    if "MCPGW_MASTER_KEY" in e and "secretKeyRef" not in e["MCPGW_MASTER_KEY"].get("valueFrom", {}):
        err("edge: master key not from a Secret")
    if "edge_replicas" in exp and edge["spec"].get("replicas") != exp["edge_replicas"]:
        err(f'edge: replicas {edge["spec"].get("replicas")} != {exp["edge_replicas"]}')
    if "HorizontalPodAutoscaler" in kinds and "replicas" in edge["spec"]: err("edge: replicas set while the HPA owns them")
for w in (edge, registry):
    if not w: continue
    c = w["spec"]["template"]["spec"]["containers"][0]
    if "checksum/config" not in w["spec"]["template"]["metadata"].get("annotations", {}):
        err(f'{w["metadata"]["name"]}: no checksum/config annotation')
    redis_url = env(c).get("REDIS_URL", {})
    if exp["redis"] == "bundled" and not redis_url.get("value", "").startswith("redis://"): err(f'{w["metadata"]["name"]}: REDIS_URL not the bundled Redis')
    if exp["redis"] == "secret" and "secretKeyRef" not in redis_url.get("valueFrom", {}): err(f'{w["metadata"]["name"]}: REDIS_URL not from the Secret')
if registry:
    c = registry["spec"]["template"]["spec"]["containers"][0]
    grpc_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
    for p in ("startupProbe", "livenessProbe", "readinessProbe"):
        if c.get(p, {}).get("grpc", {}).get("port") != grpc_port: err(f"registry: {p} is not a gRPC probe on {grpc_port}")
    # Drain delay (0.5 s) + MCPGW_DRAIN_TIMEOUT_MS + closing upstreams and the store must fit the grace period.
    drain_ms = int(env(c).get("MCPGW_DRAIN_TIMEOUT_MS", {}).get("value", "30000"))
    grace = registry["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    if drain_ms / 1000 + 5 > grace: err(f"registry: drain {drain_ms} ms + 5 s exceeds terminationGracePeriodSeconds {grace}")
if headless and headless["spec"].get("clusterIP") != "None": err("registry Service is not headless")

# The edge–registry link: both sides get the token from a Secret; the registry binds to the pod IP.
for w in (edge, registry):
    if not w: continue
    e = env(w["spec"]["template"]["spec"]["containers"][0])
    if "secretKeyRef" not in e.get("MCPGW_REGISTRY_TOKEN", {}).get("valueFrom", {}):
        err(f'{w["metadata"]["name"]}: MCPGW_REGISTRY_TOKEN not from a Secret')
if registry:
    e = env(registry["spec"]["template"]["spec"]["containers"][0])
    if e.get("GRPC_HOST", {}).get("value") != "$(POD_IP)": err("registry: GRPC_HOST is not the pod IP")
    names = [x["name"] for x in registry["spec"]["template"]["spec"]["containers"][0]["env"]]
    if "POD_IP" in names and "GRPC_HOST" in names and names.index("POD_IP") > names.index("GRPC_HOST"):
        err("registry: POD_IP must come before GRPC_HOST for $(POD_IP) to expand")
for s in of("Secret"):
    if s["metadata"]["name"].endswith("-postgresql"): continue
    if not any(k.endswith("REGISTRY_TOKEN") for k in s.get("data", {})): err(f'Secret/{s["metadata"]["name"]}: no registry token')

# The store (issue 19): only the registry gets DATABASE_URL, from where the value set says.
if registry:
    db = env(registry["spec"]["template"]["spec"]["containers"][0]).get("DATABASE_URL", {})
    ref = db.get("valueFrom", {}).get("secretKeyRef", {})
    if exp["database"] == "bundled" and not ref.get("name", "").endswith("-postgresql"): err(f"registry: DATABASE_URL not from the bundled Postgres Secret: {db}")
    if exp["database"] == "secret" and (not ref or ref.get("name", "").endswith("-postgresql")): err(f"registry: DATABASE_URL not from the user's Secret: {db}")
    if exp["database"] == "url" and not db.get("value", "").startswith("postgres://"): err(f"registry: DATABASE_URL not the given URL: {db}")
if edge and "DATABASE_URL" in env(edge["spec"]["template"]["spec"]["containers"][0]): err("edge: has DATABASE_URL (edges never connect to the store)")
pg = [w for w in of("StatefulSet") if w["metadata"]["name"].endswith("-postgresql")]
if (exp["database"] == "bundled") != bool(pg): err(f'bundled Postgres StatefulSet rendered: {bool(pg)}, expected: {exp["database"] == "bundled"}')
for w in pg:
    if w["spec"].get("replicas") != 1: err("postgresql: not a single replica")
    if not w["spec"].get("volumeClaimTemplates"): err("postgresql: no PersistentVolumeClaim")
    npg = [n for n in of("NetworkPolicy") if n["metadata"]["name"].endswith("-postgresql")]
    if not npg: err("postgresql: no NetworkPolicy")
    for n in npg:
        peers = [f.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") for r in n["spec"]["ingress"] for f in r.get("from", [])]
        if peers != ["registry"]: err(f"postgresql NetworkPolicy admits {peers}, expected only the registry")
for np in of("NetworkPolicy"):
    if np["metadata"]["name"].endswith(("-edge", "-registry")) and "Egress" not in np["spec"].get("policyTypes", []):
        err(f'NetworkPolicy/{np["metadata"]["name"]}: no egress rules')

cm = one("ConfigMap", "-config")
if cm:
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    if set(cfg.get("mcp_servers") or {}) != exp["servers"]:
        err(f'ConfigMap mcp_servers {sorted(cfg.get("mcp_servers") or {})} != {sorted(exp["servers"])}')
    if "tool_separator" not in (cfg.get("gateway") or {}): err("ConfigMap: gateway.tool_separator missing")

for ing in of("Ingress"):
    a = ing["metadata"].get("annotations", {})
    if a.get("nginx.ingress.kubernetes.io/proxy-buffering") != "off": err("Ingress: proxy buffering not off (breaks SSE)")
    if int(a.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "0")) < 300: err("Ingress: proxy-read-timeout too short for SSE")
    if vset == "ingress-tls-values" and not ing["spec"].get("tls"): err("Ingress: no TLS section")
for r in of("HTTPRoute"):
    if not r["spec"].get("parentRefs"): err("HTTPRoute: no parentRefs")
    if "request" not in r["spec"]["rules"][0].get("timeouts", {}): err("HTTPRoute: no long request timeout")

if errors:
    print(f"{vset}: {len(errors)} problem(s)")
    for e in errors: print(" -", e)
    sys.exit(1)
print(f"{vset}: {len(docs)} resources, kinds {sorted(kinds)}")
PY
}

# Kubernetes' own schemas (strict: unknown fields are errors), offline: the
# PyPI package kubernetes-validate bundles them. Pinned, in a cached venv.
KV_VERSION=1.37.0
KV="${MCPGW_TOOLS:-$HOME/.cache/mcpgw-tools}/kubernetes-validate-$KV_VERSION"
if [ ! -x "$KV/bin/kubernetes-validate" ]; then
  python3 -m venv "$KV" && "$KV/bin/pip" install -q "kubernetes-validate==$KV_VERSION" \
    || die "could not install kubernetes-validate $KV_VERSION from PyPI"
fi
k8s_validate() { # NAME: strict schema validation for the oldest and newest Kubernetes we support
  local v
  for v in 1.27.0 1.34.0; do
    # CRD kinds (ServiceMonitor, HTTPRoute) have no bundled schema: a warning, not a failure.
    "$KV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$v" "$OUT/$1.yaml" || return 1
  done
}

# One value set per file in ci/ (the chart-testing layout); default-values.yaml
# is {} and so checks the chart's own defaults.
value_sets=()
for f in "$CHART"/ci/*-values.yaml; do value_sets+=("$(basename "$f" .yaml)"); done
[ "${#value_sets[@]}" -ge 4 ] || die "expected at least 4 value sets in $CHART/ci, found ${#value_sets[@]}"
for vs in "${value_sets[@]}"; do
  args=(-f "$CHART/ci/$vs.yaml")
  check "helm lint --strict ($vs)" "$HELM" lint --strict "$CHART" "${args[@]}"
  check "helm template ($vs)" render "$vs" "${args[@]}"
  if [ -s "$OUT/$vs.yaml" ]; then
    check "rendered manifests meet expectations ($vs)" assert_rendered "$vs"
    check "Kubernetes 1.27 and 1.34 schemas accept every manifest ($vs)" k8s_validate "$vs"
  fi
done

# `helm template` skips NOTES.txt; a client-side dry-run install renders it.
notes_render() { # EXPECTED_TEXT [helm args...]
  local want="$1"; shift
  "$HELM" install mcpgw "$CHART" --namespace mcp --dry-run=client "$@" > "$OUT/notes" || return 1
  grep -qF "$want" "$OUT/notes" || { cat "$OUT/notes"; echo "NOTES lack: $want"; return 1; }
}
check "NOTES.txt renders (default)" notes_render "kubectl -n mcp port-forward" --set postgresql.enabled=true
check "NOTES.txt renders (ingress-tls-values)" notes_render "https://mcp.example.com/mcp" \
  -f "$CHART/ci/ingress-tls-values.yaml"

# The schema must reject what a typo or a wrong type would otherwise let
# through silently. expect_rejected NAME HELM_ARGS...
expect_rejected() {
  if "$HELM" template mcpgw "$CHART" "$@" >/dev/null 2>"$OUT/err"; then
    echo "accepted, but values.schema.json should reject: $*"
    return 1
  fi
  grep -q "schema" "$OUT/err" || { cat "$OUT/err"; echo "rejected, but not by the schema"; return 1; }
}
# Without a store the chart refuses to render, saying what to set (issue 19).
expect_store_required() {
  if "$HELM" template mcpgw "$CHART" "$@" >/dev/null 2>"$OUT/err"; then echo "rendered without a store: $*"; return 1; fi
  grep -q "needs a store" "$OUT/err" || { cat "$OUT/err"; echo "failed, but not with the store message"; return 1; }
}
check "chart requires a store (externalDatabase or postgresql.enabled)" expect_store_required
# The registry's drain must end before the kubelet's SIGKILL.
expect_grace_refused() {
  if "$HELM" template mcpgw "$CHART" --set postgresql.enabled=true "$@" >/dev/null 2>"$OUT/err"; then echo "rendered a grace period shorter than the drain: $*"; return 1; fi
  grep -q "kills a registry that is still draining" "$OUT/err" || { cat "$OUT/err"; echo "failed, but not with the drain message"; return 1; }
}
check "chart refuses registry.terminationGracePeriodSeconds < drainTimeoutSeconds + 5" expect_grace_refused \
  --set registry.terminationGracePeriodSeconds=30
check "schema rejects a DATABASE_URL that is not postgres://" expect_rejected --set externalDatabase.url=mysql://x/y
check "schema rejects a typo (edge.replicaCoutn=2)" expect_rejected --set edge.replicaCoutn=2
check "schema rejects an unknown top-level key (ingres.enabled)" expect_rejected --set ingres.enabled=true
check "schema rejects a wrong type (registry.grpcPort=abc)" expect_rejected --set registry.grpcPort=abc
check "schema rejects an upstream with command and url" expect_rejected \
  --set mcpServers.bad.command=node --set mcpServers.bad.url=http://x/mcp
check "schema rejects an invalid server name" expect_rejected --set 'mcpServers.bad\.name.command=node'

# --- docker compose, Prometheus, Grafana ------------------------------------
# `config` validates and interpolates the file; no engine is needed for it.
check "${COMPOSE[*]} config -q" "${COMPOSE[@]}" -f docker-compose.yml config -q
check "promtool check config deploy/prometheus/prometheus.yml" \
  promtool check config deploy/prometheus/prometheus.yml
check "grafana dashboard is valid JSON" python3 -m json.tool deploy/grafana/dashboards/mcpgw.json
check "grafana provisioning files are valid YAML" python3 -c '
import sys, yaml
for f in sys.argv[1:]: yaml.safe_load(open(f))' \
  deploy/grafana/provisioning/datasources/prometheus.yml deploy/grafana/provisioning/dashboards/mcpgw.yml
check "dashboard queries use the documented metric names" python3 - <<'PY'
import json, re
names = {"mcpgw_tool_calls_total", "mcpgw_tool_call_duration_seconds", "mcpgw_sessions_active",
         "mcpgw_http_requests_total", "mcpgw_registry_rpc_duration_seconds", "mcpgw_upstream_up",
         "mcpgw_upstream_request_duration_seconds", "mcpgw_catalog_tools", "mcpgw_catalog_version",
         "mcpgw_upstream_reconnects_total", "mcpgw_breaker_state"}
d = json.load(open("deploy/grafana/dashboards/mcpgw.json"))
used = set()
for p in d["panels"]:
    for t in p.get("targets", []):
        used |= {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"mcpgw_[a-z_]+", t["expr"])}
unknown = used - names
assert not unknown, f"unknown metric names: {unknown}"
for must in ("mcpgw_tool_calls_total", "mcpgw_tool_call_duration_seconds", "mcpgw_sessions_active",
             "mcpgw_upstream_up", "mcpgw_catalog_tools"):
    assert must in used, f"dashboard lacks {must}"
PY
check "stdio upstreams pinned in the image, none fetched at run time" python3 - <<'PY'
import re, yaml
cfg = yaml.safe_load(open("deploy/config.yaml"))
dockerfile = open("deploy/Dockerfile").read()
pkgs = re.search(r'ARG UPSTREAM_PACKAGES="([^"]*)"', dockerfile).group(1).split()
assert all(re.search(r"@\d", p.lstrip("@")) for p in pkgs), f"unpinned upstream package in {pkgs}"
for name, s in cfg["mcp_servers"].items():
    assert s.get("command") not in ("npx", "uvx"), f"{name}: fetches at run time ({s['command']})"
PY

# --- summary ----------------------------------------------------------------
if [ "$failed" -gt 0 ]; then
  echo "failed checks:"
  printf ' - %s\n' "${failures[@]}"
fi
summary
[ "$failed" -eq 0 ]
