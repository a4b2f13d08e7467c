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

/** `PodSecurity "baseline:latest"`: the level podSecurityBaselineViolation names. */
export declare const BASELINE: string;

/**
 * The Pod Security Standards baseline violations of a Pod or of a workload's pod template, one message per
 * failed control; empty when the object complies or holds no pod.
 */
export declare function podSecurityBaseline(object: KubernetesObject | null | undefined): string[];

/**
 * `<Kind> <name> violates PodSecurity "baseline:latest": <violations>` for the request's object (the
 * library policy's denial message), or undefined when it complies.
 */
export declare function podSecurityBaselineViolation(request: AdmissionRequest): string | undefined;

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
