{{/*
Shared names, labels and pod parts. Every object carries the standard
app.kubernetes.io/* labels and helm.sh/chart; selectors use only the labels
that never change for a release (name, instance, component).
*/}}

{{- define "tandem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tandem.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: (dict "root" $ "component" "router"). */}}
{{- define "tandem.componentName" -}}
{{- printf "%s-%s" (include "tandem.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "tandem.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Stable labels: the only ones selectors use. */}}
{{- define "tandem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tandem.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels: (dict "root" $ "component" "router"). */}}
{{- define "tandem.labels" -}}
{{ include "tandem.selectorLabels" . }}
app.kubernetes.io/part-of: tandem
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "tandem.chart" .root }}
{{- end -}}

{{- define "tandem.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* host:port of a component's gRPC Service inside the cluster. */}}
{{- define "tandem.grpcAddress" -}}
{{- $values := index .root.Values .component -}}
{{- printf "%s:%v" (include "tandem.componentName" .) (index $values.ports (default "grpc" .port)) -}}
{{- end -}}

{{/*
Pod annotations: Prometheus scrape hints and the checksums of the
ConfigMaps the pod reads, so that a changed ConfigMap rolls the pods.
(dict "root" $ "values" .Values.router "checksum" "…")
*/}}
{{- define "tandem.podAnnotations" -}}
{{- if .root.Values.global.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if .checksum }}
checksum/config: {{ .checksum }}
{{- end }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod scheduling and security shared by every Deployment. */}}
{{- define "tandem.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.global.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.affinity }}
affinity:
  {{- toYaml .values.affinity | nindent 2 }}
{{- else }}
affinity:
  # Replicas on different nodes where the cluster allows it.
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "tandem.selectorLabels" . | nindent 14 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A container's security context. */}}
{{- define "tandem.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.global.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/*
preStop: wait before SIGTERM so that the endpoint is gone from every
Service before the server stops accepting. The image's /bin/sleep, or
Kubernetes' own sleep action (1.30+) with global.preStopSleepAction.
*/}}
{{- define "tandem.preStop" -}}
{{- if gt (int .values.preStopDelaySeconds) 0 }}
lifecycle:
  preStop:
    {{- if .root.Values.global.preStopSleepAction }}
    sleep:
      seconds: {{ .values.preStopDelaySeconds }}
    {{- else }}
    exec:
      command: ["/bin/sleep", "{{ .values.preStopDelaySeconds }}"]
    {{- end }}
{{- end }}
{{- end -}}

{{/* The writable /tmp every pod gets (the root filesystem is read-only). */}}
{{- define "tandem.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{/* A gRPC server's probes: (dict "values" .Values.router "service" "tandem.router.v1.RouterService"). */}}
{{- define "tandem.grpcProbes" -}}
startupProbe:
  grpc:
    port: {{ .values.ports.grpc }}
  periodSeconds: 5
  failureThreshold: {{ div (int .values.startupSeconds) 5 | max 1 }}
livenessProbe:
  grpc:
    port: {{ .values.ports.grpc }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  grpc:
    port: {{ .values.ports.grpc }}
    service: {{ .service }}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* The shared settings of every service as TANDEM_* variables. */}}
{{- define "tandem.commonEnv" -}}
- name: TANDEM_LOG_LEVEL
  value: {{ .Values.global.logLevel | quote }}
{{- end -}}

{{/*
Consistency the schema cannot express: graceful termination must outlast
each service's drain, and a held request must fit in the proxy's drain.
*/}}
{{- define "tandem.validate" -}}
{{- $r := .Values.router -}}
{{- if and $r.enabled (le (int $r.terminationGracePeriodSeconds) (add $r.preStopDelaySeconds (div $r.shutdownGraceMs 1000))) -}}
{{- fail (printf "router.terminationGracePeriodSeconds (%v) must be above preStopDelaySeconds + shutdownGraceMs/1000 (%v)" $r.terminationGracePeriodSeconds (add $r.preStopDelaySeconds (div $r.shutdownGraceMs 1000))) -}}
{{- end -}}
{{- $c := .Values.catalog -}}
{{- if and $c.enabled (le (int $c.terminationGracePeriodSeconds) (add $c.preStopDelaySeconds (div $c.shutdownGraceMs 1000))) -}}
{{- fail (printf "catalog.terminationGracePeriodSeconds (%v) must be above preStopDelaySeconds + shutdownGraceMs/1000 (%v)" $c.terminationGracePeriodSeconds (add $c.preStopDelaySeconds (div $c.shutdownGraceMs 1000))) -}}
{{- end -}}
{{- $p := .Values.proxy -}}
{{- if $p.enabled -}}
{{- $drain := add $p.preStopDelaySeconds (div (add $p.shutdownGraceMs $p.catalogCheckTimeoutMs 999) 1000) 5 -}}
{{- if le (int $p.terminationGracePeriodSeconds) (int $drain) -}}
{{- fail (printf "proxy.terminationGracePeriodSeconds (%v) must be above preStopDelaySeconds + (shutdownGraceMs + catalogCheckTimeoutMs)/1000 + 5 (%v): the proxy drains held requests and catalog checks after SIGTERM" $p.terminationGracePeriodSeconds $drain) -}}
{{- end -}}
{{- if gt (int $p.holdTimeoutMs) (int $p.shutdownGraceMs) -}}
{{- fail (printf "proxy.holdTimeoutMs (%v) must not exceed proxy.shutdownGraceMs (%v): a held request must finish within the drain" $p.holdTimeoutMs $p.shutdownGraceMs) -}}
{{- end -}}
{{- end -}}
{{- $m := .Values.migrator -}}
{{- if $m.enabled -}}
{{- if le (int $m.terminationGracePeriodSeconds) (add (div $m.shutdownGraceMs 1000) 5) -}}
{{- fail (printf "migrator.terminationGracePeriodSeconds (%v) must be above shutdownGraceMs/1000 + 5 (%v): a replica finishes its cutovers after SIGTERM" $m.terminationGracePeriodSeconds (add (div $m.shutdownGraceMs 1000) 5)) -}}
{{- end -}}
{{- if and $p.enabled (lt (int $m.shutdownGraceMs) (int $p.holdTimeoutMs)) -}}
{{- fail (printf "migrator.shutdownGraceMs (%v) must be at least proxy.holdTimeoutMs (%v): a cutover in progress must be able to finish" $m.shutdownGraceMs $p.holdTimeoutMs) -}}
{{- end -}}
{{- end -}}
{{- if and $p.enabled (not $r.enabled) -}}
{{- fail "proxy.enabled needs router.enabled: the proxy routes from the router's Watch stream" -}}
{{- end -}}
{{- if and $p.enabled (not $c.enabled) -}}
{{- fail "proxy.enabled needs catalog.enabled: the proxy enforces the catalog freeze (fails closed without it)" -}}
{{- end -}}
{{- if and $c.enabled (not $r.enabled) -}}
{{- fail "catalog.enabled needs router.enabled: the catalog lifts the freeze from the router's counts" -}}
{{- end -}}
{{- if and $m.enabled (not (and $r.enabled $c.enabled)) -}}
{{- fail "migrator.enabled needs router.enabled and catalog.enabled" -}}
{{- end -}}
{{- end -}}

{{/* A component's PodDisruptionBudget, when enabled: (dict "root" $ "component" … "values" …). */}}
{{- define "tandem.podDisruptionBudget" -}}
{{- if .values.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tandem.componentName" . }}
  labels:
    {{- include "tandem.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "tandem.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A component's ServiceMonitor, when enabled (prometheus-operator). */}}
{{- define "tandem.serviceMonitor" -}}
{{- $sm := .root.Values.global.serviceMonitor -}}
{{- if $sm.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "tandem.componentName" . }}
  labels:
    {{- include "tandem.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "tandem.selectorLabels" . | nindent 6 }}
      tandem-metrics: "true"
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $sm.interval }}
{{- end }}
{{- end -}}
