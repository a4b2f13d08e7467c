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
