{{/* The Airflow image: repository@digest when a digest is given (it wins), else repository:tag. */}}
{{- define "airflow_image" -}}
{{- $repository := .Values.images.airflow.repository | default .Values.defaultAirflowRepository -}}
{{- $tag := .Values.images.airflow.tag | default .Values.defaultAirflowTag -}}
{{- $digest := .Values.images.airflow.digest | default .Values.defaultAirflowDigest -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (toString $tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" for Airflow 3 (api-server and dag-processor instead of the webserver). */}}
{{- define "airflow.isAirflow3" -}}
{{- semverCompare ">=3.0.0" (toString .Values.airflowVersion) -}}
{{- end -}}

{{/* "true" when the standalone dag-processor runs: `dagProcessor.enabled`, or by default on Airflow 3 only. */}}
{{- define "airflow.dagProcessorEnabled" -}}
{{- if kindIs "invalid" .Values.dagProcessor.enabled -}}
{{- include "airflow.isAirflow3" . -}}
{{- else -}}
{{- .Values.dagProcessor.enabled -}}
{{- end -}}
{{- end -}}

{{- define "airflow_metadata_secret" -}}
{{- .Values.data.metadataSecretName | default (printf "%s-metadata" .Release.Name) -}}
{{- end -}}
{{- define "fernet_key_secret" -}}
{{- .Values.fernetKeySecretName | default (printf "%s-fernet-key" .Release.Name) -}}
{{- end -}}
{{- define "webserver_secret_key_secret" -}}
{{- .Values.webserverSecretKeySecretName | default (printf "%s-webserver-secret-key" .Release.Name) -}}
{{- end -}}
{{- define "api_secret_key_secret" -}}
{{- .Values.apiSecretKeySecretName | default (printf "%s-api-secret-key" .Release.Name) -}}
{{- end -}}
{{- define "jwt_secret" -}}
{{- .Values.jwtSecretName | default (printf "%s-jwt-secret" .Release.Name) -}}
{{- end -}}

{{/*
A Secret's base64 data value: the given value; else the value the existing Secret holds (so an upgrade keeps
the key Airflow encrypted with); else a random one. dict: root, name (Secret), key, value.
*/}}
{{- define "airflow.persistentSecretData" -}}
{{- if .value -}}
{{- .value | toString | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing $existing.data (index $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 32 | b64enc | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "airflow.labels" -}}
tier: airflow
component: {{ .component }}
release: {{ .root.Release.Name }}
{{- end -}}

{{/* Environment of every Airflow container (as the official chart's standard_airflow_environment). */}}
{{- define "airflow.env" -}}
- name: AIRFLOW_HOME
  value: {{ .Values.airflowHome | quote }}
- name: AIRFLOW__CORE__FERNET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "fernet_key_secret" . }}
      key: fernet-key
{{- if semverCompare ">=2.3.0" (toString .Values.airflowVersion) }}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
{{- else }}
- name: AIRFLOW__CORE__SQL_ALCHEMY_CONN
{{- end }}
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow_metadata_secret" . }}
      key: connection
- name: AIRFLOW_CONN_AIRFLOW_DB
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow_metadata_secret" . }}
      key: connection
- name: AIRFLOW__WEBSERVER__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "webserver_secret_key_secret" . }}
      key: webserver-secret-key
{{- if eq (include "airflow.isAirflow3" .) "true" }}
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "api_secret_key_secret" . }}
      key: api-secret-key
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "jwt_secret" . }}
      key: jwt-secret
- name: AIRFLOW__CORE__EXECUTION_API_SERVER_URL
  value: {{ printf "http://%s-api-server:%v/execution/" .Release.Name .Values.ports.apiServer | quote }}
{{- else if eq (include "airflow.dagProcessorEnabled" .) "true" }}
- name: AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR
  value: "True"
{{- end }}
{{- range $section, $settings := .Values.config }}
{{- range $key, $value := $settings }}
- name: {{ printf "AIRFLOW__%s__%s" $section $key | upper }}
  value: {{ tpl (toString $value) $ | quote }}
{{- end }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- with .Values.extraEnv }}
{{- if kindIs "string" . }}
{{ tpl . $ | trim }}
{{- else }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A container's command and args, templated like the official chart's. dict: root, values. */}}
{{- define "airflow.commandAndArgs" -}}
{{- with .values.command }}
command: {{- tpl (toYaml .) $.root | nindent 2 }}
{{- end }}
{{- with .values.args }}
args: {{- tpl (toYaml .) $.root | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Waits until the DB is at the image's migration head. dict: root, values (a component's). */}}
{{- define "airflow.waitForMigrations" -}}
- name: wait-for-airflow-migrations
  image: {{ include "airflow_image" .root }}
  imagePullPolicy: {{ .root.Values.images.airflow.pullPolicy }}
  command: ["bash", "-c", "exec airflow db check-migrations --migration-wait-timeout={{ .values.waitForMigrations.migrationsWaitTimeout }}"]
  env:
    {{- include "airflow.env" .root | nindent 4 }}
{{- end -}}

{{/* The pod security context (the official chart's uid/gid). */}}
{{- define "airflow.podSecurityContext" -}}
securityContext:
  runAsUser: {{ .Values.uid }}
  runAsGroup: {{ .Values.gid }}
  fsGroup: {{ .Values.gid }}
{{- end -}}

{{/* An exec probe that runs `airflow jobs check` for this pod's own job. dict: probe, jobType. */}}
{{- define "airflow.jobsCheckProbe" -}}
{{- with .probe }}
{{- if hasKey . "initialDelaySeconds" }}
initialDelaySeconds: {{ .initialDelaySeconds }}
{{- end }}
failureThreshold: {{ .failureThreshold }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}
exec:
  command:
    - sh
    - -c
    - AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR exec airflow jobs check --job-type {{ .jobType }} --local
{{- end -}}

{{/* An HTTP probe on the UI/API port. dict: probe, path, port. */}}
{{- define "airflow.httpProbe" -}}
{{- with .probe }}
{{- if hasKey . "initialDelaySeconds" }}
initialDelaySeconds: {{ .initialDelaySeconds }}
{{- end }}
failureThreshold: {{ .failureThreshold }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
  scheme: HTTP
{{- end -}}

{{/*
One Airflow component as a Deployment. dict: root, component (label and name suffix), values (the component's
values), and optionally port + healthPath (an HTTP component) or jobType (an `airflow jobs check` component),
startup (true: the jobs-check probe also gates readiness as a startupProbe).
*/}}
{{- define "airflow.componentDeployment" -}}
{{- $root := .root -}}
{{- $values := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $root.Release.Name }}-{{ .component }}
  labels:
    {{- include "airflow.labels" . | nindent 4 }}
spec:
  replicas: {{ $values.replicas }}
  {{- if $values.strategy }}
  strategy: {{- toYaml $values.strategy | nindent 4 }}
  {{- else if and .port $root.Values.ports.hostPort }}
  {{- /* Two pods cannot hold one host port on one node. Recreate rather than maxSurge 0 / maxUnavailable 1:
  with the latter, `helm --wait` would count a single replica as ready before the new pod is. */}}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "airflow.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "airflow.labels" . | nindent 8 }}
    spec:
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      {{- include "airflow.podSecurityContext" $root | nindent 6 }}
      {{- if $values.waitForMigrations.enabled }}
      initContainers:
        {{- include "airflow.waitForMigrations" (dict "root" $root "values" $values) | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "airflow_image" $root }}
          imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy }}
          {{- include "airflow.commandAndArgs" (dict "root" $root "values" $values) | trim | nindent 10 }}
          env:
            {{- include "airflow.env" $root | nindent 12 }}
            {{- with $values.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          resources: {{- toYaml $values.resources | nindent 12 }}
          {{- if .port }}
          ports:
            - name: {{ .portName }}
              containerPort: {{ .port }}
              {{- with $root.Values.ports.hostPort }}
              hostPort: {{ . }}
              hostIP: 127.0.0.1
              {{- end }}
          startupProbe:
            {{- include "airflow.httpProbe" (dict "probe" $values.startupProbe "path" .healthPath "port" .port) | trim | nindent 12 }}
          readinessProbe:
            {{- include "airflow.httpProbe" (dict "probe" $values.readinessProbe "path" .healthPath "port" .port) | trim | nindent 12 }}
          livenessProbe:
            {{- include "airflow.httpProbe" (dict "probe" $values.livenessProbe "path" .healthPath "port" .port) | trim | nindent 12 }}
          {{- else if .jobType }}
          {{- if .startup }}
          startupProbe:
            {{- include "airflow.jobsCheckProbe" (dict "probe" $values.startupProbe "jobType" .jobType) | trim | nindent 12 }}
          {{- end }}
          livenessProbe:
            {{- include "airflow.jobsCheckProbe" (dict "probe" $values.livenessProbe "jobType" .jobType) | trim | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: logs
              mountPath: {{ $root.Values.airflowHome }}/logs
      volumes:
        - name: logs
          emptyDir: {}
{{- end -}}

{{/* The UI/API Service: a stable ClusterIP name, <release>-webserver or <release>-api-server. */}}
{{- define "airflow.componentService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .root.Release.Name }}-{{ .component }}
  labels:
    {{- include "airflow.labels" . | nindent 4 }}
spec:
  type: {{ .values.service.type }}
  selector:
    {{- include "airflow.labels" . | nindent 4 }}
  ports:
    - name: {{ .portName }}
      port: {{ .port }}
      targetPort: {{ .portName }}
      protocol: TCP
{{- end -}}

{{/* A Job's pod template. dict: root, component, values. */}}
{{- define "airflow.jobPodTemplate" -}}
metadata:
  labels:
    {{- include "airflow.labels" . | nindent 4 }}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 10
  {{- include "airflow.podSecurityContext" .root | nindent 2 }}
  containers:
    - name: {{ .component }}
      image: {{ include "airflow_image" .root }}
      imagePullPolicy: {{ .root.Values.images.airflow.pullPolicy }}
      {{- include "airflow.commandAndArgs" . | trim | nindent 6 }}
      env:
        {{- include "airflow.env" .root | nindent 8 }}
        {{- with .values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources: {{- toYaml .values.resources | nindent 8 }}
{{- end -}}

{{/*
A Job whose name ends with a hash of its pod template: a Job's template cannot change in place, so an upgrade
that changes the image (or anything else the Job runs) makes a new Job and Helm deletes the old one; an upgrade
that changes nothing keeps the completed Job. dict: root, component, values, nameStem.
*/}}
{{- define "airflow.job" -}}
{{- $template := include "airflow.jobPodTemplate" . -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-%s" .root.Release.Name .nameStem | trunc 52 | trimSuffix "-" }}-{{ $template | sha256sum | trunc 10 }}
  labels:
    {{- include "airflow.labels" . | nindent 4 }}
  {{- if .values.useHelmHooks }}
  annotations:
    "helm.sh/hook": post-install,post-upgrade
    "helm.sh/hook-weight": {{ .hookWeight | quote }}
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
  {{- end }}
spec:
  backoffLimit: {{ .values.backoffLimit | default 3 }}
  {{- with .values.ttlSecondsAfterFinished }}
  ttlSecondsAfterFinished: {{ . }}
  {{- end }}
  template:
    {{- $template | nindent 4 }}
{{- end -}}
