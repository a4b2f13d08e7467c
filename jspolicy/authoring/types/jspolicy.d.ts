// jsPolicy's own resources (policy.jspolicy.com/v1beta1), e.g. for policies or tools
// that read or write them.

import type { V1Condition, V1LabelSelector, V1ObjectMeta } from "./kubernetes";

export type PolicyType = "Validating" | "Mutating" | "Controller";

export interface PolicyV1beta1JsPolicySpec {
  /** Default Validating; immutable. */
  type?: PolicyType | "";
  /** CREATE, UPDATE, DELETE, CONNECT or "*" (required). */
  operations?: Array<"CREATE" | "UPDATE" | "DELETE" | "CONNECT" | "*">;
  /** e.g. "pods", "deployments/scale", "*" (required). */
  resources?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  scope?: "Cluster" | "Namespaced" | "*";
  namespaceSelector?: V1LabelSelector;
  objectSelector?: V1LabelSelector;
  matchPolicy?: "Exact" | "Equivalent";
  failurePolicy?: "Fail" | "Ignore";
  reinvocationPolicy?: "Never" | "IfNeeded";
  /** 1-30; also the script's timeout. */
  timeoutSeconds?: number;
  violationPolicy?: "Deny" | "Warn" | "Dry";
  auditPolicy?: "Log" | "Skip";
  /** 1-40. */
  auditLogSize?: number;
  /** npm package name -> semver range, for inline javascript. */
  dependencies?: { [name: string]: string };
  /** Inline source; without it the JsPolicyBundle of the same name is used. */
  javascript?: string;
}

export interface PolicyV1beta1JsPolicyStatus {
  phase?: "Synced" | "Failed" | (string & {});
  reason?: string;
  message?: string;
  bundleHash?: string;
  observedGeneration?: number;
  conditions?: Array<V1Condition & { severity?: "Error" | "Warning" | "Info" | "" }>;
}

export interface PolicyV1beta1JsPolicy {
  apiVersion?: "policy.jspolicy.com/v1beta1" | (string & {});
  kind?: "JsPolicy" | (string & {});
  metadata?: V1ObjectMeta;
  spec?: PolicyV1beta1JsPolicySpec;
  status?: PolicyV1beta1JsPolicyStatus;
}

export interface PolicyV1beta1JsPolicyBundleSpec {
  /** base64(gzip(JavaScript)). */
  bundle?: string;
}

export interface PolicyV1beta1JsPolicyBundle {
  apiVersion?: "policy.jspolicy.com/v1beta1" | (string & {});
  kind?: "JsPolicyBundle" | (string & {});
  metadata?: V1ObjectMeta;
  spec?: PolicyV1beta1JsPolicyBundleSpec;
  status?: Record<string, unknown>;
}

export interface PolicyV1beta1UserInfo {
  username?: string;
  uid?: string;
}

export interface PolicyV1beta1RequestInfo {
  name?: string;
  namespace?: string;
  kind?: string;
  /** "<group>/<version>" of request.kind. */
  apiVersion?: string;
  operation?: string;
}

export interface PolicyV1beta1PolicyViolation {
  action?: "Deny" | "Warn" | "Dry" | "Controller" | (string & {});
  code?: number;
  reason?: string;
  message?: string;
  requestInfo?: PolicyV1beta1RequestInfo;
  userInfo?: PolicyV1beta1UserInfo;
  /** RFC 3339 timestamp. */
  timestamp?: string;
}

export interface PolicyV1beta1JsPolicyViolationsStatus {
  violations?: PolicyV1beta1PolicyViolation[];
}

export interface PolicyV1beta1JsPolicyViolations {
  apiVersion?: "policy.jspolicy.com/v1beta1" | (string & {});
  kind?: "JsPolicyViolations" | (string & {});
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
  status?: PolicyV1beta1JsPolicyViolationsStatus;
}
