{{- define "nines.fullname" -}}{{ .Release.Name }}-nines{{- end -}}
{{- define "nines.labels" -}}
app.kubernetes.io/name: nines
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "nines.selector" -}}
app.kubernetes.io/name: nines
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "nines.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end -}}
{{- end -}}
{{- define "nines.adminKeySecret" -}}
{{- .Values.adminKey.existingSecret | default (printf "%s-admin-key" (include "nines.fullname" .)) -}}
{{- end -}}
{{- define "nines.secretKeySecret" -}}
{{- .Values.secretKey.existingSecret | default (printf "%s-secret-key" (include "nines.fullname" .)) -}}
{{- end -}}
{{/* A secret made once: the value already in the cluster, else a new one. */}}
{{- define "nines.keep" -}}
{{- $old := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $old $old.data (index $old.data "key") -}}
{{- index $old.data "key" | b64dec -}}
{{- else -}}
{{- .new -}}
{{- end -}}
{{- end -}}
