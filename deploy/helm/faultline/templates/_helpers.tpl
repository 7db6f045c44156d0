{{- define "faultline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "faultline.fullname" -}}
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

{{- define "faultline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "faultline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "faultline.selector" -}}
app.kubernetes.io/name: {{ include "faultline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "faultline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "faultline.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "faultline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret a value lives in: the one named in values, else the release's own Secret (<fullname>), which the
chart creates with secrets.create or you create beside the release. */}}
{{- define "faultline.secretName" -}}
{{- $ := index . 0 -}}{{- $ref := index . 1 -}}
{{- default (include "faultline.fullname" $) $ref.name -}}
{{- end -}}

{{/* Settings both processes read: data sources, LLM, store. */}}
{{- define "faultline.commonEnv" -}}
{{- if .Values.neo4j.enabled }}
- name: FAULTLINE_NEO4J_URI
  value: {{ required "neo4j.uri is required when neo4j.enabled" .Values.neo4j.uri | quote }}
- name: FAULTLINE_NEO4J_USER
  value: {{ .Values.neo4j.user | quote }}
- name: FAULTLINE_NEO4J_DATABASE
  value: {{ .Values.neo4j.database | quote }}
- name: FAULTLINE_NEO4J_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "faultline.secretName" (list . .Values.neo4j.passwordSecret) }}
      key: {{ .Values.neo4j.passwordSecret.key }}
{{- else }}
- name: FAULTLINE_GRAPH_FILE
  value: /data/graph.json
{{- end }}
{{- with .Values.prometheus.url }}
- name: FAULTLINE_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
- name: FAULTLINE_PROMETHEUS_STEP_S
  value: {{ .Values.prometheus.stepSeconds | quote }}
- name: FAULTLINE_ENTITY_LABEL
  value: {{ .Values.prometheus.entityLabel | quote }}
{{- end -}}
