// Guardrails a platform team sets for its tenants on day one. Each returns violation messages (empty: fine),
// so the policy decides whether to deny() or warn().

import { namespaceOf } from "./options.js";

/** Whether `value` is `pattern` (a string) or matches it (a RegExp, its g flag ignored). */
export function matches(pattern, value) {
  return pattern instanceof RegExp ? new RegExp(pattern.source, pattern.flags.replace("g", "")).test(value) : pattern === value;
}

/** A pattern as messages show it: a quoted string, or /regexp/. */
export function describe(pattern) {
  return pattern instanceof RegExp ? String(pattern) : JSON.stringify(pattern);
}

/**
 * Objects in (or Namespace objects named) one of `names`: exact strings or RegExps, e.g.
 * `disallowNamespaces(request, ["default", "kube-system", /^prod-/])`. Cluster-scoped objects other than
 * Namespaces have no namespace and pass.
 */
export function disallowNamespaces(request, names) {
  const namespace = namespaceOf(request);
  if (!namespace) return [];
  const hit = names.find((pattern) => matches(pattern, namespace));
  if (hit === undefined) return [];
  const why = hit instanceof RegExp ? ` (it matches ${describe(hit)})` : "";
  return [`namespace ${JSON.stringify(namespace)} is not allowed${why}`];
}

/** Labels of `keys` that `object` (its metadata.labels) lacks; an empty value counts as set. */
export function requireLabels(object, keys) {
  const labels = ((object || {}).metadata || {}).labels || {};
  return keys
    .filter((key) => !Object.prototype.hasOwnProperty.call(labels, key))
    .map((key) => `label ${JSON.stringify(key)} is required`);
}
