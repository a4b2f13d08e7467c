// What a tenant's objects take from the cluster and carry: compute requests and limits, replicas, the
// ServiceAccount token mounted into pods, and the owner labels that say whose an object is. The checks of
// the require-resources, limit-replicas, restrict-automount-sa-token and require-owner-labels policies.
// Options come from lib/options.js.

import { OptionError, PREFIX, booleanOption, listOption, namespaceOf, numberOption, parseQuantity, quantityOption } from "./options.js";
import { addedBy, isControlPlane, isLabelKey } from "./scheduling.js";
import { podSpecOf, subjectOf } from "./workloads.js";

const RESOURCES = ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];
/** What `required-resources` is when unset: CPU and memory requests, and a memory limit. */
export const DEFAULT_REQUIRED_RESOURCES = ["requests.cpu", "requests.memory", "limits.memory"];
// resource -> the option bounding it
const MAXIMA = { "requests.cpu": "max-cpu-request", "requests.memory": "max-memory-request", "limits.cpu": "max-cpu-limit", "limits.memory": "max-memory-limit" };
/** The replicas a namespace may run per workload when `max-replicas` is unset. */
export const DEFAULT_MAX_REPLICAS = 10;

function requiredResources(options) {
  const required = listOption(options, "required-resources", DEFAULT_REQUIRED_RESOURCES);
  if (required.length === 1 && required[0] === "none") return [];
  if (required.some((resource) => !RESOURCES.includes(resource))) {
    throw new OptionError("required-resources", options["required-resources"], `some of ${RESOURCES.join(", ")} separated by commas, or none`);
  }
  return required;
}

function resourceEntriesOf(object) {
  const spec = podSpecOf(object) || {};
  const entries = [];
  for (const [list, what] of [["initContainers", "init container"], ["containers", "container"]]) {
    for (const c of spec[list] || []) entries.push({ where: `${what} ${JSON.stringify(c.name)}`, resources: c.resources || {} });
  }
  return entries;
}

// A resource's amount as written, a missing request counting as its limit (the API server defaults it so).
function amountOf(resources, resource) {
  const [kind, name] = resource.split(".");
  const own = (resources[kind] || {})[name];
  return own === undefined && kind === "requests" ? (resources.limits || {})[name] : own;
}

function describeResource(resource) {
  const [kind, name] = resource.split(".");
  return `${name} ${kind === "limits" ? "limit" : "request"}`;
}

// What is wrong with one container's (or the pod's) resources; `found.missing` is set when one is missing.
function entryProblems(entry, required, maxima, pod, found) {
  const problems = [];
  const amounts = {};
  for (const resource of RESOURCES) {
    const text = amountOf(entry.resources, resource);
    if (text === undefined || text === null) {
      if (required.includes(resource) && amountOf(pod, resource) === undefined) {
        problems.push(`${entry.where} has no ${describeResource(resource)} (resources.${resource})`);
        found.missing = true;
      }
      continue;
    }
    const amount = parseQuantity(text);
    if (amount === undefined) {
      problems.push(`${entry.where} resources.${resource} ${JSON.stringify(text)} is not a quantity`);
      continue;
    }
    amounts[resource] = amount;
    const max = maxima[resource];
    if (max && amount > max.value) problems.push(`${entry.where} ${describeResource(resource)} ${text} is above the maximum ${max.text} (${PREFIX}${MAXIMA[resource]})`);
  }
  for (const name of ["cpu", "memory"]) {
    const request = amounts[`requests.${name}`];
    const limit = amounts[`limits.${name}`];
    if (request !== undefined && limit !== undefined && request > limit) {
      problems.push(`${entry.where} ${name} request ${amountOf(entry.resources, "requests." + name)} is above its limit ${amountOf(entry.resources, "limits." + name)}`);
    }
  }
  return problems;
}

/**
 * The denial (one message, or none) of the require-resources policy: init and regular containers without the requests
 * and limits of `required-resources` (pod-level resources count for every container), amounts above the
 * `max-cpu-request`, `max-memory-request`, `max-cpu-limit`, `max-memory-limit` options (all per namespace), and
 * requests above limits. On UPDATE (a resize too) only changed containers are judged.
 */
export function resourceViolations(request, options) {
  const spec = podSpecOf(request.object);
  if (!spec) return [];
  const required = requiredResources(options);
  const maxima = {};
  for (const [resource, key] of Object.entries(MAXIMA)) {
    const value = quantityOption(options, key, undefined);
    if (value !== undefined) maxima[resource] = { value, text: options[key].trim() };
  }
  const pod = spec.resources || {};
  const found = { missing: false };
  const problems = addedBy(request, resourceEntriesOf).flatMap((entry) => entryProblems(entry, required, maxima, pod, found));
  if (spec.resources && addedBy(request, (object) => [(podSpecOf(object) || {}).resources]).length) {
    problems.push(...entryProblems({ where: "the pod", resources: pod }, [], maxima, pod, found));
  }
  if (!problems.length) return [];
  const hint = found.missing ? ` (namespace ${JSON.stringify(namespaceOf(request))} requires ${required.join(", ")}: ${PREFIX}required-resources)` : "";
  return [`${subjectOf(request)}: ${problems.join("; ")}${hint}`];
}

/**
 * How many replicas an object asks for: an autoscaler's maxReplicas, a workload's or Scale's spec.replicas
 * (1 when unset, as the API server defaults it).
 */
export function replicasOf(object) {
  const spec = (object && object.spec) || {};
  if (object && object.kind === "HorizontalPodAutoscaler") return spec.maxReplicas || 0;
  return typeof spec.replicas === "number" ? spec.replicas : 1;
}

/** Whether the request raises the replicas (every CREATE does; an UPDATE when it asks for more than before). */
export function replicasGrow(request) {
  return request.operation !== "UPDATE" || !request.oldObject || replicasOf(request.object) > replicasOf(request.oldObject);
}

/**
 * The denial (one message, or none) of the limit-replicas policy: a Deployment, StatefulSet, ReplicaSet or
 * ReplicationController (or its scale subresource) with more replicas, or an autoscaler with a higher maxReplicas, than
 * the `max-replicas` option (per namespace; DEFAULT_MAX_REPLICAS when unset).
 */
export function replicaViolations(request, options) {
  const max = numberOption(options, "max-replicas", DEFAULT_MAX_REPLICAS, 0);
  if (!Number.isInteger(max)) throw new OptionError("max-replicas", options["max-replicas"], "a whole number of at least 0");
  const replicas = replicasOf(request.object);
  if (replicas <= max) return [];
  const subject = request.subResource === "scale" ? `${(request.resource || {}).resource}/scale ${request.name}` : subjectOf(request);
  const what = request.object.kind === "HorizontalPodAutoscaler" ? `maxReplicas ${replicas} is` : `${replicas} replicas are`;
  return [`${subject}: ${what} more than the ${max} allowed per workload in namespace ${JSON.stringify(namespaceOf(request))} (set ${PREFIX}max-replicas on the namespace to allow more)`];
}

/** The ServiceAccount a pod runs as: serviceAccountName (or the deprecated serviceAccount), else "default". */
export function serviceAccountNameOf(podSpec) {
  const spec = podSpec || {};
  return spec.serviceAccountName || spec.serviceAccount || "default";
}

/**
 * What the restrict-automount-sa-token policy says, as `{denial, warning}` (each undefined when none):
 * pods (and pod templates) must set automountServiceAccountToken: false, or leave it unset and run as a
 * ServiceAccount that sets it false; ServiceAccounts may not set it true (and are warned when they leave it
 * unset). Nothing when the namespace's `allow-automount-sa-token` option is true. `getServiceAccount(name)`
 * reads a ServiceAccount of the request's namespace (undefined when there is none).
 */
export function tokenMountViolation(request, options, getServiceAccount) {
  if (booleanOption(options, "allow-automount-sa-token", false)) return {};
  const subject = subjectOf(request);
  const optIn = `or set ${PREFIX}allow-automount-sa-token: "true" on the namespace`;
  const object = request.object || {};
  if (object.kind === "ServiceAccount") {
    const name = (object.metadata || {}).name || "";
    if (addedBy(request, (sa) => [sa.automountServiceAccountToken]).includes(true)) {
      return { denial: `${subject}: automountServiceAccountToken: true would mount its token into every pod that runs as it; set it to false (${optIn})` };
    }
    if (request.operation === "CREATE" && object.automountServiceAccountToken !== false && name !== "default") {
      return { warning: `${subject}: set automountServiceAccountToken: false here, or every pod that runs as it must set it itself` };
    }
    return {};
  }
  const spec = podSpecOf(object);
  const pick = (o) => [[(podSpecOf(o) || {}).automountServiceAccountToken, serviceAccountNameOf(podSpecOf(o))]];
  if (!spec || spec.automountServiceAccountToken === false || !addedBy(request, pick).length) return {};
  const account = serviceAccountNameOf(spec);
  const fix = `set automountServiceAccountToken: false in the pod spec (a pod that calls the API can mount a projected serviceAccountToken volume), ${optIn}`;
  if (spec.automountServiceAccountToken === true) return { denial: `${subject}: automountServiceAccountToken: true mounts the token of ServiceAccount ${JSON.stringify(account)} into the pod; ${fix}` };
  const serviceAccount = getServiceAccount(account);
  if (serviceAccount && serviceAccount.automountServiceAccountToken === false) return {};
  if (!serviceAccount && object.kind !== "Pod") {
    return { warning: `${subject}: ServiceAccount ${JSON.stringify(account)} does not exist yet; its pods will be refused unless it or the pod template sets automountServiceAccountToken: false` };
  }
  const why = serviceAccount ? "" : " (and it does not exist)";
  return { denial: `${subject}: the token of ServiceAccount ${JSON.stringify(account)} would be mounted: neither the pod nor the ServiceAccount${why} sets automountServiceAccountToken: false; ${fix}` };
}

function ownerKeys(options) {
  const keys = listOption(options, "owner-labels", ["team"]);
  if (keys.some((key) => !isLabelKey(key))) throw new OptionError("owner-labels", options["owner-labels"], "label keys separated by commas");
  return keys;
}

// The pod template (spec.template, or a CronJob's job template's) an object holds, or undefined.
function templateOf(object) {
  const spec = object.spec || {};
  const template = object.kind === "CronJob" ? ((spec.jobTemplate || {}).spec || {}).template : spec.template;
  return template && typeof template === "object" && template.spec ? template : undefined;
}

/**
 * What the require-owner-labels policy does, as `{object, denial}`: `object` is a copy of the request's
 * object with the labels of `owner-labels` (per namespace; default `team`) it lacks copied from its
 * Namespace's labels of the same key (on CREATE into a workload's pod template too, so its pods carry
 * them), undefined when nothing is added; `denial` when a label is on neither, at CREATE and not by the
 * control plane. An UPDATE keeps the labels the object had and is never refused, nor an object being deleted.
 */
export function ownerLabels(request, options, namespace) {
  const object = request.object;
  const metadata = (object && object.metadata) || {};
  if (!object || metadata.deletionTimestamp) return {};
  const keys = ownerKeys(options);
  const labels = metadata.labels || {};
  const before = (((request.operation === "UPDATE" && request.oldObject) || {}).metadata || {}).labels || {};
  const inherited = (((namespace || {}).metadata || {}).labels) || {};
  const template = request.operation === "CREATE" ? templateOf(object) : undefined;
  const templateLabels = ((template || {}).metadata || {}).labels || {};
  const add = {};
  const addToTemplate = {};
  const missing = [];
  for (const key of keys) {
    const value = [labels[key], before[key], inherited[key]].find((v) => v !== undefined);
    if (value === undefined) missing.push(key);
    else {
      if (labels[key] === undefined) add[key] = value;
      if (template && templateLabels[key] === undefined) addToTemplate[key] = value;
    }
  }
  const result = {};
  if (missing.length && request.operation === "CREATE" && !isControlPlane(request)) {
    const names = missing.map((key) => JSON.stringify(key)).join(", ");
    result.denial = `${subjectOf(request)}: label${missing.length > 1 ? "s" : ""} ${names} required (${PREFIX}owner-labels) and namespace ${JSON.stringify(namespaceOf(request))} has none to copy: set ${missing.map((key) => `metadata.labels[${JSON.stringify(key)}]`).join(", ")}, or label the namespace`;
  }
  if (Object.keys(add).length || Object.keys(addToTemplate).length) {
    const copy = JSON.parse(JSON.stringify(object));
    copy.metadata = copy.metadata || {};
    copy.metadata.labels = Object.assign({}, copy.metadata.labels || {}, add);
    const target = templateOf(copy);
    if (target && Object.keys(addToTemplate).length) {
      target.metadata = target.metadata || {};
      target.metadata.labels = Object.assign({}, target.metadata.labels || {}, addToTemplate);
    }
    result.object = copy;
  }
  return result;
}
