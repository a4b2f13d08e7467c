// How every library policy takes its options, in one way: a platform team configures the library without
// editing any policy's code (docs/policies.md, "Options").
//
// - Cluster-wide: the ConfigMap `jspolicy-guardrails` in the `jspolicy` namespace, one data key per option
//   (`allowed-registries: "ghcr.io/acme, registry.example.com"`).
// - Per namespace, for the options a policy documents as such: the annotation
//   `guardrails.jspolicy.com/<option>` on the Namespace, which wins over the ConfigMap. Tenants cannot set
//   it themselves: the protect-tenant-labels policy guards the `guardrails.jspolicy.com/` prefix.
// - Tenants: a Namespace belongs to the tenant named by its label `guardrails.jspolicy.com/tenant`.
//
// Values are strings, as ConfigMap data and annotations are; `listOption`, `numberOption`,
// `booleanOption` and `quantityOption` read them and say what is wrong with a bad one, so a typo in a
// ConfigMap is a denial naming the key, never a silently skipped check.

export const OPTIONS_NAMESPACE = "jspolicy";
export const OPTIONS_CONFIGMAP = "jspolicy-guardrails";
export const PREFIX = "guardrails.jspolicy.com/";
export const TENANT_LABEL = PREFIX + "tenant";
// Never judged by a tenancy guardrail: the control plane's own namespaces and the policy engine's.
export const SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", OPTIONS_NAMESPACE];

/** An option value that cannot be read: the policy denies with this message rather than skip its check. */
export class OptionError extends Error {
  constructor(key, value, expected) {
    super(`guardrail option ${JSON.stringify(key)} has the value ${JSON.stringify(value)}; expected ${expected}`);
    this.name = "OptionError";
  }
}

/**
 * The options a policy reads for one request: the ConfigMap's data, overlaid by the request namespace's
 * `guardrails.jspolicy.com/<option>` annotations for the keys in `perNamespace`. `configMap` and
 * `namespace` are the objects (or undefined when absent), so this stays pure; `readOptions` fetches them.
 */
export function resolveOptions(configMap, namespace, perNamespace = []) {
  const values = Object.assign({}, (configMap && configMap.data) || {});
  const annotations = ((namespace && namespace.metadata) || {}).annotations || {};
  for (const key of perNamespace) {
    if (Object.prototype.hasOwnProperty.call(annotations, PREFIX + key)) values[key] = annotations[PREFIX + key];
  }
  return values;
}

/**
 * The request's namespace: the object's, or a Namespace's own name; "" for other cluster-scoped objects.
 */
export function namespaceOf(request) {
  const object = request.object || request.oldObject || {};
  if (((request.kind || {}).kind || object.kind) === "Namespace") return request.name || (object.metadata || {}).name || "";
  return request.namespace || (object.metadata || {}).namespace || "";
}

/**
 * `resolveOptions` with the objects read from the cluster by the policy helper `get` (a function, so the
 * package's pure checks never reach for a global): the library ConfigMap and the request's Namespace.
 */
export function readOptions(get, request, perNamespace = []) {
  const configMap = get("ConfigMap", "v1", `${OPTIONS_NAMESPACE}/${OPTIONS_CONFIGMAP}`);
  const name = namespaceOf(request);
  const namespace = perNamespace.length && name ? get("Namespace", "v1", name) : undefined;
  return resolveOptions(configMap, namespace, perNamespace);
}

/** Whether the option `key` is set (a blank value counts as unset). */
export function hasOption(options, key) {
  return typeof options[key] === "string" && options[key].trim() !== "";
}

/** A comma- or whitespace-separated list: `"a, b c"` is `["a", "b", "c"]`; `fallback` when unset. */
export function listOption(options, key, fallback = []) {
  if (!hasOption(options, key)) return fallback;
  return options[key].split(/[\s,]+/).filter((item) => item !== "");
}

/** A number, at least `min`; `fallback` when unset. */
export function numberOption(options, key, fallback, min = 0) {
  if (!hasOption(options, key)) return fallback;
  const text = options[key].trim();
  const value = Number(text);
  if (!/^-?\d+(\.\d+)?$/.test(text) || value < min) throw new OptionError(key, options[key], `a number of at least ${min}`);
  return value;
}

/** `true` or `false`; `fallback` when unset. */
export function booleanOption(options, key, fallback) {
  if (!hasOption(options, key)) return fallback;
  const text = options[key].trim().toLowerCase();
  if (text === "true") return true;
  if (text === "false") return false;
  throw new OptionError(key, options[key], "true or false");
}

const SUFFIXES = {
  "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/;

/**
 * A Kubernetes quantity ("500m", "2Gi", "1.5", "1e3") as a number (cores, bytes), or undefined when
 * `text` is not one. Binary and decimal suffixes as resource.Quantity reads them.
 */
export function parseQuantity(text) {
  if (typeof text === "number") return Number.isFinite(text) ? text : undefined;
  if (typeof text !== "string") return undefined;
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, number, exponent, suffix] = match;
  return Number(number) * (exponent ? 10 ** Number(exponent.slice(1)) : SUFFIXES[suffix || ""]);
}

/** A quantity option (`"10Gi"`, `"4"`), as a number; `fallback` when unset. */
export function quantityOption(options, key, fallback) {
  if (!hasOption(options, key)) return fallback;
  const value = parseQuantity(options[key]);
  if (value === undefined || value < 0) throw new OptionError(key, options[key], "a Kubernetes quantity such as 500m or 10Gi");
  return value;
}

/**
 * A list of `key=value` pairs (`"oidc:shop-devs=shop, ldap:pay=payments"`) as [key, value] arrays; `check`
 * may refuse a pair by returning what was expected. A pair without `=` or with an empty side is an OptionError.
 */
export function pairsOption(options, key, check = () => undefined) {
  return listOption(options, key).map((item) => {
    const at = item.indexOf("=");
    const pair = [item.slice(0, at), item.slice(at + 1)];
    const problem = at <= 0 || at === item.length - 1 ? "key=value pairs separated by commas" : check(pair[0], pair[1]);
    if (problem) throw new OptionError(key, options[key], problem);
    return pair;
  });
}

/**
 * `check()`'s messages, or the message of the OptionError it throws: a bad option value is a denial naming
 * the option, never a skipped check. The policy calls deny() outside, so its code needs no try/catch.
 */
export function optionChecked(check) {
  try {
    return check();
  } catch (error) {
    if (error instanceof OptionError) return [error.message];
    throw error;
  }
}

/**
 * Whether a tenancy guardrail leaves this request alone: a system namespace, a namespace listed in the
 * `excluded-namespaces` option, or a user or group listed in `exempt-users` / `exempt-groups`.
 */
export function isExempt(request, options) {
  const namespace = namespaceOf(request);
  if (namespace && (SYSTEM_NAMESPACES.includes(namespace) || listOption(options, "excluded-namespaces").includes(namespace))) return true;
  const user = request.userInfo || {};
  if (user.username && listOption(options, "exempt-users").includes(user.username)) return true;
  const groups = listOption(options, "exempt-groups");
  return (user.groups || []).some((group) => groups.includes(group));
}

/** The tenant a Namespace object belongs to (its `guardrails.jspolicy.com/tenant` label), or "". */
export function tenantOf(namespace) {
  return (((namespace && namespace.metadata) || {}).labels || {})[TENANT_LABEL] || "";
}
