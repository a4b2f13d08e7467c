// What every tenant namespace gets from the library's controller policies: a ResourceQuota, a LimitRange and
// a default-deny NetworkPolicy named guardrails-default, built from options (lib/options.js), kept as built
// (recreated when deleted, put back when changed) and never written over when someone else's object has
// that name.

import {
  OPTIONS_CONFIGMAP, OPTIONS_NAMESPACE, OptionError, booleanOption, hasOption, isExempt, parseQuantity, resolveOptions,
  pairsOption, tenantOf,
} from "./options.js";

export const DEFAULTS_NAME = "guardrails-default";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGER = "jspolicy-guardrails";
export const DEFAULT_QUOTA_HARD = "requests.cpu=4, requests.memory=8Gi, limits.cpu=8, limits.memory=16Gi, pods=50";
export const DEFAULT_LIMIT = "cpu=500m, memory=512Mi";
export const DEFAULT_REQUEST = "cpu=100m, memory=128Mi";

// Write failures another run may not meet: the controller runs the policy again (requeue) for these.
const TRANSIENT = ["AlreadyExists", "Conflict", "ServerTimeout", "Timeout", "TooManyRequests", "InternalError", "ServiceUnavailable"];
const RESOURCE_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

/** `resource=quantity` pairs (`"cpu=500m, memory=1Gi"`) as an object of the quantity strings; `fallback` when unset. */
export function quantitiesOption(options, key, fallback = "") {
  const source = hasOption(options, key) ? options : { [key]: fallback };
  const expected = "resource=quantity pairs such as cpu=500m, memory=1Gi";
  return Object.fromEntries(pairsOption(source, key, (name, value) => (RESOURCE_NAME.test(name) && parseQuantity(value) >= 0 ? undefined : expected)));
}

// Each quantity of `lower` (the option `lowerKey`) at most the same resource's in `upper` (`upperKey`), as
// the API server validates a LimitRange; the OptionError names the option that was set.
function atMost(options, lowerKey, lower, upperKey, upper) {
  for (const [resource, value] of Object.entries(lower)) {
    if (!(resource in upper) || parseQuantity(value) <= parseQuantity(upper[resource])) continue;
    if (hasOption(options, lowerKey)) throw new OptionError(lowerKey, options[lowerKey], `${resource} at most ${upper[resource]} (${upperKey})`);
    throw new OptionError(upperKey, options[upperKey], `${resource} at least ${value} (${lowerKey})`);
  }
}

/** The ResourceQuota's spec: `quota-hard` (per namespace). */
export const TENANT_RESOURCE_QUOTA = {
  apiVersion: "v1",
  kind: "ResourceQuota",
  options: ["quota-hard"],
  spec(options) {
    return { hard: quantitiesOption(options, "quota-hard", DEFAULT_QUOTA_HARD) };
  },
};

/**
 * The LimitRange's spec: one Container item from `limit-range-default`, `limit-range-default-request` and
 * `limit-range-max` (per namespace), filled in as the API server defaults it (a missing default is the max, a
 * missing default request the default), so the object read back equals the one built.
 */
export const TENANT_LIMIT_RANGE = {
  apiVersion: "v1",
  kind: "LimitRange",
  options: ["limit-range-default", "limit-range-default-request", "limit-range-max"],
  spec(options) {
    const max = quantitiesOption(options, "limit-range-max");
    const limits = Object.assign({}, max, quantitiesOption(options, "limit-range-default", DEFAULT_LIMIT));
    const requests = Object.assign({}, limits, quantitiesOption(options, "limit-range-default-request", DEFAULT_REQUEST));
    atMost(options, "limit-range-default", limits, "limit-range-max", max);
    atMost(options, "limit-range-default-request", requests, "limit-range-default", limits);
    const item = { type: "Container", default: limits, defaultRequest: requests };
    if (Object.keys(max).length) item.max = max;
    return { limits: [item] };
  },
};

/**
 * The NetworkPolicy's spec: every pod of the namespace denied all ingress and egress, except DNS to kube-dns
 * in kube-system (`network-policy-allow-dns`, default true) and, with `network-policy-allow-same-namespace`,
 * traffic between the namespace's own pods (both per namespace).
 */
export const TENANT_NETWORK_POLICY = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  options: ["network-policy-allow-dns", "network-policy-allow-same-namespace"],
  spec(options) {
    const dns = booleanOption(options, "network-policy-allow-dns", true);
    const same = booleanOption(options, "network-policy-allow-same-namespace", false);
    const egress = [];
    if (dns) {
      egress.push({
        to: [{
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
          podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        }],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
      });
    }
    if (same) egress.push({ to: [{ podSelector: {} }] });
    return {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: same ? [{ from: [{ podSelector: {} }] }] : [],
      egress,
    };
  },
};

/** The object `defaults` (TENANT_RESOURCE_QUOTA, ...) builds for `namespace`, named and labelled as the library's. */
export function tenantDefaultFor(defaults, namespace, options) {
  return {
    apiVersion: defaults.apiVersion,
    kind: defaults.kind,
    metadata: { name: DEFAULTS_NAME, namespace, labels: { [MANAGED_BY_LABEL]: MANAGER } },
    spec: defaults.spec(options),
  };
}

function isEmpty(value) {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && Object.keys(value).length === 0;
}

/**
 * Whether two specs say the same: empty lists and maps equal missing ones (the API server drops them), and
 * quantities are compared by value ("1" is "1000m", as the API server rewrites them).
 */
export function sameSpec(a, b) {
  if (isEmpty(a) || isEmpty(b)) return isEmpty(a) && isEmpty(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameSpec(item, b[i]));
  }
  if (typeof a === "object" || typeof b === "object") {
    if (typeof a !== "object" || typeof b !== "object") return false;
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].every((key) => sameSpec(a[key], b[key]));
  }
  if (a === b) return true;
  const [x, y] = [parseQuantity(a), parseQuantity(b)];
  return typeof a === "string" && typeof b === "string" && x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

// The Namespace a controller event concerns: the Namespace itself, or the namespace of the library's own
// object of this kind (deleted or changed); none for other objects.
function targetOf(request, defaults, cluster) {
  const kind = (request.kind || {}).kind;
  if (kind === "Namespace") return request.operation === "DELETE" ? undefined : request.object || undefined;
  if (kind !== defaults.kind || request.name !== DEFAULTS_NAME || !request.namespace) return undefined;
  return cluster.get("Namespace", "v1", request.namespace);
}

/**
 * Run by a controller policy for one event: ensures the `defaults` object of the tenant namespace the event
 * concerns (see targetOf above), through `cluster` (the policy's get, create and update). Returns what it
 * wrote (`done`), what to try again (`retry`: requeue) and what it could not do (`problems`: deny, recorded as a
 * violation): a bad option, a write the API server refused, an object of that name it does not manage.
 */
export function reconcileTenantDefaults(request, defaults, cluster) {
  const result = { done: [], retry: [], problems: [] };
  const namespace = targetOf(request, defaults, cluster);
  const metadata = (namespace || {}).metadata || {};
  if (!tenantOf(namespace) || metadata.deletionTimestamp) return result;
  const configMap = cluster.get("ConfigMap", "v1", `${OPTIONS_NAMESPACE}/${OPTIONS_CONFIGMAP}`);
  const options = resolveOptions(configMap, namespace, defaults.options);
  if (isExempt({ kind: { kind: "Namespace" }, name: metadata.name }, options)) return result;
  const subject = `${defaults.kind} ${metadata.name}/${DEFAULTS_NAME}`;
  let desired;
  try {
    desired = tenantDefaultFor(defaults, metadata.name, options);
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    result.problems.push(`${subject}: ${error.message}`);
    return result;
  }
  const existing = cluster.get(defaults.kind, defaults.apiVersion, `${metadata.name}/${DEFAULTS_NAME}`, { cache: false });
  const existingMeta = (existing || {}).metadata || {};
  let verb = "create";
  let write;
  if (!existing) {
    write = cluster.create(desired);
  } else if ((existingMeta.labels || {})[MANAGED_BY_LABEL] !== MANAGER) {
    result.problems.push(`${subject} exists and is not managed by the library (no label ${MANAGED_BY_LABEL}=${MANAGER}): left as it is`);
    return result;
  } else if (existingMeta.deletionTimestamp || sameSpec(desired.spec, existing.spec)) {
    return result; // as built, or going away (its deletion runs the policy again)
  } else {
    verb = "update";
    write = cluster.update({ ...existing, metadata: { ...existingMeta, labels: { ...existingMeta.labels, ...desired.metadata.labels } }, spec: desired.spec });
  }
  if (write.ok) result.done.push(`${verb}d ${subject}`);
  else (TRANSIENT.includes(write.reason) ? result.retry : result.problems).push(`${subject}: ${verb} failed: ${write.reason}: ${write.message}`);
  return result;
}
