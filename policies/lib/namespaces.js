// Tenants and their namespaces: who a requesting user is a tenant of, which namespaces a tenant may create,
// which Namespace labels and annotations only the platform team may set, and the namespaces and objects a
// tenant may not exec into or delete. Options come from lib/options.js.

import { OptionError, PREFIX, TENANT_LABEL, booleanOption, isExempt, listOption, namespaceOf, pairsOption, tenantOf } from "./options.js";
import { subjectOf } from "./workloads.js";

/** Users in the group `tenant:<name>` are members of tenant `<name>`. */
export const TENANT_GROUP_PREFIX = "tenant:";
/** Namespace label and annotation prefixes only the platform team may change (plus `tenant-protected-prefixes`). */
export const PROTECTED_PREFIXES = [PREFIX, "pod-security.kubernetes.io/"];
/** The label or annotation (value "true") that protects an object from deletion. */
export const PROTECTED_KEY = PREFIX + "protected";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// A label key prefix: a DNS subdomain and a slash ("example.com/").
const KEY_PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/$/;

/** A list of namespace names (DNS labels), e.g. `protected-namespaces`. */
export function namespaceListOption(options, key) {
  const names = listOption(options, key);
  if (names.some((name) => !DNS_LABEL.test(name))) throw new OptionError(key, options[key], "namespace names separated by commas");
  return names;
}

/**
 * The tenants the requesting user belongs to: `<name>` for each group `tenant:<name>`, and the tenants the
 * `tenant-groups` option maps the user's other groups to (`group=tenant` pairs).
 */
export function userTenants(request, options) {
  const groups = (request.userInfo || {}).groups || [];
  const mapped = pairsOption(options, "tenant-groups", (group, tenant) => (DNS_LABEL.test(tenant) ? undefined : "group=tenant pairs, tenants being DNS labels"));
  const tenants = groups.filter((group) => group.startsWith(TENANT_GROUP_PREFIX)).map((group) => group.slice(TENANT_GROUP_PREFIX.length));
  for (const [group, tenant] of mapped) if (groups.includes(group)) tenants.push(tenant);
  return [...new Set(tenants.filter((tenant) => tenant !== ""))];
}

/**
 * Whether a tenancy guardrail judges this request: not exempt (lib/options.js isExempt), and either in a
 * namespace or, for cluster-scoped objects (ClusterRoles, ClusterRoleBindings), made by a tenant, so the
 * control plane's and the platform team's own cluster-wide objects are never refused.
 */
export function isTenantRequest(request, options) {
  if (isExempt(request, options)) return false;
  return namespaceOf(request) !== "" || userTenants(request, options).length > 0;
}

function tenantPrefix(tenant, name) {
  return name === tenant || name.startsWith(tenant + "-");
}

/**
 * The tenant a Namespace being created belongs to, and what is wrong with it: a tenant may only create
 * namespaces named `<tenant>` or `<tenant>-...` after one of its tenants, and only labelled (if at all) with
 * that tenant. `tenant` is "" when the user is no tenant (RBAC alone decides then).
 */
export function newNamespaceTenant(request, options) {
  const tenants = userTenants(request, options);
  const metadata = (request.object || {}).metadata || {};
  const name = metadata.name || metadata.generateName || "";
  if (!tenants.length) return { tenant: "", problems: [] };
  const yours = tenants.map((t) => JSON.stringify(t)).join(", ");
  const labelled = tenantOf(request.object);
  if (labelled && !tenants.includes(labelled)) {
    return { tenant: labelled, problems: [`Namespace ${name}: label ${TENANT_LABEL}=${JSON.stringify(labelled)} names a tenant you are not a member of (yours: ${yours})`] };
  }
  const fitting = (labelled ? [labelled] : tenants).filter((tenant) => tenantPrefix(tenant, name));
  if (!fitting.length) {
    const allowed = (labelled ? [labelled] : tenants).map((t) => `"${t}" or "${t}-<name>"`).join(", ");
    return { tenant: labelled, problems: [`Namespace ${name}: tenants may only create namespaces named after their tenant: ${allowed} (the tenant-groups option maps groups to tenants)`] };
  }
  return { tenant: fitting.sort((a, b) => b.length - a.length)[0], problems: [] };
}

function protectedPrefixes(options) {
  const extra = listOption(options, "tenant-protected-prefixes");
  if (extra.some((prefix) => !KEY_PREFIX.test(prefix))) {
    throw new OptionError("tenant-protected-prefixes", options["tenant-protected-prefixes"], "label key prefixes ending in / (example.com/), separated by commas");
  }
  return [...PROTECTED_PREFIXES, ...extra];
}

function changedKeys(what, before, after, prefixes) {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((key) => prefixes.some((prefix) => key.startsWith(prefix)) && before[key] !== after[key])
    .map((key) => {
      if (!(key in before)) return `${what} ${key} (added)`;
      if (!(key in after)) return `${what} ${key} (removed)`;
      return `${what} ${key} (${JSON.stringify(before[key])} -> ${JSON.stringify(after[key])})`;
    });
}

/**
 * Changes of a Namespace's protected labels and annotations (guardrails.jspolicy.com/, pod-security.kubernetes.io/,
 * `tenant-protected-prefixes`): one message naming each, empty when there are none. On CREATE a tenant may set
 * the tenant label to one of its own tenants (tenant-namespace-prefix sets it); nothing else.
 */
export function protectedNamespaceChanges(request, options) {
  const prefixes = protectedPrefixes(options);
  const before = (request.operation === "CREATE" ? {} : (request.oldObject || {}).metadata) || {};
  const after = (request.object || {}).metadata || {};
  const afterLabels = Object.assign({}, after.labels || {});
  if (request.operation === "CREATE" && userTenants(request, options).includes(afterLabels[TENANT_LABEL])) delete afterLabels[TENANT_LABEL];
  const changes = [
    ...changedKeys("label", before.labels || {}, afterLabels, prefixes),
    ...changedKeys("annotation", before.annotations || {}, after.annotations || {}, prefixes),
  ];
  if (!changes.length) return [];
  return [`${subjectOf(request)}: ${changes.join(", ")}: labels and annotations starting with ${prefixes.join(", ")} are the platform team's: tenants may not add, change or remove them (ask a user of the exempt-users or exempt-groups options)`];
}

const CONNECT_VERBS = { exec: "kubectl exec", attach: "kubectl attach", portforward: "kubectl port-forward" };

/**
 * A message for an exec, attach (and, with `exec-protected-port-forward`, port-forward) into a pod of a
 * protected namespace: `exec-protected` set on it (per namespace) or listed in `exec-protected-namespaces`.
 */
export function protectedExec(request, options) {
  const verb = CONNECT_VERBS[request.subResource];
  if (request.operation !== "CONNECT" || !verb) return [];
  const namespace = namespaceOf(request);
  const listed = namespaceListOption(options, "exec-protected-namespaces").includes(namespace);
  if (!listed && !booleanOption(options, "exec-protected", false)) return [];
  if (request.subResource === "portforward" && !booleanOption(options, "exec-protected-port-forward", false)) return [];
  const why = listed ? "listed in the exec-protected-namespaces option" : `${PREFIX}exec-protected`;
  return [`${verb} into pod ${namespace}/${request.name} is not allowed: namespace "${namespace}" is protected (${why}); debug through logs and metrics, or ask a user of the exempt-users or exempt-groups options`];
}

/**
 * A message for the DELETE of an object labelled or annotated `guardrails.jspolicy.com/protected: "true"`,
 * or of a Namespace listed in the `protected-namespaces` option.
 */
export function protectedDeletion(request, options) {
  if (request.operation !== "DELETE") return [];
  const object = request.oldObject || {};
  const metadata = object.metadata || {};
  const kind = (request.kind || {}).kind || object.kind;
  const listed = kind === "Namespace" && namespaceListOption(options, "protected-namespaces").includes(namespaceOf(request));
  const marked = ["labels", "annotations"].find((field) => (metadata[field] || {})[PROTECTED_KEY] === "true");
  if (!listed && !marked) return [];
  const where = request.namespace && kind !== "Namespace" ? ` in namespace "${request.namespace}"` : "";
  const field = marked && marked.slice(0, -1); // "label" or "annotation"
  const reason = marked ? `its ${field} ${PROTECTED_KEY}: "true"` : "listed in the protected-namespaces option";
  const remedy = marked ? "remove it first if the deletion is intended, or ask" : "ask";
  return [`${subjectOf(request)}${where} is protected from deletion (${reason}); ${remedy} a user of the exempt-users or exempt-groups options`];
}
