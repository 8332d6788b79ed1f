{{/*
Names. Kept to 63 characters (DNS labels); component suffixes are added
after truncating to 50 so "-registry-headless" still fits.
*/}}
{{- define "mcpgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpgw.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mcpgw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mcpgw.edge.fullname" -}}{{ include "mcpgw.fullname" . }}-edge{{- end }}
{{- define "mcpgw.registry.fullname" -}}{{ include "mcpgw.fullname" . }}-registry{{- end }}
{{- define "mcpgw.registry.headless" -}}{{ include "mcpgw.fullname" . }}-registry-headless{{- end }}
{{- define "mcpgw.redis.fullname" -}}{{ include "mcpgw.fullname" . }}-redis{{- end }}
{{- define "mcpgw.configName" -}}{{ include "mcpgw.fullname" . }}-config{{- end }}

{{/*
Selector labels: stable across upgrades (never add version here).
Usage: include "mcpgw.selectorLabels" (dict "ctx" $ "component" "edge")
*/}}
{{- define "mcpgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpgw.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Common labels. Usage: include "mcpgw.labels" (dict "ctx" $ "component" "edge")
*/}}
{{- define "mcpgw.labels" -}}
{{ include "mcpgw.selectorLabels" . }}
app.kubernetes.io/part-of: mcpgw
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "mcpgw.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Image reference. Usage: include "mcpgw.image" (dict "ctx" $ "image" .Values.edge.image)
The tag defaults to the chart's appVersion; a digest wins over the tag.
*/}}
{{- define "mcpgw.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Probe timings from values with the handler given by the template.
Usage: include "mcpgw.probe" (dict "probe" .Values.edge.probes.liveness "handler" (dict "httpGet" (dict "path" "/healthz" "port" "http")))
Renders nothing when the probe is disabled.
*/}}
{{- define "mcpgw.probe" -}}
{{- if .probe.enabled }}
{{- toYaml (merge (deepCopy .handler) (omit .probe "enabled")) }}
{{- end }}
{{- end }}

{{/*
Redis: bundled unless an external URL or Secret is given.
*/}}
{{- define "mcpgw.redis.enabled" -}}
{{- if and (not .Values.externalRedis.url) (not .Values.externalRedis.existingSecret) (gt (int .Values.redis.replicaCount) 0) }}true{{- end }}
{{- end }}

{{/*
REDIS_URL env entry for edge and registry.
*/}}
{{- define "mcpgw.redisEnv" -}}
{{- if .Values.externalRedis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
{{- else if .Values.externalRedis.url }}
- name: REDIS_URL
  value: {{ .Values.externalRedis.url | quote }}
{{- else if include "mcpgw.redis.enabled" . }}
- name: REDIS_URL
  value: {{ printf "redis://%s:%d" (include "mcpgw.redis.fullname" .) (int .Values.redis.port) | quote }}
{{- end }}
{{- end }}

{{/*
Secret holding the master key and upstream credentials: the user's, the
chart's, or none (auth disabled and no credentials).
*/}}
{{- define "mcpgw.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- /* Always a Secret of our own: it holds at least the registry token. */}}
{{- include "mcpgw.fullname" . }}
{{- end }}
{{- end }}

{{/*
Host names the edge accepts in the Host header (DNS rebinding protection):
ingress and HTTPRoute hosts, the Service's names, loopback for port-forward,
and edge.allowedHosts. Comma separated, deduplicated.
*/}}
{{- define "mcpgw.allowedHosts" -}}
{{- $hosts := list }}
{{- range (include "mcpgw.publicHosts" . | fromJsonArray) }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- $svc := include "mcpgw.edge.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts = concat $hosts (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) "localhost" "127.0.0.1") }}
{{- $hosts = concat $hosts .Values.edge.allowedHosts }}
{{- $hosts | uniq | join "," }}
{{- end }}

{{/*
Public host names from ingress and HTTPRoute, as a JSON array.
*/}}
{{- define "mcpgw.publicHosts" -}}
{{- $hosts := list }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- range .Values.ingress.tls }}
{{- $hosts = concat $hosts (.hosts | default list) }}
{{- end }}
{{- end }}
{{- if .Values.httpRoute.enabled }}
{{- $hosts = concat $hosts .Values.httpRoute.hostnames }}
{{- end }}
{{- $hosts | uniq | toJson }}
{{- end }}

{{- define "mcpgw.allowedOrigins" -}}
{{- $origins := list }}
{{- range (include "mcpgw.publicHosts" . | fromJsonArray) }}
{{- $origins = append $origins (printf "https://%s" .) }}
{{- $origins = append $origins (printf "http://%s" .) }}
{{- end }}
{{- $origins = concat $origins .Values.edge.allowedOrigins }}
{{- $origins | uniq | join "," }}
{{- end }}

{{/*
Pod-level settings shared by every component.
Usage: include "mcpgw.podCommon" (dict "ctx" $ "c" .Values.edge "component" "edge")
*/}}
{{- define "mcpgw.podCommon" -}}
# No Kubernetes API access needed; service links would flood env with
# variables for every Service in the namespace.
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .c.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if .c.affinity }}
  {{- toYaml .c.affinity | nindent 2 }}
{{- else }}
  {{- include "mcpgw.softAntiAffinity" (dict "ctx" .ctx "component" .component) | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Default spreading: prefer different nodes for replicas of one component.
Used only when the component sets no affinity of its own.
*/}}
{{- define "mcpgw.softAntiAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "mcpgw.selectorLabels" . | nindent 12 }}
{{- end }}

{{/*
PodDisruptionBudget. minAvailable wins when both are set.
Usage: include "mcpgw.pdb" (dict "ctx" $ "component" "edge" "name" "x" "pdb" .Values.edge.pdb)
*/}}
{{- define "mcpgw.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "mcpgw.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .pdb.minAvailable) }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else if not (kindIs "invalid" .pdb.maxUnavailable) }}
  maxUnavailable: {{ .pdb.maxUnavailable }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "mcpgw.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end }}

{{/*
The mcp_servers map: exampleServers (when on) overlaid by .Values.mcpServers.
Returned as JSON; use with fromJson.
*/}}
{{- define "mcpgw.mcpServers" -}}
{{- $servers := dict }}
{{- if .Values.exampleServers }}
{{- $_ := set $servers "demo" (dict "command" "node" "args" (list "packages/demo-server/dist/index.js") "description" "Bundled demo server (stdio)") }}
{{- $_ := set $servers "everything" (dict "command" "mcp-server-everything" "args" (list "stdio") "description" "MCP reference server exercising every protocol feature") }}
{{- end }}
{{- range $name, $server := .Values.mcpServers }}
{{- if $server }}
{{- $_ := set $servers $name $server }}
{{- end }}
{{- end }}
{{- toJson $servers }}
{{- end }}

{{/*
The store (Postgres): exactly one of externalDatabase and the bundled
postgresql. Neither is an error a person can act on, not a registry that
quietly keeps keys in a pod's scratch space.
*/}}
{{- define "mcpgw.postgresql.fullname" -}}{{ include "mcpgw.fullname" . }}-postgresql{{- end }}

{{- define "mcpgw.database.external" -}}
{{- if or .Values.externalDatabase.url .Values.externalDatabase.existingSecret }}true{{- end }}
{{- end }}

{{- define "mcpgw.database.check" -}}
{{- if and (include "mcpgw.database.external" .) .Values.postgresql.enabled }}
{{- fail "mcpgw: set either externalDatabase (url or existingSecret) or postgresql.enabled, not both" }}
{{- end }}
{{- if not (or (include "mcpgw.database.external" .) .Values.postgresql.enabled) }}
{{- fail "mcpgw: the registry needs a store for keys, pin approvals and the audit log: set externalDatabase.existingSecret (a Secret with DATABASE_URL=postgres://...; recommended) or externalDatabase.url, or postgresql.enabled=true for a bundled single-replica Postgres (evaluation). See docs/storage.md" }}
{{- end }}
{{- end }}

{{/*
DATABASE_URL env entry for the registry.
*/}}
{{- define "mcpgw.databaseEnv" -}}
{{- include "mcpgw.database.check" . }}
{{- if .Values.externalDatabase.existingSecret }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.existingSecretKey }}
{{- else if .Values.externalDatabase.url }}
- name: DATABASE_URL
  value: {{ .Values.externalDatabase.url | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mcpgw.postgresql.fullname" . }}
      key: DATABASE_URL
{{- end }}
{{- end }}
