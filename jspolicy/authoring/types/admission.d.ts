// The AdmissionRequest a policy receives as `request` (admission.k8s.io/v1; a v1beta1
// review is coerced to the same shape).

import type { KubernetesObject, V1GroupVersionKind, V1GroupVersionResource } from "./kubernetes";

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

export interface V1UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: { [key: string]: string[] };
}

/**
 * request.options: the CreateOptions, UpdateOptions, DeleteOptions or ConnectOptions
 * (meta.k8s.io/v1 or v1 for connect) of the API call.
 */
export interface V1AdmissionOptions {
  apiVersion?: string;
  kind?: "CreateOptions" | "UpdateOptions" | "DeleteOptions" | "PatchOptions" | (string & {});
  dryRun?: string[];
  fieldManager?: string;
  fieldValidation?: string;
  gracePeriodSeconds?: number;
  propagationPolicy?: "Orphan" | "Background" | "Foreground" | (string & {});
  preconditions?: { resourceVersion?: string; uid?: string };
  [key: string]: unknown;
}

/**
 * The request a policy sees. `object` is null on DELETE (the deleted object is
 * `oldObject`); `oldObject` is set on UPDATE and DELETE. Controller policies get a
 * synthetic request with name, namespace, operation, kind and object only.
 */
export interface V1AdmissionRequest<T = KubernetesObject> {
  uid: string;
  kind: V1GroupVersionKind;
  resource: V1GroupVersionResource;
  subResource?: string;
  requestKind?: V1GroupVersionKind;
  requestResource?: V1GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: V1UserInfo;
  object?: T | null;
  oldObject?: T | null;
  dryRun?: boolean;
  options?: V1AdmissionOptions | null;
}

/** Short name of V1AdmissionRequest. */
export type AdmissionRequest<T = KubernetesObject> = V1AdmissionRequest<T>;
