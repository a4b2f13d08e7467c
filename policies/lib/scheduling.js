// Where a tenant's pods may run and at what priority: PriorityClasses, the namespace's node pool
// (nodeSelector, node affinity, tolerations) and spec.nodeName; and the two request helpers every workload
// guardrail shares (what an update changes, whether the control plane itself asks). Options come from
// lib/options.js.

import { OptionError, PREFIX, booleanOption, listOption, namespaceOf, pairsOption } from "./options.js";
import { podSpecOf, podTemplateOf, subjectOf } from "./workloads.js";

/** The PriorityClasses the API server creates for the control plane; never for tenants. */
export const SYSTEM_PRIORITY_CLASSES = ["system-cluster-critical", "system-node-critical"];
/** Toleration keys any pod may use when `allowed-toleration-keys` is unset: the node-condition taints. */
export const DEFAULT_TOLERATION_KEYS = ["node.kubernetes.io/*"];

const CONTROL_PLANE_USERS = ["system:apiserver", "system:kube-controller-manager", "system:kube-scheduler"];
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * Whether the control plane makes this request on its own: the API server, the controller manager (or a
 * controller's ServiceAccount in kube-system, e.g. the ReplicaSet controller creating a Deployment's pods),
 * the scheduler, or a kubelet (a node's mirror pods).
 */
export function isControlPlane(request) {
  const user = request.userInfo || {};
  const name = user.username || "";
  return CONTROL_PLANE_USERS.includes(name) || name.startsWith("system:serviceaccount:kube-system:") ||
    name.startsWith("system:node:") || (user.groups || []).includes("system:nodes");
}

/**
 * What a request brings: `pick(object)` (a list) on CREATE; on UPDATE only the items that `pick(oldObject)`
 * does not hold as they are (compared as JSON), so an update that leaves them alone (a label, a scale, a
 * finalizer removed) is not judged by rules that came after the object.
 */
export function addedBy(request, pick) {
  const current = pick(request.object) || [];
  if (request.operation !== "UPDATE" || !request.oldObject) return current;
  const before = new Set((pick(request.oldObject) || []).map((item) => JSON.stringify(item)));
  return current.filter((item) => !before.has(JSON.stringify(item)));
}

/** A label key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
export function isLabelKey(key) {
  const slash = key.lastIndexOf("/");
  return LABEL_NAME.test(key.slice(slash + 1)) && (slash === -1 || DNS_SUBDOMAIN.test(key.slice(0, slash)));
}

function priorityClassOf(object) {
  return (podSpecOf(object) || {}).priorityClassName || "";
}

/**
 * The globalDefault PriorityClass's name, or "": the class the Priority admission gives pods that name none
 * (the lowest value when there are several, as it picks).
 */
export function defaultPriorityClass(priorityClasses) {
  const defaults = (priorityClasses || []).filter((pc) => pc && pc.globalDefault === true);
  defaults.sort((a, b) => (a.value || 0) - (b.value || 0));
  return defaults.length ? defaults[0].metadata.name : "";
}

/**
 * The denial of the restrict-priority-class policy: a priorityClassName set (or changed) to a class neither
 * in the `allowed-priority-classes` option (per namespace) nor the cluster's globalDefault; the system classes
 * are refused even when listed. `priorityClasses()` lists the PriorityClasses, read only
 * when a class needs the default to be known.
 */
export function priorityClassViolations(request, options, priorityClasses) {
  const listed = listOption(options, "allowed-priority-classes");
  if (listed.some((pc) => !DNS_SUBDOMAIN.test(pc))) throw new OptionError("allowed-priority-classes", options["allowed-priority-classes"], "PriorityClass names separated by commas");
  const name = addedBy(request, (object) => [priorityClassOf(object)])[0];
  if (!name) return [];
  const subject = subjectOf(request);
  if (SYSTEM_PRIORITY_CLASSES.includes(name)) {
    return [`${subject}: priorityClassName ${JSON.stringify(name)} is reserved for the control plane's pods in kube-system; leave it unset or use a class allowed in the namespace`];
  }
  const allowed = listed.filter((pc) => !SYSTEM_PRIORITY_CLASSES.includes(pc));
  if (allowed.includes(name)) return [];
  const fallback = defaultPriorityClass(priorityClasses());
  if (name === fallback) return [];
  const classes = [...allowed, ...(fallback ? [`${fallback} (the cluster default)`] : [])];
  return [`${subject}: priorityClassName ${JSON.stringify(name)} is not allowed in namespace ${JSON.stringify(namespaceOf(request))} (allowed: ${classes.join(", ") || "none; leave priorityClassName unset"}; set ${PREFIX}allowed-priority-classes on the namespace)`];
}

/** The `node-pool` option (per namespace), `key=value` of the pool's node label, as {key, value}; or undefined. */
export function nodePoolOf(options) {
  const expected = "one node label as key=value, e.g. pool=shop";
  const pairs = pairsOption(options, "node-pool", (key, value) => (isLabelKey(key) && LABEL_NAME.test(value) ? undefined : expected));
  if (pairs.length > 1) throw new OptionError("node-pool", options["node-pool"], expected);
  return pairs.length ? { key: pairs[0][0], value: pairs[0][1] } : undefined;
}

function tolerationKeys(options) {
  const keys = listOption(options, "allowed-toleration-keys", DEFAULT_TOLERATION_KEYS);
  if (keys.some((key) => !isLabelKey(key.endsWith("*") ? key.slice(0, -1) + "x" : key))) {
    throw new OptionError("allowed-toleration-keys", options["allowed-toleration-keys"], "taint keys (or key prefixes ending in *) separated by commas");
  }
  return keys;
}

function describeToleration(t) {
  const operator = t.operator || "Equal";
  const match = operator === "Exists" ? " Exists" : `=${t.value || ""}`;
  return JSON.stringify(`${t.key || ""}${match}${t.effect ? ":" + t.effect : ""}`);
}

function tolerationProblems(tolerations, pool, keys) {
  const problems = [];
  for (const t of tolerations) {
    const key = (t && t.key) || "";
    const d = describeToleration(t || {});
    if (!key) problems.push(`a toleration without a key${t && t.effect ? ` (effect ${t.effect})` : ""} tolerates every taint`);
    else if (pool && key === pool.key) {
      if ((t.operator || "Equal") !== "Equal" || t.value !== pool.value) problems.push(`toleration ${d} tolerates other node pools than ${pool.key}=${pool.value}`);
    } else if (!keys.some((allowed) => (allowed.endsWith("*") ? key.startsWith(allowed.slice(0, -1)) : allowed === key))) {
      problems.push(`toleration ${d} is not allowed (allowed keys: ${[...(pool ? [pool.key + "=" + pool.value] : []), ...keys].join(", ")})`);
    }
  }
  return problems;
}

function requiredTerms(spec) {
  const affinity = ((spec.affinity || {}).nodeAffinity || {}).requiredDuringSchedulingIgnoredDuringExecution || {};
  return affinity.nodeSelectorTerms || [];
}

function placementProblems(spec, pool) {
  const problems = [];
  const selected = (spec.nodeSelector || {})[pool.key];
  if (selected !== undefined && selected !== pool.value) problems.push(`nodeSelector ${pool.key}=${selected} is outside the namespace's node pool ${pool.key}=${pool.value}`);
  for (const term of requiredTerms(spec)) {
    for (const expression of (term || {}).matchExpressions || []) {
      if (!expression || expression.key !== pool.key) continue;
      const values = expression.values || [];
      if (expression.operator === "In" && values.length && values.every((value) => value === pool.value)) continue;
      problems.push(`required node affinity ${pool.key} ${expression.operator} [${values.join(", ")}] reaches outside the namespace's node pool ${pool.key}=${pool.value}`);
    }
  }
  return problems;
}

/**
 * The denial (one message, or none) of the restrict-node-pool policy: tolerations other than the namespace's node
 * pool's (`node-pool`, `key=value`) and the `allowed-toleration-keys`; a nodeSelector or required node affinity on the
 * pool's key naming another value. On UPDATE only added tolerations and changed placement are judged.
 */
export function nodePoolViolations(request, options) {
  const spec = podSpecOf(request.object);
  if (!spec) return [];
  const pool = nodePoolOf(options);
  const keys = tolerationKeys(options);
  const problems = tolerationProblems(addedBy(request, (object) => (podSpecOf(object) || {}).tolerations), pool, keys);
  const placement = (object) => {
    const s = podSpecOf(object) || {};
    return [[(s.nodeSelector || {})[pool.key], requiredTerms(s)]];
  };
  if (pool && addedBy(request, placement).length) problems.unshift(...placementProblems(spec, pool));
  if (!problems.length) return [];
  const fix = pool
    ? `pods of namespace ${JSON.stringify(namespaceOf(request))} run in node pool ${pool.key}=${pool.value} (${PREFIX}node-pool)`
    : `namespace ${JSON.stringify(namespaceOf(request))} has no node pool of its own (${PREFIX}node-pool)`;
  return [`${subjectOf(request)}: ${problems.join("; ")}: ${fix}`];
}

/**
 * The object with the namespace's node pool added to its pod's nodeSelector, when it lacks the pool's key;
 * undefined when there is nothing to add. Pods are changed only at CREATE (their nodeSelector is fixed
 * after), workloads when their pod template changes (a rollout happens anyway).
 */
export function withNodePool(request, options) {
  const pool = nodePoolOf(options);
  const spec = podSpecOf(request.object);
  if (!pool || !spec || (spec.nodeSelector || {})[pool.key] !== undefined) return undefined;
  if (request.operation !== "CREATE") {
    const kind = (request.kind || {}).kind || request.object.kind;
    if (kind === "Pod" || JSON.stringify(podTemplateOf(request.oldObject)) === JSON.stringify(podTemplateOf(request.object))) return undefined;
  }
  const object = JSON.parse(JSON.stringify(request.object));
  const target = podSpecOf(object);
  target.nodeSelector = Object.assign({}, target.nodeSelector || {}, { [pool.key]: pool.value });
  return object;
}

/**
 * The denial (one message, or none) of the disallow-node-name policy: a spec.nodeName set (or changed) in a pod or pod
 * template, unless the namespace's `allow-node-name` option is true. The control plane (a kubelet's mirror pods) is not
 * judged.
 */
export function nodeNameViolations(request, options) {
  if (isControlPlane(request) || booleanOption(options, "allow-node-name", false)) return [];
  const name = addedBy(request, (object) => [(podSpecOf(object) || {}).nodeName || ""])[0];
  if (!name) return [];
  return [`${subjectOf(request)}: spec.nodeName ${JSON.stringify(name)} bypasses the scheduler, the node pool and its checks; remove it and choose nodes with a nodeSelector or node affinity (or set ${PREFIX}allow-node-name: "true" on the namespace)`];
}
