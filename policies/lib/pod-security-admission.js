// Pod Security admission as the kube-apiserver's built-in PodSecurity plugin decides it
// (k8s.io/pod-security-admission v0.36.3, admission/admission.go and api/helpers.go): the level and version
// of each mode from the Namespace's pod-security.kubernetes.io/ labels over cluster-wide defaults,
// exemptions, the updates that are not judged, invalid labels, and the warnings about existing pods when a
// Namespace's enforce level tightens. One difference, on purpose: the pod templates of workloads are denied
// at the enforce level (the built-in only warns), so a tenant sees the denial at `kubectl apply`.
import { podTemplateOf, subjectOf } from "./workloads.js";
import { OptionError, hasOption, listOption, namespaceOf, readOptions } from "./options.js";
import {
  POD_SECURITY_LEVELS, byCodePoint, goQuote, parsePodSecurityLevel, parsePodSecurityVersion, podSecurity,
  podSecurityDetail,
} from "./pod-security.js";

export const POD_SECURITY_LABEL_PREFIX = "pod-security.kubernetes.io/";
const MODES = ["enforce", "audit", "warn"];
// As upstream: a namespace's new enforce level is checked against at most this many of its pods.
export const POD_SECURITY_MAX_PODS_TO_CHECK = 3000;
// Pod subresources upstream never judges (any other, e.g. ephemeralcontainers, carries a pod spec).
const IGNORED_POD_SUBRESOURCES = new Set(["exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"]);
const PRIVILEGED = { level: "privileged", version: "latest" };

function label(mode, suffix = "") {
  return `${POD_SECURITY_LABEL_PREFIX}${mode}${suffix}`;
}

function levelVersion(lv) {
  return `${lv.level}:${lv.version}`;
}

function compareLevels(a, b) {
  return POD_SECURITY_LEVELS.indexOf(a) - POD_SECURITY_LEVELS.indexOf(b);
}

function sameLevelVersion(a, b) {
  return a.level === b.level && a.version === b.version;
}

function fullyPrivileged(policy) {
  return MODES.every((mode) => policy[mode].level === "privileged");
}

/**
 * The policy of a namespace from its labels over `defaults` ({enforce, audit, warn}, each {level, version}),
 * as upstream's api.PolicyToEvaluate: an invalid enforce level is restricted, an invalid audit or warn level
 * privileged, an invalid version latest; warn follows an explicitly stricter enforce label when unset. Returns
 * {enforce, audit, warn, errors}; each error is {label, value, detail}.
 */
export function podSecurityPolicyOf(labels, defaults) {
  const policy = { enforce: { ...defaults.enforce }, audit: { ...defaults.audit }, warn: { ...defaults.warn }, errors: [] };
  if (!labels || Object.keys(labels).length === 0) return policy;
  const has = (key) => Object.prototype.hasOwnProperty.call(labels, key);
  const read = (key, parse, failOpen) => {
    const parsed = parse(labels[key]);
    if (parsed.error) policy.errors.push({ label: key, value: labels[key], detail: parsed.error });
    return parsed.error && failOpen ? "privileged" : parsed.level || parsed.version;
  };
  let enforceLevelSet = false;
  for (const mode of MODES) {
    if (has(label(mode))) {
      policy[mode].level = read(label(mode), parsePodSecurityLevel, mode !== "enforce");
      if (mode === "enforce") enforceLevelSet = !parsePodSecurityLevel(labels[label(mode)]).error;
    }
    if (has(label(mode, "-version"))) policy[mode].version = read(label(mode, "-version"), parsePodSecurityVersion, false);
  }
  if (!has(label("warn")) && enforceLevelSet && compareLevels(policy.enforce.level, policy.warn.level) > 0) {
    policy.warn.level = policy.enforce.level;
    if (!has(label("warn", "-version"))) policy.warn.version = policy.enforce.version;
  }
  return policy;
}

/** The label errors as the API server words a field error list (duplicates once; several in brackets). */
function fieldErrors(errors) {
  const messages = [...new Set(errors.map((e) => `metadata.labels[${e.label}]: Invalid value: ${goQuote(e.value)}: ${e.detail}`))];
  return messages.length === 1 ? messages[0] : `[${messages.join(", ")}]`;
}

function sameErrors(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The library's Pod Security options (ConfigMap keys, see policies/pod-security/README.md): the defaults of
 * each mode for unlabelled namespaces (`pod-security-enforce`, `pod-security-enforce-version`, ...; upstream's
 * privileged:latest) and the exempt usernames, namespaces and runtime classes. Throws OptionError for a bad value.
 */
export function podSecurityOptions(options) {
  const defaults = {};
  for (const mode of MODES) {
    const levelKey = `pod-security-${mode}`;
    const versionKey = `${levelKey}-version`;
    const level = hasOption(options, levelKey) ? options[levelKey].trim() : "privileged";
    const version = hasOption(options, versionKey) ? options[versionKey].trim() : "latest";
    if (parsePodSecurityLevel(level).error) throw new OptionError(levelKey, options[levelKey], "privileged, baseline or restricted");
    if (parsePodSecurityVersion(version).error) throw new OptionError(versionKey, options[versionKey], '"latest" or "v1.<minor>", e.g. v1.30');
    defaults[mode] = { level, version };
  }
  return { defaults, exemptions: podSecurityExemptions(options) };
}

/** The exempt usernames, namespaces and runtime classes (`pod-security-exempt-*`), the only options of fixed levels. */
export function podSecurityExemptions(options) {
  return {
    usernames: listOption(options, "pod-security-exempt-usernames"),
    namespaces: listOption(options, "pod-security-exempt-namespaces"),
    runtimeClasses: listOption(options, "pod-security-exempt-runtime-classes"),
  };
}

/**
 * Whether a pod update is judged, as upstream's isSignificantPodUpdate: only when the number of containers
 * or init containers or an image changes, or an ephemeral container is added or changes its image. Other
 * pod fields are immutable or harmless (labels, annotations, resources, readiness gates).
 */
export function isSignificantPodUpdate(pod, oldPod) {
  const spec = (pod && pod.spec) || {};
  const old = (oldPod && oldPod.spec) || {};
  const image = (c) => String((c && c.image) || "");
  for (const field of ["containers", "initContainers"]) {
    const now = spec[field] || [];
    const before = old[field] || [];
    if (now.length !== before.length || now.some((c, i) => image(c) !== image(before[i]))) return true;
  }
  return (spec.ephemeralContainers || []).some((c) => {
    const before = (old.ephemeralContainers || []).find((o) => o.name === c.name);
    return before === undefined || image(c) !== image(before);
  });
}

function templateChanged(object, oldObject) {
  const now = podTemplateOf(object);
  const before = podTemplateOf(oldObject);
  return JSON.stringify(now) !== JSON.stringify(before);
}

function exemptRuntimeClass(spec, exemptions) {
  const runtimeClass = (spec || {}).runtimeClassName;
  return typeof runtimeClass === "string" && runtimeClass !== "" && exemptions.runtimeClasses.includes(runtimeClass);
}

/** The pods upstream checks first: runtime-class exempt ones left out, one pod per controller before the rest. */
function prioritizedPods(pods, exemptions) {
  const first = [];
  const duplicates = [];
  const seen = new Set();
  for (const pod of pods) {
    if (exemptRuntimeClass(pod.spec, exemptions)) continue;
    const controller = ((pod.metadata || {}).ownerReferences || []).find((ref) => ref.controller === true);
    if (controller && seen.has(controller.uid)) {
      duplicates.push(pod);
      continue;
    }
    if (controller) seen.add(controller.uid);
    first.push(pod);
  }
  return first.concat(duplicates);
}

/**
 * The warnings the API server gives when a Namespace's enforce level tightens: which existing pods would
 * violate it, one line per distinct list of failed controls with the first pod's name and how many others.
 */
export function podSecurityNamespaceWarnings(namespace, pods, enforce, exemptions = { runtimeClasses: [] }) {
  const all = prioritizedPods(pods || [], exemptions);
  const checked = all.slice(0, POD_SECURITY_MAX_PODS_TO_CHECK);
  const byReasons = new Map();
  for (const pod of checked) {
    const violations = podSecurity({ ...pod, kind: "Pod" }, enforce.level, enforce.version);
    if (!violations.length) continue;
    const reasons = violations.map((v) => v.reason).join(", ");
    const name = String((pod.metadata || {}).name || "");
    const seen = byReasons.get(reasons);
    if (!seen) byReasons.set(reasons, { name, count: 1 });
    else byReasons.set(reasons, { name: byCodePoint(name, seen.name) < 0 ? name : seen.name, count: seen.count + 1 });
  }
  const warnings = [];
  if (checked.length < all.length) {
    warnings.push(`new PodSecurity enforce level only checked against the first ${checked.length} of ${all.length} existing pods`);
  }
  if (byReasons.size) {
    warnings.push(`existing pods in namespace ${goQuote(namespace)} violate the new PodSecurity enforce level ${goQuote(levelVersion(enforce))}`);
  }
  const others = (count) => (count === 1 ? "" : count === 2 ? " (and 1 other pod)" : ` (and ${count - 1} other pods)`);
  const lines = [...byReasons].map(([reasons, { name, count }]) => `${name}${others(count)}: ${reasons}`);
  return warnings.concat(lines.sort(byCodePoint));
}

/** Upstream's warning for a labelled namespace that is exempt, or "" when its policy changes nothing. */
function exemptNamespaceWarning(name, policy, labels, defaults) {
  const equivalent = MODES.every((mode) => {
    const a = policy[mode];
    const b = defaults[mode];
    return (a.level === "privileged" && b.level === "privileged") || sameLevelVersion(a, b);
  });
  if (fullyPrivileged(policy) || equivalent) return "";
  const has = (key) => Object.prototype.hasOwnProperty.call(labels || {}, key);
  const parts = MODES.filter((mode) => policy[mode].level !== "privileged" && (has(label(mode)) || has(label(mode, "-version"))))
    .map((mode) => `${mode}=${levelVersion(policy[mode])}`);
  return `namespace ${goQuote(name)} is exempt from Pod Security, and the policy (${parts.join(", ")}) will be ignored`;
}

function labelsOf(object) {
  return ((object && object.metadata) || {}).labels || {};
}

function reviewNamespace(request, settings, result) {
  const name = namespaceOf(request);
  const labels = labelsOf(request.object);
  const policy = podSecurityPolicyOf(labels, settings.defaults);
  const invalid = () => {
    result.denial = { message: `${subjectOf(request)} is invalid: ${fieldErrors(policy.errors)}`, reason: "Invalid", code: 422 };
  };
  const exemptWarning = () => {
    if (!settings.exemptions.namespaces.includes(name)) return false;
    const warning = exemptNamespaceWarning(name, policy, labels, settings.defaults);
    if (warning) result.warnings.push(warning);
    return true;
  };
  if (request.operation === "CREATE") {
    if (policy.errors.length) invalid();
    else exemptWarning();
    return;
  }
  if (request.operation !== "UPDATE") return;
  const old = podSecurityPolicyOf(labelsOf(request.oldObject), settings.defaults);
  if (policy.errors.length && (!old.errors.length || !sameErrors(policy.errors, old.errors))) {
    invalid();
    return;
  }
  // Existing pods are checked only when enforce tightens: a new level, or a stricter one at the same version.
  if (sameLevelVersion(policy.enforce, old.enforce) || policy.enforce.level === "privileged") return;
  if (policy.enforce.version === old.enforce.version && compareLevels(policy.enforce.level, old.enforce.level) <= 0) return;
  if (exemptWarning()) return;
  result.warnings.push(...podSecurityNamespaceWarnings(name, settings.pods(name), policy.enforce, settings.exemptions));
}

/** The policy of the request's namespace: the fixed level of a fixed-level policy, or its labels over the defaults. */
function policyOf(namespace, settings) {
  if (settings.fixed) return { enforce: { version: "latest", ...settings.fixed }, audit: PRIVILEGED, warn: PRIVILEGED, errors: [] };
  return podSecurityPolicyOf(labelsOf(settings.namespace(namespace)), settings.defaults);
}

function evaluate(request, pod, policy, enforce, result) {
  if (policy.errors.length) result.audit.push(`Failed to parse policy: ${fieldErrors(policy.errors)}`);
  const verdict = (lv) => podSecurityDetail(podSecurity({ ...pod, kind: "Pod" }, lv.level, lv.version));
  if (enforce) {
    const detail = verdict(policy.enforce);
    if (detail) {
      result.denial = {
        message: `${subjectOf(request)} violates PodSecurity "${levelVersion(policy.enforce)}": ${detail}`,
        reason: "Forbidden", code: 403,
      };
    }
  }
  const audit = verdict(policy.audit);
  if (audit) result.audit.push(`would violate PodSecurity "${levelVersion(policy.audit)}": ${audit}`);
  // No warnings on a request that is denied anyway.
  const warning = result.denial ? "" : verdict(policy.warn);
  if (warning) result.warnings.push(`would violate PodSecurity "${levelVersion(policy.warn)}": ${warning}`);
}

/**
 * The Pod Security decision on one admission request: Pods (and their ephemeralcontainers subresource), the
 * pod templates of workloads, and Namespaces (their labels). `settings`:
 * - `defaults`, `exemptions`: as podSecurityOptions returns them;
 * - `namespace(name)`: the Namespace object (undefined counts as unlabelled);
 * - `pods(name)`: the pods of a namespace (read only when a Namespace's enforce level tightens);
 * - `fixed`: `{level, version}` to enforce everywhere instead of the namespaces' labels.
 * Returns `{denial, warnings, audit}`: denial is `{message, reason, code}` or undefined; warnings are the
 * API server's warning texts; audit lists what upstream writes as audit annotations (violations of the audit
 * level, label errors), for the policy to record without blocking.
 */
export function podSecurityReview(request, settings) {
  const result = { denial: undefined, warnings: [], audit: [] };
  const object = request.object;
  const kind = ((request.kind || {}).kind) || (object || {}).kind;
  const subresource = request.subResource || "";
  if (kind === "Namespace") {
    if (!subresource && !settings.fixed) reviewNamespace(request, settings, result);
    return result;
  }
  const isPod = kind === "Pod";
  if (isPod ? IGNORED_POD_SUBRESOURCES.has(subresource) : subresource !== "") return result;
  const pod = podTemplateOf(object);
  if (pod === undefined) return result;
  const namespace = namespaceOf(request);
  const username = (request.userInfo || {}).username || "";
  if (namespace && settings.exemptions.namespaces.includes(namespace)) return result;
  if (username && settings.exemptions.usernames.includes(username)) return result;
  const update = request.operation === "UPDATE" && request.oldObject;
  if (isPod && update && !isSignificantPodUpdate(object, request.oldObject)) return result;
  if (exemptRuntimeClass(pod.spec, settings.exemptions)) return result;
  // A workload update that leaves its pod template alone (a scale, a label, the controller's bookkeeping) is
  // not denied: only warned about and audited, as upstream does for every workload.
  const enforce = !(update && !isPod && !templateChanged(object, request.oldObject));
  evaluate(request, pod, policyOf(namespace, settings), enforce, result);
  return result;
}

/**
 * podSecurityReview with its settings read through the policy helpers: the options from `get` (ConfigMap
 * jspolicy/jspolicy-guardrails), Namespaces with `get`, pods with `list`. `fixed` as for podSecurityReview.
 * A bad option value is a denial naming it (never a skipped check), and an audit record.
 */
export function reviewPodSecurityRequest(request, get, list, fixed = undefined) {
  let options;
  try {
    const values = readOptions(get, request);
    options = fixed ? { exemptions: podSecurityExemptions(values) } : podSecurityOptions(values);
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    const denial = { message: `${subjectOf(request)}: ${error.message}`, reason: "Forbidden", code: 403 };
    return { denial, warnings: [], audit: [error.message] };
  }
  return podSecurityReview(request, {
    ...options,
    fixed,
    namespace: (name) => (name ? get("Namespace", "v1", name) : undefined),
    pods: (name) => list("Pod", "v1", { namespace: name }) || [],
  });
}
