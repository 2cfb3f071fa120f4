{{/* Chart name, overridable. */}}
{{- define "seedstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: <release>-seedstream, or the release name if it already contains the chart name. */}}
{{- define "seedstream.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "seedstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "seedstream.labels" -}}
helm.sh/chart: {{ include "seedstream.chart" . }}
app.kubernetes.io/name: {{ include "seedstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: seedstream
{{- end }}

{{/* Selector labels of one component. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "seedstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seedstream.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "seedstream.componentLabels" -}}
{{ include "seedstream.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "seedstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{- define "seedstream.configName" -}}
{{- printf "%s-config" (include "seedstream.fullname" .) }}
{{- end }}

{{- define "seedstream.modelKeysSecret" -}}
{{- default (printf "%s-model-keys" (include "seedstream.fullname" .)) .Values.modelKeys.secretName }}
{{- end }}

{{- define "seedstream.outputClaim" -}}
{{- default (printf "%s-output" (include "seedstream.fullname" .)) .Values.coordinator.persistence.existingClaim }}
{{- end }}

{{/* Pod annotations (without the config checksum, which each Deployment adds). */}}
{{- define "seedstream.podAnnotations" -}}
{{- if .Values.prometheusAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.httpPort | quote }}
prometheus.io/path: "/metrics"
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level fields shared by every Deployment (under the pod template's spec). */}}
{{- define "seedstream.podSpec" -}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container env entries shared by every process. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "seedstream.env" -}}
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s-%s" .ctx.Values.otel.serviceNamePrefix .component | quote }}
{{- if .ctx.Values.redis.existingSecret }}
- name: SEEDSTREAM_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .ctx.Values.redis.existingSecret | quote }}
      key: {{ .ctx.Values.redis.existingSecretKey | quote }}
{{- end }}
{{- end }}

{{/* Liveness (/healthz: the process serves) and readiness (/readyz: Kafka and Redis reachable). */}}
{{- define "seedstream.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end }}
