{{/* Name prefix of every object: the release name. */}}
{{- define "casebridge.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; pass (dict "root" $ "component" "police"). */}}
{{- define "casebridge.labels" -}}
app.kubernetes.io/name: casebridge
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Selector labels of one component. */}}
{{- define "casebridge.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image of one CaseBridge process. */}}
{{- define "casebridge.image" -}}
{{ printf "%s%s:%s" .root.Values.image.repository .component (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end -}}

{{/* NATS URL: the configured one, or the in-chart cluster. */}}
{{- define "casebridge.natsUrl" -}}
{{- if .Values.config.natsUrl -}}{{ .Values.config.natsUrl }}{{- else -}}{{ ternary "tls" "nats" .Values.tls.enabled }}://{{ include "casebridge.fullname" . }}-nats:4222{{- end -}}
{{- end -}}

{{/* Token issuer: the configured one, or the in-chart Keycloak's realm. */}}
{{- define "casebridge.authIssuer" -}}
{{- if .Values.config.authIssuer -}}{{ .Values.config.authIssuer }}{{- else -}}http://{{ include "casebridge.fullname" . }}-keycloak:8080/realms/casebridge{{- end -}}
{{- end -}}

{{/* Pod and container security settings shared by the CaseBridge processes. */}}
{{- define "casebridge.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: { type: RuntimeDefault }
{{- end -}}
{{- define "casebridge.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities: { drop: [ALL] }
{{- end -}}

{{/* PodDisruptionBudget, HorizontalPodAutoscaler and ServiceAccount of one workload; pass (dict "root" $ "component" name "settings" values). */}}
{{- define "casebridge.workloadExtras" -}}
{{- $name := printf "%s-%s" (include "casebridge.fullname" .root) .component }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" . | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .settings.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels: {{- include "casebridge.selector" . | nindent 6 }}
{{- if .settings.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicas: {{ .settings.autoscaling.minReplicas }}
  maxReplicas: {{ .settings.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .settings.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/*
One agency service: ServiceAccount, Deployment with gRPC probes on grpc.health.v1, Service, PDB,
HPA and NetworkPolicy. Pass (dict "root" $ "component" "police").
*/}}
{{- define "casebridge.agencyService" -}}
{{- $root := .root }}
{{- $settings := mergeOverwrite (deepCopy $root.Values.serviceDefaults) (get $root.Values.services .component) }}
{{- if $settings.enabled }}
{{- $ctx := dict "root" $root "component" .component "settings" $settings }}
{{- $name := printf "%s-%s" (include "casebridge.fullname" $root) .component }}
{{ include "casebridge.workloadExtras" $ctx }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" $ctx | nindent 4 }}
spec:
  {{- if not $settings.autoscaling.enabled }}
  replicas: {{ $settings.replicas }}
  {{- end }}
  selector:
    matchLabels: {{- include "casebridge.selector" $ctx | nindent 6 }}
  template:
    metadata:
      labels: {{- include "casebridge.labels" $ctx | nindent 8 }}
        casebridge.io/role: agency-service
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/config.yaml") $root | sha256sum }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      securityContext: {{- include "casebridge.podSecurity" $root | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets: {{- range . }}
        - name: {{ . }}
      {{- end }}
      {{- end }}
      terminationGracePeriodSeconds: 20
      containers:
        - name: {{ .component }}
          image: {{ include "casebridge.image" $ctx }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - { name: grpc, containerPort: {{ $settings.grpcPort }}, protocol: TCP }
            - { name: grpc-health, containerPort: {{ $root.Values.tls.healthPort }}, protocol: TCP }
          envFrom:
            - configMapRef: { name: {{ include "casebridge.fullname" $root }}-config }
          env:
            - { name: GRPC_HOST, value: "0.0.0.0" }
            - { name: GRPC_PORT, value: {{ $settings.grpcPort | quote }} }
            # Mutual TLS: its own certificate, and only the gateway's client certificate is served.
            - { name: GRPC_TLS, value: "on" }
            - { name: GRPC_TLS_DIR, value: /etc/casebridge/tls }
            - { name: GRPC_TLS_CLIENTS, value: gateway }
            - { name: GRPC_HEALTH_PORT, value: {{ $root.Values.tls.healthPort | quote }} }
            - { name: NATS_TLS_CA, value: /etc/casebridge/tls/root.pem }
            {{- include "casebridge.natsUserEnv" . | nindent 12 }}
            {{- include "casebridge.mongoEnv" (dict "root" $root "component" .component) | nindent 12 }}
            {{- if $root.Values.secrets.pkiPassphrase }}
            - name: PKI_KEY_PASSPHRASE
              valueFrom: { secretKeyRef: { name: {{ $root.Values.secrets.pkiPassphrase }}, key: passphrase } }
            {{- end }}
            {{- range $key, $value := $settings.env }}
            - { name: {{ $key }}, value: {{ $value | quote }} }
            {{- end }}
          # The kubelet's gRPC probes speak no TLS: they ask the plaintext health-only port.
          readinessProbe:
            grpc: { port: {{ $root.Values.tls.healthPort }} }
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            grpc: { port: {{ $root.Values.tls.healthPort }} }
            initialDelaySeconds: 20
            periodSeconds: 10
            failureThreshold: 6
          startupProbe:
            grpc: { port: {{ $root.Values.tls.healthPort }} }
            periodSeconds: 2
            failureThreshold: 60
          resources: {{- toYaml $settings.resources | nindent 12 }}
          securityContext: {{- include "casebridge.containerSecurity" $root | nindent 12 }}
          volumeMounts:
            - { name: pki, mountPath: /etc/casebridge/pki, readOnly: true }
            - { name: tls, mountPath: /etc/casebridge/tls, readOnly: true }
            {{- include "casebridge.natsUserMount" . | nindent 12 }}
            - { name: tmp, mountPath: /tmp }
      volumes:
        {{- include "casebridge.tlsVolume" (dict "root" $root "peer" .component) | nindent 8 }}
        {{- include "casebridge.natsUserVolume" (dict "root" $root "user" .component) | nindent 8 }}
        # Secret keys are flat (root-ca.pem, police-ca.crl, police-seal.key.pem, …); the service reads the PKI layout.
        - name: pki
          secret:
            secretName: {{ printf "%s%s" $root.Values.secrets.pkiPrefix .component }}
            defaultMode: 0440
            items:
              - { key: pki.json, path: pki.json }
              {{- range $ca := list "root" "police" "prosecution" "court" "judicial" "notary" }}
              - { key: {{ $ca }}-ca.pem, path: {{ $ca }}/ca.pem }
              - { key: {{ $ca }}-ca.crl, path: {{ $ca }}/ca.crl }
              {{- end }}
              {{- range $file := list "seal.pem" "seal.key.pem" "seal.bin" }}
              - { key: {{ $.component }}-{{ $file }}, path: {{ $.component }}/{{ $file }} }
              {{- end }}
        - name: tmp
          emptyDir: { sizeLimit: 64Mi }
      {{- with $settings.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $settings.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $settings.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector: {{- include "casebridge.selector" $ctx | nindent 4 }}
  ports:
    - { name: grpc, port: {{ $settings.grpcPort }}, targetPort: grpc, protocol: TCP, appProtocol: grpc }
{{- if $root.Values.networkPolicy.enabled }}
---
# Agency services are called by the gateway only (they talk to each other through NATS); the
# kubelet's probes on the health port come from the node, which NetworkPolicies do not govern.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  labels: {{- include "casebridge.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels: {{- include "casebridge.selector" $ctx | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: {{ $root.Release.Name }}
              app.kubernetes.io/component: gateway
      ports:
        - { port: {{ $settings.grpcPort }}, protocol: TCP }
{{- end }}
{{- end }}
{{- end -}}


{{/* The TLS Secret of one peer (police … notary, gateway, nats, mongodb) as a volume named "tls", in the layout of the PKI's tls/ directory; pass (dict "root" $ "peer" name). */}}
{{- define "casebridge.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ printf "%s%s" .root.Values.tls.secretPrefix .peer }}
    defaultMode: 0440
    items:
      - { key: root.pem, path: root.pem }
      - { key: ca.pem, path: ca.pem }
      - { key: {{ .peer }}.pem, path: {{ .peer }}.pem }
      - { key: {{ .peer }}.key.pem, path: {{ .peer }}.key.pem }
{{- end -}}

{{/* The members of the in-chart MongoDB replica set, host:port,… */}}
{{- define "casebridge.mongoHosts" -}}
{{- $name := printf "%s-mongodb" (include "casebridge.fullname" .) -}}
{{- $hosts := list -}}
{{- range $i, $_ := until (int .Values.mongodb.replicas) -}}{{- $hosts = append $hosts (printf "%s-%d.%s:27017" $name $i $name) -}}{{- end -}}
{{ join "," $hosts }}
{{- end -}}

{{/* MONGO_URL (and the password it is made of) of one agency service; pass (dict "root" $ "component" name). */}}
{{- define "casebridge.mongoEnv" -}}
{{- $root := .root -}}
{{- if $root.Values.mongodb.enabled }}
# Its own user in its own database (readWrite there only); the password from the Secret, expanded by the kubelet.
- name: MONGO_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ $root.Values.secrets.mongoAuth }}, key: {{ printf "%s-password" .component }} } }
- name: MONGO_URL
  value: {{ printf "mongodb://%s:$(MONGO_PASSWORD)@%s/casebridge_%s?replicaSet=rs0&authSource=casebridge_%s&tls=true&tlsCAFile=/etc/casebridge/tls/root.pem" .component (include "casebridge.mongoHosts" $root) .component .component | quote }}
{{- else }}
- name: MONGO_URL
  valueFrom: { secretKeyRef: { name: {{ $root.Values.secrets.mongo }}, key: {{ printf "%s-url" .component }} } }
{{- end }}
{{- end -}}

{{/* The NATS user a process authenticates as: NATS_NKEY_FILE, pointing into the volume of casebridge.natsUserVolume. */}}
{{- define "casebridge.natsUserEnv" -}}
- { name: NATS_NKEY_FILE, value: /etc/casebridge/nats/nkey.seed }
{{- end -}}

{{/* The volume mount of a process's NATS nkey seed. */}}
{{- define "casebridge.natsUserMount" -}}
- { name: nats-user, mountPath: /etc/casebridge/nats, readOnly: true }
{{- end -}}

{{/* The Secret <secrets.natsUserPrefix><user> (key nkey.seed, made by `npm run nats-auth -- secrets`) as the volume "nats-user"; pass (dict "root" $ "user" name). */}}
{{- define "casebridge.natsUserVolume" -}}
- name: nats-user
  secret:
    secretName: {{ printf "%s%s" .root.Values.secrets.natsUserPrefix .user }}
    defaultMode: 0440
    items:
      - { key: nkey.seed, path: nkey.seed }
{{- end -}}
