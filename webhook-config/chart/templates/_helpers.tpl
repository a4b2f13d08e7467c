{{/* Labels on every object. No Helm-specific labels: the objects equal `jspolicy manifests`. */}}
{{- define "jspolicy.labels" -}}
app.kubernetes.io/name: jspolicy
{{- end }}

{{- define "jspolicy.selectorLabels" -}}
app.kubernetes.io/name: jspolicy
{{- end }}

{{- define "jspolicy.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default "jspolicy" }}
{{- end }}

{{- define "jspolicy.image" -}}
{{- .Values.image | default (printf "jspolicy:%s" .Chart.AppVersion) }}
{{- end }}
