// Types of jspolicy-guardrails. Structural and loose on purpose: they accept @jspolicy/types'
// V1AdmissionRequest and the @kubernetes/client-node models, and plain objects, without depending on either.

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: { [key: string]: string };
  annotations?: { [key: string]: string };
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  [field: string]: unknown;
}

export interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  [field: string]: unknown;
}

/** A Pod, or the pod template of a workload: what podTemplateOf returns. */
export interface PodTemplate {
  metadata: ObjectMeta;
  spec: PodSpec;
}

/** Any Kubernetes object: a Pod, a Deployment, a CronJob, a Namespace... */
export interface KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: any;
  [field: string]: unknown;
}

/** The parts of an admission request (jsPolicy's global `request`) the checks read. */
export interface AdmissionRequest {
  kind?: { group?: string; version?: string; kind: string };
  name?: string;
  namespace?: string;
  operation?: string;
  userInfo?: { username?: string; groups?: string[]; [field: string]: unknown };
  object?: KubernetesObject | null;
  oldObject?: KubernetesObject | null;
  [field: string]: unknown;
}

/** A namespace or registry pattern: an exact string, or a RegExp. */
export type Pattern = string | RegExp;

// -- pod-security (lib/pod-security.js, lib/pod-security-admission.js): the Pod Security Standards -------

/** A Pod Security Standards level. */
export type PodSecurityLevel = "privileged" | "baseline" | "restricted";
/** A policy version: "latest" or "v1.<minor>" (versions past the newest evaluate as the newest). */
export type PodSecurityVersion = string;
/** A level at a version, e.g. {level: "restricted", version: "v1.30"}. */
export interface PodSecurityLevelVersion {
  level: PodSecurityLevel;
  version: PodSecurityVersion;
}
/** One failed control: upstream's ForbiddenReason and ForbiddenDetail. */
export interface PodSecurityViolation {
  reason: string;
  detail: string;
}
/** The level and version of each mode of a namespace, and the label errors found on the way. */
export interface PodSecurityPolicy {
  enforce: PodSecurityLevelVersion;
  audit: PodSecurityLevelVersion;
  warn: PodSecurityLevelVersion;
  errors: { label: string; value: string; detail: string }[];
}
export interface PodSecurityExemptions {
  usernames: string[];
  namespaces: string[];
  runtimeClasses: string[];
}
export interface PodSecuritySettings {
  defaults: { enforce: PodSecurityLevelVersion; audit: PodSecurityLevelVersion; warn: PodSecurityLevelVersion };
  exemptions: PodSecurityExemptions;
}
/** What podSecurityReview decides: a denial or none, the API server's warnings, and the audit records. */
export interface PodSecurityReview {
  denial: { message: string; reason: string; code: number } | undefined;
  warnings: string[];
  audit: string[];
}

/** `PodSecurity "baseline:latest"`: the level podSecurityBaselineViolation names. */
export declare const BASELINE: string;
/** The newest policy version any control changes at ("v1.35"); later ones and "latest" evaluate as it. */
export declare const NEWEST_POD_SECURITY_VERSION: string;
/** privileged, baseline, restricted. */
export declare const POD_SECURITY_LEVELS: PodSecurityLevel[];
/** "pod-security.kubernetes.io/": the prefix of the namespace labels that choose the levels. */
export declare const POD_SECURITY_LABEL_PREFIX: string;
/** 3000: how many existing pods a tightened namespace enforce level is checked against, as upstream. */
export declare const POD_SECURITY_MAX_PODS_TO_CHECK: number;

/** A level label value as upstream reads it; an invalid one is restricted with an error. */
export declare function parsePodSecurityLevel(value: unknown): { level: PodSecurityLevel; error?: string };
/** A version label value as upstream reads it; an invalid one is latest with an error. */
export declare function parsePodSecurityVersion(value: unknown): { version: PodSecurityVersion; error?: string };

/**
 * The violations of a Pod or a workload's pod template at a level and version, one per failed control in
 * upstream's order, with upstream's words; empty when it complies or holds no pod. Throws on a bad level/version.
 */
export declare function podSecurity(
  object: KubernetesObject | null | undefined,
  level: PodSecurityLevel,
  version?: PodSecurityVersion,
): PodSecurityViolation[];
/** `reason (detail), reason (detail)`: the violations as the API server's message lists them. */
export declare function podSecurityDetail(violations: PodSecurityViolation[]): string;
/** `<Kind> <name> violates PodSecurity "<level>:<version>": ...` for the request's object, or undefined. */
export declare function podSecurityViolation(
  request: AdmissionRequest,
  level: PodSecurityLevel,
  version?: PodSecurityVersion,
): string | undefined;

/**
 * The Pod Security Standards baseline (latest) violations of a Pod or of a workload's pod template, one
 * `reason (detail)` per failed control; empty when the object complies or holds no pod.
 */
export declare function podSecurityBaseline(object: KubernetesObject | null | undefined): string[];

/**
 * `<Kind> <name> violates PodSecurity "baseline:latest": <violations>` for the request's object (the
 * library policy's denial message), or undefined when it complies.
 */
export declare function podSecurityBaselineViolation(request: AdmissionRequest): string | undefined;

/** A namespace's policy from its pod-security.kubernetes.io/ labels over the defaults, as upstream. */
export declare function podSecurityPolicyOf(
  labels: { [key: string]: string } | null | undefined,
  defaults: PodSecuritySettings["defaults"],
): PodSecurityPolicy;
/** The pod-security-* options: defaults of each mode and the exemptions (throws OptionError on a bad value). */
export declare function podSecurityOptions(options: Options): PodSecuritySettings;
/** The pod-security-exempt-* options. */
export declare function podSecurityExemptions(options: Options): PodSecurityExemptions;
/** Whether a pod update is judged (containers added or removed, an image changed, an ephemeral container added). */
export declare function isSignificantPodUpdate(pod: KubernetesObject | null | undefined, oldPod: KubernetesObject | null | undefined): boolean;
/** The API server's warnings about existing pods when a namespace's enforce level tightens. */
export declare function podSecurityNamespaceWarnings(
  namespace: string,
  pods: KubernetesObject[],
  enforce: PodSecurityLevelVersion,
  exemptions?: Pick<PodSecurityExemptions, "runtimeClasses">,
): string[];
/** The Pod Security admission decision on a request (Pods, workloads' pod templates, Namespaces' labels). */
export declare function podSecurityReview(
  request: AdmissionRequest,
  settings: Partial<PodSecuritySettings> & {
    exemptions: PodSecurityExemptions;
    namespace?: (name: string) => KubernetesObject | undefined;
    pods?: (name: string) => KubernetesObject[];
    fixed?: { level: PodSecurityLevel; version?: PodSecurityVersion };
  },
): PodSecurityReview;
/** podSecurityReview with the options, Namespaces and pods read through the policy helpers get and list. */
export declare function reviewPodSecurityRequest(
  request: AdmissionRequest,
  get: (kind: string, apiVersion: string, name: string) => KubernetesObject | undefined,
  list: (kind: string, apiVersion: string, options?: { namespace?: string }) => KubernetesObject[] | undefined,
  fixed?: { level: PodSecurityLevel; version?: PodSecurityVersion },
): PodSecurityReview;
// -- end pod-security --

/** A message for an object in (or a Namespace named) one of `names`; empty otherwise. */
export declare function disallowNamespaces(request: AdmissionRequest, names: Pattern[]): string[];

/** A message per image not from one of `registries` (hosts, host/path prefixes, or RegExps). */
export declare function allowedRegistries(images: ReadonlyArray<string | undefined>, registries: Pattern[]): string[];

/** A message per label of `keys` that the object lacks. */
export declare function requireLabels(object: KubernetesObject | null | undefined, keys: string[]): string[];

/** The pod of a Pod, or the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or CronJob. */
export declare function podTemplateOf(object: KubernetesObject | null | undefined): PodTemplate | undefined;

/** The pod spec of a Pod or of a workload's pod template; undefined for objects that hold no pod. */
export declare function podSpecOf(object: KubernetesObject | null | undefined): PodSpec | undefined;

/** initContainers, containers and ephemeralContainers of a pod spec, in that order. */
export declare function containersOf(podSpec: PodSpec | null | undefined): Container[];

/** How messages name the request's object: "Pod web", "Deployment shop" (a generateName prefix if no name yet). */
export declare function subjectOf(request: AdmissionRequest): string;

// -- options (lib/options.js): how every library policy is configured ----------------------------------

/** Option values as ConfigMap data and annotations hold them: strings by option key. */
export type Options = { [key: string]: string };

/** The namespace of the library's ConfigMap, "jspolicy". */
export declare const OPTIONS_NAMESPACE: string;
/** The name of the library's ConfigMap, "jspolicy-guardrails". */
export declare const OPTIONS_CONFIGMAP: string;
/** "guardrails.jspolicy.com/": the prefix of per-namespace option annotations and of the tenant label. */
export declare const PREFIX: string;
/** "guardrails.jspolicy.com/tenant": the Namespace label naming its tenant. */
export declare const TENANT_LABEL: string;
/** Namespaces no tenancy guardrail judges: kube-system, kube-public, kube-node-lease, jspolicy. */
export declare const SYSTEM_NAMESPACES: string[];

/** An option value that cannot be read; its message names the key, the value and what was expected. */
export declare class OptionError extends Error {
  constructor(key: string, value: unknown, expected: string);
}

/** The ConfigMap's data overlaid by the Namespace's guardrails.jspolicy.com/<key> annotations for `perNamespace`. */
export declare function resolveOptions(
  configMap: KubernetesObject | null | undefined,
  namespace: KubernetesObject | null | undefined,
  perNamespace?: string[],
): Options;

/** `resolveOptions` with both objects read through the policy helper `get`. */
export declare function readOptions(
  get: (kind: string, apiVersion: string, name: string) => KubernetesObject | undefined,
  request: AdmissionRequest,
  perNamespace?: string[],
): Options;

/** The request's namespace (a Namespace's own name); "" for other cluster-scoped objects. */
export declare function namespaceOf(request: AdmissionRequest): string;
/** Whether `key` is set to a non-blank value. */
export declare function hasOption(options: Options, key: string): boolean;
/** A comma- or whitespace-separated list option. */
export declare function listOption(options: Options, key: string, fallback?: string[]): string[];
/** A number option of at least `min` (throws OptionError otherwise). */
export declare function numberOption(options: Options, key: string, fallback: number, min?: number): number;
/** A true/false option (throws OptionError otherwise). */
export declare function booleanOption(options: Options, key: string, fallback: boolean): boolean;
/** A Kubernetes quantity ("500m", "2Gi") as a number, or undefined when it is not one. */
export declare function parseQuantity(text: unknown): number | undefined;
/** A quantity option as a number (throws OptionError otherwise). */
export declare function quantityOption(options: Options, key: string, fallback: number): number;
/** A system or excluded namespace, or an exempt user or group: tenancy guardrails leave the request alone. */
export declare function isExempt(request: AdmissionRequest, options: Options): boolean;
/** The tenant of a Namespace object (its guardrails.jspolicy.com/tenant label), or "". */
export declare function tenantOf(namespace: KubernetesObject | null | undefined): string;

// -- namespaces, rbac, tenant-defaults (lib/namespaces.js, lib/rbac.js, lib/tenant-defaults.js) ---------

/** "tenant:": users in the group tenant:<name> are members of tenant <name>. */
export declare const TENANT_GROUP_PREFIX: string;
/** Namespace label/annotation prefixes only the platform team may change: guardrails.jspolicy.com/, pod-security.kubernetes.io/. */
export declare const PROTECTED_PREFIXES: string[];
/** "guardrails.jspolicy.com/protected": the label or annotation (value "true") protecting an object from deletion. */
export declare const PROTECTED_KEY: string;

/** A `key=value, ...` option as [key, value] pairs; `check` returns what was expected to refuse a pair (OptionError). */
export declare function pairsOption(
  options: Options,
  key: string,
  check?: (key: string, value: string) => string | undefined,
): [string, string][];
/** `check()`'s messages, or the message of the OptionError it throws (so a policy denies with it). */
export declare function optionChecked(check: () => string[]): string[];
/** A list of namespace names (throws OptionError for a name that is not a DNS label). */
export declare function namespaceListOption(options: Options, key: string): string[];
/** The tenants of the requesting user: groups tenant:<name>, and groups mapped by the tenant-groups option. */
export declare function userTenants(request: AdmissionRequest, options: Options): string[];
/** Not exempt, and namespaced or (for cluster-scoped objects) made by a tenant. */
export declare function isTenantRequest(request: AdmissionRequest, options: Options): boolean;
/** The tenant of a Namespace being created and what is wrong with its name or tenant label. */
export declare function newNamespaceTenant(
  request: AdmissionRequest,
  options: Options,
): { tenant: string; problems: string[] };
/** A message naming each protected Namespace label or annotation the request adds, changes or removes. */
export declare function protectedNamespaceChanges(request: AdmissionRequest, options: Options): string[];
/** A message for kubectl exec/attach (port-forward as an option) into a pod of a protected namespace. */
export declare function protectedExec(request: AdmissionRequest, options: Options): string[];
/** A message for the DELETE of an object marked guardrails.jspolicy.com/protected: "true" or a listed Namespace. */
export declare function protectedDeletion(request: AdmissionRequest, options: Options): string[];

/** escalate, bind, impersonate: the default of rbac-forbidden-verbs. */
export declare const ESCALATION_VERBS: string[];
/** cluster-admin, admin: the default of privileged-roles. */
export declare const PRIVILEGED_ROLES: string[];
/** "kubernetes.io/service-account-token". */
export declare const SERVICE_ACCOUNT_TOKEN: string;
/** A message per wildcard or forbidden verb in the rules of the request's Role or ClusterRole. */
export declare function wildcardRbac(request: AdmissionRequest, options: Options): string[];
/** A message for a binding of a privileged ClusterRole to subjects outside rolebinding-allowed-subjects. */
export declare function privilegedBinding(request: AdmissionRequest, options: Options): string[];
/** A message for a Secret of type kubernetes.io/service-account-token, unless allow-service-account-token-secrets. */
export declare function serviceAccountTokenSecret(request: AdmissionRequest, options: Options): string[];

/** What one kind of tenant default is: TENANT_RESOURCE_QUOTA, TENANT_LIMIT_RANGE, TENANT_NETWORK_POLICY. */
export interface TenantDefaults {
  apiVersion: string;
  kind: string;
  /** The option keys it reads per namespace. */
  options: string[];
  /** The spec for these options (throws OptionError for a bad one). */
  spec(options: Options): { [field: string]: unknown };
}

/** The policy helpers a controller policy passes to reconcileTenantDefaults: jsPolicy's globals get, create, update. */
export interface PolicyCluster {
  get(kind: string, apiVersion: string, name: string, options?: { cache?: boolean | "smart" }): KubernetesObject | undefined;
  create(object: KubernetesObject): { ok: boolean; object?: KubernetesObject; reason?: string; message?: string };
  update(object: KubernetesObject): { ok: boolean; object?: KubernetesObject; reason?: string; message?: string };
}

/** "guardrails-default": the name of every object the tenant-defaults policies make. */
export declare const DEFAULTS_NAME: string;
/** "app.kubernetes.io/managed-by": with the value MANAGER, marks the objects the library manages. */
export declare const MANAGED_BY_LABEL: string;
/** "jspolicy-guardrails". */
export declare const MANAGER: string;
/** The default of quota-hard. */
export declare const DEFAULT_QUOTA_HARD: string;
/** The default of limit-range-default. */
export declare const DEFAULT_LIMIT: string;
/** The default of limit-range-default-request. */
export declare const DEFAULT_REQUEST: string;
export declare const TENANT_RESOURCE_QUOTA: TenantDefaults;
export declare const TENANT_LIMIT_RANGE: TenantDefaults;
export declare const TENANT_NETWORK_POLICY: TenantDefaults;
/** A `resource=quantity, ...` option as an object of quantity strings (throws OptionError). */
export declare function quantitiesOption(options: Options, key: string, fallback?: string): { [resource: string]: string };
/** The object `defaults` builds for a namespace, named DEFAULTS_NAME and labelled as managed by the library. */
export declare function tenantDefaultFor(defaults: TenantDefaults, namespace: string, options: Options): KubernetesObject;
/** Whether two specs say the same (empty equals missing, quantities by value). */
export declare function sameSpec(a: unknown, b: unknown): boolean;
/** Ensures the tenant default an event of a controller policy concerns; what was written, to retry, refused. */
export declare function reconcileTenantDefaults(
  request: AdmissionRequest,
  defaults: TenantDefaults,
  cluster: PolicyCluster,
): { done: string[]; retry: string[]; problems: string[] };

// -- network, storage (lib/network.js, lib/storage.js): Services, Ingresses, Endpoints, claims, hostPath --

/** An IP address: IPv4 (also for IPv4-mapped IPv6) or IPv6, as a number. */
export interface IPAddress {
  family: 4 | 6;
  value: bigint;
}
/** A CIDR: its network address and prefix length. */
export interface CIDR extends IPAddress {
  bits: number;
}
/** What a request's checks come to: one denial naming the object (new problems), warnings for old ones. */
export interface ChangeVerdict {
  denial: string | undefined;
  warnings: string[];
}
/** One claim an object makes: a PVC itself (where ""), a volumeClaimTemplate, a pod's ephemeral volume. */
export interface Claim {
  where: string;
  metadata: ObjectMeta;
  spec: { storageClassName?: string | null; resources?: { requests?: { [k: string]: string }; limits?: { [k: string]: string } }; [field: string]: unknown };
}
/** One address of an Endpoints or EndpointSlice and where it is. */
export interface EndpointAddress {
  field: string;
  address: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; [field: string]: unknown };
}

/** Values quoted and joined with ", " as messages show them. */
export declare function quoted(values: ReadonlyArray<unknown>): string;
/** "set guardrails.jspolicy.com/<key> on the namespace", or "set <key> in the ConfigMap jspolicy/jspolicy-guardrails". */
export declare function howToSet(key: string, namespace: string, perNamespace?: boolean): string;
/** Runs `check` on the object (and on the old object of an UPDATE): new problems deny, old ones warn. */
export declare function judgeChange(request: AdmissionRequest, check: (object: KubernetesObject) => string[]): ChangeVerdict;
/** An IPv4 or IPv6 address, or undefined. */
export declare function parseIP(text: unknown): IPAddress | undefined;
/** A CIDR or a single address (a /32 or /128), or undefined. */
export declare function parseCIDR(text: unknown): CIDR | undefined;
/** Whether the address lies in one of the ranges. */
export declare function inCIDRs(ip: string, ranges: ReadonlyArray<CIDR>): boolean;
/** A list option of CIDRs (throws OptionError). */
export declare function cidrOption(options: Options, key: string): CIDR[];
/** restrict-service-types: the Service's type against allowed-service-types. */
export declare function serviceTypeProblems(service: KubernetesObject | null | undefined, options: Options, namespace: string): string[];
/** disallow-external-ips: spec.externalIPs against allowed-external-ips (CVE-2020-8554). */
export declare function externalIPProblems(service: KubernetesObject | null | undefined, options: Options): string[];
/** The cluster-domain option (default cluster.local). */
export declare function clusterDomainOption(options: Options): string;
/** Why an ExternalName target resolves inside the cluster, or undefined for an external host. */
export declare function internalNameReason(
  name: string,
  clusterDomain: string,
  namespace: string,
  namespaceExists?: (name: string) => boolean,
): string | undefined;
/** restrict-externalname-services: ExternalName Services that alias cluster-internal names. */
export declare function externalNameProblems(
  service: KubernetesObject | null | undefined,
  options: Options,
  namespace: string,
  namespaceExists?: (name: string) => boolean,
): string[];
/** rules[].host and tls[].hosts[], lower case, each once. */
export declare function ingressHostsOf(ingress: KubernetesObject | null | undefined): string[];
/** Whether two Ingress hosts can take the same request (a one-label wildcard covers its hosts). */
export declare function hostsOverlap(a: string, b: string, wildcards?: boolean): boolean;
/** unique-ingress-hosts: hosts already used by Ingresses of other namespaces (or tenants). */
export declare function ingressHostConflicts(
  ingress: KubernetesObject | null | undefined,
  options: Options,
  namespace: string,
  ingresses: ReadonlyArray<KubernetesObject> | null | undefined,
  tenantOfNamespace?: (namespace: string) => string,
): string[];
/** The allowed-ingress-hosts patterns for a namespace, placeholders replaced; undefined when unset. */
export declare function ingressHostPatterns(options: Options, namespace: string, tenant: string): string[] | undefined;
/** Whether a host matches a pattern: "*", "*.example.com" (anything below), or the name itself. */
export declare function hostMatches(pattern: string, host: string): boolean;
/** ingress-host-allowlist: hosts outside allowed-ingress-hosts, rules without host, defaultBackend. */
export declare function ingressHostAllowlistProblems(
  ingress: KubernetesObject | null | undefined,
  options: Options,
  namespace: string,
  tenant?: string,
): string[];
/** spec.ingressClassName and the kubernetes.io/ingress.class annotation, each once. */
export declare function ingressClassesOf(ingress: KubernetesObject | null | undefined): string[];
/** restrict-ingress-class: classes outside allowed-ingress-classes, or none when require-ingress-class. */
export declare function ingressClassProblems(ingress: KubernetesObject | null | undefined, options: Options, namespace: string): string[];
/** disallow-risky-ingress-annotations: ingress-nginx annotations and paths that can inject nginx configuration. */
export declare function riskyIngressProblems(ingress: KubernetesObject | null | undefined, options: Options, namespace: string): string[];
/** The users that manage Endpoints and EndpointSlices in the control plane. */
export declare const ENDPOINT_MANAGERS: string[];
/** Whether the user is a control-plane endpoints manager or listed in endpoint-managers. */
export declare function isEndpointManager(username: string, options: Options): boolean;
/** The addresses of an Endpoints or EndpointSlice. */
export declare function endpointAddressesOf(object: KubernetesObject | null | undefined): EndpointAddress[];
/** restrict-endpoints: hand-made addresses outside allowed-endpoint-cidrs, cross-namespace targetRefs, a spoofed managed-by. */
export declare function endpointProblems(object: KubernetesObject | null | undefined, options: Options, namespace: string): string[];

/** The claims of a PVC, a StatefulSet's volumeClaimTemplates, and the ephemeral volumes of pods and templates. */
export declare function claimsOf(object: KubernetesObject | null | undefined): Claim[];
/** A claim's storage class (spec.storageClassName, else the legacy annotation), "" for none. */
export declare function storageClassOf(claim: Claim): string;
/** restrict-storage-classes: classes outside allowed-storage-classes, or none when require-storage-class. */
export declare function storageClassProblems(object: KubernetesObject | null | undefined, options: Options, namespace: string): string[];
/** limit-pvc-size: claims above max-pvc-size. */
export declare function pvcSizeProblems(object: KubernetesObject | null | undefined, options: Options, namespace: string): string[];
/** An absolute path without ".", "//" or a trailing "/"; undefined when relative or with "..". */
export declare function cleanHostPath(path: unknown): string | undefined;
/** The allowed-host-paths option (throws OptionError). */
export declare function hostPathPrefixesOption(options: Options): string[];
/** Whether a path is one of the prefixes or below one, segment by segment. */
export declare function underHostPaths(path: unknown, prefixes: ReadonlyArray<string>): boolean;
/** disallow-host-path: hostPath volumes of pods and templates, hostPath/local PersistentVolumes, writable mounts. */
export declare function hostPathProblems(object: KubernetesObject | null | undefined, options: Options, namespace: string): string[];

// -- images, scheduling, resources (lib/images.js, lib/scheduling.js, lib/resources.js) --------------------

/** An image reference as the container runtime reads it; `tag` and `digest` are "" when absent. */
export interface ImageReference {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
}

/** One image a pod uses: `where` names the container or image volume, `field` its pull policy's field. */
export interface ImageSource {
  where: string;
  image: string;
  pullPolicy?: string;
  field: "imagePullPolicy" | "pullPolicy";
}

/** A node pool: the label `key=value` its nodes carry. */
export interface NodePool {
  key: string;
  value: string;
}

/** Registries allowed when the `allowed-registries` option is unset: docker.io/library, registry.k8s.io. */
export declare const DEFAULT_REGISTRIES: string[];
/** `nginx:1.27` is registry docker.io, repository library/nginx, tag 1.27 (Docker's normalization). */
export declare function parseImage(image: string): ImageReference;
/** The images of a Pod or workload: init, regular and ephemeral containers, image volumes. */
export declare function imageSourcesOf(object: KubernetesObject | null | undefined): ImageSource[];
/** The pull policy the API server defaults a container to: Always for :latest and untagged images. */
export declare function defaultPullPolicy(image: string): "Always" | "IfNotPresent";
/** allowed-registries: the denial for sources not from the `allowed-registries` registries (throws OptionError). */
export declare function registryViolations(request: AdmissionRequest, options: Options, sources: ImageSource[]): string[];
/** disallow-latest-tag: untagged, `disallowed-image-tags` and (with `require-image-digest`) unpinned images. */
export declare function tagViolations(request: AdmissionRequest, options: Options, sources: ImageSource[]): string[];
/** require-image-pull-policy: sources whose explicit or defaulted pull policy is not Always. */
export declare function pullPolicyViolations(request: AdmissionRequest, options: Options, sources: ImageSource[]): string[];

/** PriorityClasses no tenant pod may use: system-cluster-critical, system-node-critical. */
export declare const SYSTEM_PRIORITY_CLASSES: string[];
/** Toleration keys allowed when `allowed-toleration-keys` is unset: node.kubernetes.io/*. */
export declare const DEFAULT_TOLERATION_KEYS: string[];
/** The API server, the controller manager and its kube-system ServiceAccounts, the scheduler, kubelets. */
export declare function isControlPlane(request: AdmissionRequest): boolean;
/** `pick(object)`, on UPDATE without the items `pick(oldObject)` holds unchanged (compared as JSON). */
export declare function addedBy<T>(request: AdmissionRequest, pick: (object: KubernetesObject | null | undefined) => T[] | undefined): T[];
/** Whether `key` is a label key (optional DNS subdomain prefix and "/", a name of at most 63 characters). */
export declare function isLabelKey(key: string): boolean;
/** The name of the globalDefault PriorityClass (the lowest value among several), or "". */
export declare function defaultPriorityClass(priorityClasses: KubernetesObject[] | null | undefined): string;
/** restrict-priority-class: a priorityClassName neither allowed nor the cluster default, or a system class. */
export declare function priorityClassViolations(
  request: AdmissionRequest,
  options: Options,
  priorityClasses: () => KubernetesObject[] | null | undefined,
): string[];
/** The `node-pool` option as {key, value}, or undefined when unset (throws OptionError on a bad value). */
export declare function nodePoolOf(options: Options): NodePool | undefined;
/** restrict-node-pool: tolerations, nodeSelector and required node affinity outside the namespace's pool. */
export declare function nodePoolViolations(request: AdmissionRequest, options: Options): string[];
/** A copy of the request's object with the pool added to its pod's nodeSelector, or undefined. */
export declare function withNodePool(request: AdmissionRequest, options: Options): KubernetesObject | undefined;
/** disallow-node-name: a spec.nodeName set by a tenant, unless `allow-node-name`. */
export declare function nodeNameViolations(request: AdmissionRequest, options: Options): string[];

/** Resources required when `required-resources` is unset: requests.cpu, requests.memory, limits.memory. */
export declare const DEFAULT_REQUIRED_RESOURCES: string[];
/** The replicas allowed per workload when `max-replicas` is unset: 10. */
export declare const DEFAULT_MAX_REPLICAS: number;
/** require-resources: missing requests/limits, amounts above the max-* options, requests above limits. */
export declare function resourceViolations(request: AdmissionRequest, options: Options): string[];
/** A workload's or Scale's spec.replicas (1 when unset), an autoscaler's maxReplicas. */
export declare function replicasOf(object: KubernetesObject | null | undefined): number;
/** Whether the request asks for more replicas than before (every CREATE does). */
export declare function replicasGrow(request: AdmissionRequest): boolean;
/** limit-replicas: more replicas (or maxReplicas) than the `max-replicas` option. */
export declare function replicaViolations(request: AdmissionRequest, options: Options): string[];
/** The ServiceAccount a pod runs as: serviceAccountName, serviceAccount, else "default". */
export declare function serviceAccountNameOf(podSpec: PodSpec | null | undefined): string;
/** restrict-automount-sa-token: a denial or a warning (each may be absent) for a pod, template or ServiceAccount. */
export declare function tokenMountViolation(
  request: AdmissionRequest,
  options: Options,
  getServiceAccount: (name: string) => KubernetesObject | undefined,
): { denial?: string; warning?: string };
/** require-owner-labels: the object with the owner labels copied from its Namespace, and a denial when one is on neither. */
export declare function ownerLabels(
  request: AdmissionRequest,
  options: Options,
  namespace: KubernetesObject | null | undefined,
): { object?: KubernetesObject; denial?: string };
