// Kubernetes object types as policies see them: plain JSON (timestamps are RFC 3339
// strings, quantities are strings or numbers). Every object type keeps an index
// signature, so fields not declared here still type-check (as `unknown`).

/** Label and annotation maps. */
export interface StringMap {
  [key: string]: string;
}

export interface V1GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface V1GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface V1OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface V1LabelSelectorRequirement {
  key: string;
  /** In, NotIn, Exists or DoesNotExist. */
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist" | (string & {});
  values?: string[];
}

export interface V1LabelSelector {
  matchLabels?: StringMap;
  matchExpressions?: V1LabelSelectorRequirement[];
}

export interface V1ManagedFieldsEntry {
  apiVersion?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  manager?: string;
  operation?: string;
  subresource?: string;
  /** RFC 3339 timestamp. */
  time?: string;
}

export interface V1ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  /** RFC 3339 timestamp (a string in the JSON a policy receives, not a Date). */
  creationTimestamp?: string;
  /** RFC 3339 timestamp; set while the object is being deleted. */
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: StringMap;
  annotations?: StringMap;
  ownerReferences?: V1OwnerReference[];
  finalizers?: string[];
  managedFields?: V1ManagedFieldsEntry[];
  selfLink?: string;
  /** Removed from Kubernetes; kept for code written against older typings. */
  clusterName?: string;
  [key: string]: unknown;
}

/** Any Kubernetes object. `Spec` and `Status` narrow the two usual sections. */
export interface KubernetesObject<Spec = unknown, Status = unknown> {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: Spec;
  status?: Status;
  [key: string]: unknown;
}

/** What list() items and get() results are unless a type argument says otherwise. */
export type V1Object = KubernetesObject;

// ---- core/v1: pods and containers ---------------------------------------------------------

export interface V1Capabilities {
  add?: string[];
  drop?: string[];
}

export interface V1SELinuxOptions {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

export interface V1SeccompProfile {
  type: "RuntimeDefault" | "Localhost" | "Unconfined" | (string & {});
  localhostProfile?: string;
}

export interface V1AppArmorProfile {
  type: "RuntimeDefault" | "Localhost" | "Unconfined" | (string & {});
  localhostProfile?: string;
}

export interface V1WindowsSecurityContextOptions {
  gmsaCredentialSpec?: string;
  gmsaCredentialSpecName?: string;
  hostProcess?: boolean;
  runAsUserName?: string;
}

/** A container's securityContext. */
export interface V1SecurityContext {
  allowPrivilegeEscalation?: boolean;
  appArmorProfile?: V1AppArmorProfile;
  capabilities?: V1Capabilities;
  privileged?: boolean;
  procMount?: string;
  readOnlyRootFilesystem?: boolean;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  seLinuxOptions?: V1SELinuxOptions;
  seccompProfile?: V1SeccompProfile;
  windowsOptions?: V1WindowsSecurityContextOptions;
  [key: string]: unknown;
}

export interface V1Sysctl {
  name: string;
  value: string;
}

/** A pod's spec.securityContext. */
export interface V1PodSecurityContext {
  appArmorProfile?: V1AppArmorProfile;
  fsGroup?: number;
  fsGroupChangePolicy?: string;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  seLinuxOptions?: V1SELinuxOptions;
  seccompProfile?: V1SeccompProfile;
  supplementalGroups?: number[];
  sysctls?: V1Sysctl[];
  windowsOptions?: V1WindowsSecurityContextOptions;
  [key: string]: unknown;
}

export interface V1ContainerPort {
  containerPort: number;
  hostIP?: string;
  hostPort?: number;
  name?: string;
  protocol?: "TCP" | "UDP" | "SCTP" | (string & {});
}

export interface V1EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name?: string; key: string; optional?: boolean };
    secretKeyRef?: { name?: string; key: string; optional?: boolean };
    fieldRef?: { apiVersion?: string; fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
    [key: string]: unknown;
  };
}

export interface V1EnvFromSource {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

/** Resource quantities, e.g. {cpu: "500m", memory: "128Mi"}. */
export interface V1ResourceList {
  [resource: string]: string | number;
}

export interface V1ResourceRequirements {
  limits?: V1ResourceList;
  requests?: V1ResourceList;
  claims?: { name: string; request?: string }[];
}

export interface V1VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  subPathExpr?: string;
  mountPropagation?: string;
  recursiveReadOnly?: string;
}

export interface V1Probe {
  exec?: { command?: string[] };
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; [key: string]: unknown };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

export interface V1Container {
  name: string;
  image?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never" | (string & {});
  command?: string[];
  args?: string[];
  workingDir?: string;
  ports?: V1ContainerPort[];
  env?: V1EnvVar[];
  envFrom?: V1EnvFromSource[];
  resources?: V1ResourceRequirements;
  volumeMounts?: V1VolumeMount[];
  livenessProbe?: V1Probe;
  readinessProbe?: V1Probe;
  startupProbe?: V1Probe;
  securityContext?: V1SecurityContext;
  restartPolicy?: string;
  stdin?: boolean;
  tty?: boolean;
  [key: string]: unknown;
}

/** Ephemeral (debug) containers have the container fields plus a target. */
export interface V1EphemeralContainer extends V1Container {
  targetContainerName?: string;
}

export interface V1Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: { medium?: string; sizeLimit?: string | number };
  configMap?: { name?: string; [key: string]: unknown };
  secret?: { secretName?: string; [key: string]: unknown };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  projected?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface V1Toleration {
  key?: string;
  operator?: "Exists" | "Equal" | (string & {});
  value?: string;
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute" | (string & {});
  tolerationSeconds?: number;
}

export interface V1LocalObjectReference {
  name?: string;
}

export interface V1PodSpec {
  containers: V1Container[];
  initContainers?: V1Container[];
  ephemeralContainers?: V1EphemeralContainer[];
  volumes?: V1Volume[];
  serviceAccountName?: string;
  /** Deprecated alias of serviceAccountName. */
  serviceAccount?: string;
  automountServiceAccountToken?: boolean;
  nodeName?: string;
  nodeSelector?: StringMap;
  affinity?: Record<string, unknown>;
  tolerations?: V1Toleration[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostUsers?: boolean;
  shareProcessNamespace?: boolean;
  securityContext?: V1PodSecurityContext;
  imagePullSecrets?: V1LocalObjectReference[];
  restartPolicy?: "Always" | "OnFailure" | "Never" | (string & {});
  priorityClassName?: string;
  priority?: number;
  runtimeClassName?: string;
  schedulerName?: string;
  dnsPolicy?: string;
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  [key: string]: unknown;
}

export interface V1ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  containerID?: string;
  state?: Record<string, unknown>;
  lastState?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface V1PodStatus {
  phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown" | (string & {});
  conditions?: V1Condition[];
  hostIP?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  qosClass?: string;
  containerStatuses?: V1ContainerStatus[];
  initContainerStatuses?: V1ContainerStatus[];
  [key: string]: unknown;
}

/** A condition as most status sections carry them. */
export interface V1Condition {
  type: string;
  status: "True" | "False" | "Unknown" | (string & {});
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
  [key: string]: unknown;
}

export interface V1Pod extends KubernetesObject<V1PodSpec, V1PodStatus> {
  apiVersion?: "v1" | (string & {});
  kind?: "Pod" | (string & {});
}

export interface V1PodTemplateSpec {
  metadata?: V1ObjectMeta;
  spec?: V1PodSpec;
}

// ---- core/v1: namespaces, services, config ---------------------------------------------------

export interface V1NamespaceSpec {
  finalizers?: string[];
}

export interface V1NamespaceStatus {
  phase?: "Active" | "Terminating" | (string & {});
  conditions?: V1Condition[];
}

export interface V1Namespace extends KubernetesObject<V1NamespaceSpec, V1NamespaceStatus> {
  apiVersion?: "v1" | (string & {});
  kind?: "Namespace" | (string & {});
}

export interface V1ServicePort {
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  name?: string;
  protocol?: "TCP" | "UDP" | "SCTP" | (string & {});
  appProtocol?: string;
}

export interface V1ServiceSpec {
  type?: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" | (string & {});
  selector?: StringMap;
  ports?: V1ServicePort[];
  clusterIP?: string;
  clusterIPs?: string[];
  externalIPs?: string[];
  externalName?: string;
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  loadBalancerClass?: string;
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  sessionAffinity?: string;
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  [key: string]: unknown;
}

export interface V1Service extends KubernetesObject<V1ServiceSpec, Record<string, unknown>> {
  apiVersion?: "v1" | (string & {});
  kind?: "Service" | (string & {});
}

export interface V1ConfigMap extends KubernetesObject {
  data?: StringMap;
  binaryData?: StringMap;
  immutable?: boolean;
}

export interface V1Secret extends KubernetesObject {
  /** Values are base64; decode them with atob(). */
  data?: StringMap;
  stringData?: StringMap;
  type?: string;
  immutable?: boolean;
}

export interface V1ServiceAccount extends KubernetesObject {
  secrets?: { name?: string; namespace?: string; [key: string]: unknown }[];
  imagePullSecrets?: V1LocalObjectReference[];
  automountServiceAccountToken?: boolean;
}

// ---- networking.k8s.io/v1 ---------------------------------------------------------------------

export interface V1IngressServiceBackend {
  name: string;
  port?: { name?: string; number?: number };
}

export interface V1IngressBackend {
  service?: V1IngressServiceBackend;
  resource?: { apiGroup?: string; kind: string; name: string };
}

export interface V1HTTPIngressPath {
  path?: string;
  pathType: "Exact" | "Prefix" | "ImplementationSpecific" | (string & {});
  backend: V1IngressBackend;
}

export interface V1IngressRule {
  host?: string;
  http?: { paths: V1HTTPIngressPath[] };
}

export interface V1IngressTLS {
  hosts?: string[];
  secretName?: string;
}

export interface V1IngressSpec {
  ingressClassName?: string;
  defaultBackend?: V1IngressBackend;
  rules?: V1IngressRule[];
  tls?: V1IngressTLS[];
  [key: string]: unknown;
}

export interface V1Ingress extends KubernetesObject<V1IngressSpec, Record<string, unknown>> {
  apiVersion?: "networking.k8s.io/v1" | (string & {});
  kind?: "Ingress" | (string & {});
}

// ---- apps/v1 -----------------------------------------------------------------------------------

export interface V1DeploymentStrategy {
  type?: "Recreate" | "RollingUpdate" | (string & {});
  rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
}

export interface V1DeploymentSpec {
  replicas?: number;
  selector: V1LabelSelector;
  template: V1PodTemplateSpec;
  strategy?: V1DeploymentStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
  [key: string]: unknown;
}

export interface V1DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: V1Condition[];
  [key: string]: unknown;
}

export interface V1Deployment extends KubernetesObject<V1DeploymentSpec, V1DeploymentStatus> {
  apiVersion?: "apps/v1" | (string & {});
  kind?: "Deployment" | (string & {});
}

export interface V1StatefulSetSpec {
  replicas?: number;
  selector: V1LabelSelector;
  template: V1PodTemplateSpec;
  serviceName?: string;
  volumeClaimTemplates?: KubernetesObject[];
  podManagementPolicy?: string;
  updateStrategy?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface V1StatefulSet extends KubernetesObject<V1StatefulSetSpec, Record<string, unknown>> {
  apiVersion?: "apps/v1" | (string & {});
  kind?: "StatefulSet" | (string & {});
}

export interface V1DaemonSetSpec {
  selector: V1LabelSelector;
  template: V1PodTemplateSpec;
  updateStrategy?: Record<string, unknown>;
  minReadySeconds?: number;
  [key: string]: unknown;
}

export interface V1DaemonSet extends KubernetesObject<V1DaemonSetSpec, Record<string, unknown>> {
  apiVersion?: "apps/v1" | (string & {});
  kind?: "DaemonSet" | (string & {});
}

export interface V1ReplicaSetSpec {
  replicas?: number;
  selector: V1LabelSelector;
  template?: V1PodTemplateSpec;
  minReadySeconds?: number;
  [key: string]: unknown;
}

export interface V1ReplicaSet extends KubernetesObject<V1ReplicaSetSpec, Record<string, unknown>> {
  apiVersion?: "apps/v1" | (string & {});
  kind?: "ReplicaSet" | (string & {});
}

// ---- batch/v1 ----------------------------------------------------------------------------------

export interface V1JobSpec {
  template: V1PodTemplateSpec;
  parallelism?: number;
  completions?: number;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  ttlSecondsAfterFinished?: number;
  selector?: V1LabelSelector;
  suspend?: boolean;
  [key: string]: unknown;
}

export interface V1Job extends KubernetesObject<V1JobSpec, Record<string, unknown>> {
  apiVersion?: "batch/v1" | (string & {});
  kind?: "Job" | (string & {});
}

export interface V1CronJobSpec {
  schedule: string;
  timeZone?: string;
  jobTemplate: { metadata?: V1ObjectMeta; spec?: V1JobSpec };
  concurrencyPolicy?: "Allow" | "Forbid" | "Replace" | (string & {});
  suspend?: boolean;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  startingDeadlineSeconds?: number;
  [key: string]: unknown;
}

export interface V1CronJob extends KubernetesObject<V1CronJobSpec, Record<string, unknown>> {
  apiVersion?: "batch/v1" | (string & {});
  kind?: "CronJob" | (string & {});
}
