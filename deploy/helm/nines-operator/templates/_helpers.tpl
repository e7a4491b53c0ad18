{{- define "nines-operator.name" -}}nines-operator{{- end -}}
{{- define "nines-operator.fullname" -}}{{ .Release.Name }}-nines-operator{{- end -}}
{{- define "nines-operator.labels" -}}
app.kubernetes.io/name: nines-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "nines-operator.selector" -}}
app.kubernetes.io/name: nines-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
