// Storage guardrails for shared clusters: storage classes and sizes of the claims a tenant makes
// (PersistentVolumeClaims, StatefulSet volumeClaimTemplates, generic ephemeral volumes of pods and their
// templates), and hostPath volumes (in pods and in PersistentVolumes). Checks return violation messages;
// policies turn them into an answer with judgeChange (lib/network.js).

import { OptionError, booleanOption, hasOption, listOption, parseQuantity, quantityOption } from "./options.js";
import { containersOf, podSpecOf } from "./workloads.js";
import { howToSet } from "./network.js";

const LEGACY_CLASS = "volume.beta.kubernetes.io/storage-class";

/**
 * The claims an object makes, each `{where, metadata, spec}`: a PersistentVolumeClaim itself (where ""),
 * a StatefulSet's volumeClaimTemplates, and the ephemeral volumes of a Pod or of a workload's pod template.
 */
export function claimsOf(object) {
  if (!object || typeof object !== "object") return [];
  const claims = [];
  const spec = object.spec || {};
  if (object.kind === "PersistentVolumeClaim") claims.push({ where: "", metadata: object.metadata || {}, spec });
  if (object.kind === "StatefulSet") {
    (spec.volumeClaimTemplates || []).forEach((template, index) => {
      const metadata = (template && template.metadata) || {};
      claims.push({ where: `volumeClaimTemplate ${JSON.stringify(metadata.name || String(index))}`, metadata, spec: (template && template.spec) || {} });
    });
  }
  for (const volume of (podSpecOf(object) || {}).volumes || []) {
    const template = volume && volume.ephemeral && volume.ephemeral.volumeClaimTemplate;
    if (template) claims.push({ where: `ephemeral volume ${JSON.stringify(volume.name)}`, metadata: template.metadata || {}, spec: template.spec || {} });
  }
  return claims;
}

function prefixed(where, message) {
  return where ? `${where}: ${message}` : message;
}

/** A claim's storage class: spec.storageClassName, else the legacy annotation; "" for none. */
export function storageClassOf(claim) {
  const name = claim.spec.storageClassName;
  if (typeof name === "string") return name;
  return ((claim.metadata || {}).annotations || {})[LEGACY_CLASS] || "";
}

/**
 * restrict-storage-classes: every claim's storage class must be in `allowed-storage-classes` (per namespace;
 * unset: any); `require-storage-class` (per namespace, default false) denies claims without one ("" or
 * unset, which leave the choice to the cluster's default class or to static binding).
 */
export function storageClassProblems(object, options, namespace) {
  const key = "allowed-storage-classes";
  const required = booleanOption(options, "require-storage-class", false);
  const allowed = hasOption(options, key) ? listOption(options, key) : undefined;
  const list = allowed ? `allowed: ${allowed.join(", ")}; ` : "";
  const problems = [];
  for (const claim of claimsOf(object)) {
    const name = storageClassOf(claim);
    if (name === "") {
      if (required) problems.push(prefixed(claim.where, `a storage class is required in namespace ${JSON.stringify(namespace)}: set spec.storageClassName (${list}require-storage-class is true)`));
    } else if (allowed && !allowed.includes(name)) {
      problems.push(prefixed(claim.where, `storage class ${JSON.stringify(name)} is not allowed in namespace ${JSON.stringify(namespace)} (${list}${howToSet(key, namespace)})`));
    }
  }
  return problems;
}

/**
 * limit-pvc-size: every claim's resources.requests.storage (and limits.storage) at most `max-pvc-size` (per
 * namespace; unset: no limit). A resize is an UPDATE of the claim, so it is judged too.
 */
export function pvcSizeProblems(object, options, namespace) {
  const key = "max-pvc-size";
  const max = quantityOption(options, key, undefined);
  if (max === undefined) return [];
  const problems = [];
  for (const claim of claimsOf(object)) {
    const resources = claim.spec.resources || {};
    for (const kind of ["requests", "limits"]) {
      const size = (resources[kind] || {}).storage;
      if (size === undefined) continue;
      const bytes = parseQuantity(size);
      if (bytes === undefined || bytes > max) {
        const why = bytes === undefined ? "is not a quantity" : `is over the maximum of ${options[key].trim()} in namespace ${JSON.stringify(namespace)}`;
        problems.push(prefixed(claim.where, `resources.${kind}.storage ${JSON.stringify(String(size))} ${why} (${howToSet(key, namespace)})`));
      }
    }
  }
  return problems;
}

/** `path` with "." and repeated or trailing slashes removed; undefined when it is not absolute or has "..". */
export function cleanHostPath(path) {
  if (typeof path !== "string" || !path.startsWith("/")) return undefined;
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) return undefined;
  return "/" + parts.join("/");
}

/** The `allowed-host-paths` option: absolute path prefixes (OptionError otherwise). */
export function hostPathPrefixesOption(options) {
  const key = "allowed-host-paths";
  return listOption(options, key).map((entry) => {
    const path = cleanHostPath(entry);
    if (path === undefined) throw new OptionError(key, options[key], `absolute paths such as /var/log (${JSON.stringify(entry)} is not one)`);
    return path;
  });
}

/** Whether `path` is one of `prefixes` or below one, a path segment at a time (/var/log covers /var/log/app, not /var/logs). */
export function underHostPaths(path, prefixes) {
  const clean = cleanHostPath(path);
  if (clean === undefined) return false;
  return prefixes.some((prefix) => prefix === "/" || clean === prefix || clean.startsWith(prefix + "/"));
}

/**
 * disallow-host-path: no hostPath volumes in a Pod or pod template, and no PersistentVolume with spec.hostPath
 * or spec.local (either mounts the node's filesystem into whatever claims it), except under
 * `allowed-host-paths` (per namespace for pods; the ConfigMap's for PersistentVolumes, which have no
 * namespace). `host-path-read-only` (per namespace, default false) requires every mount of an allowed
 * hostPath volume to be readOnly.
 */
export function hostPathProblems(object, options, namespace) {
  const key = "allowed-host-paths";
  const prefixes = hostPathPrefixesOption(options);
  const readOnly = booleanOption(options, "host-path-read-only", false);
  const allowed = `(allowed: ${prefixes.length ? prefixes.join(", ") : "none"}; ${howToSet(key, namespace)})`;
  const problems = [];
  if (object && object.kind === "PersistentVolume") {
    const spec = object.spec || {};
    for (const field of ["hostPath", "local"]) {
      const path = (spec[field] || {}).path;
      if (spec[field] && !underHostPaths(path, prefixes)) {
        problems.push(`spec.${field}.path ${JSON.stringify(path || "")} is not allowed: a PersistentVolume on a node path gives whoever claims it the node's files ${allowed}`);
      }
    }
    return problems;
  }
  const spec = podSpecOf(object);
  if (!spec) return problems;
  const hostPaths = (spec.volumes || []).filter((volume) => volume && volume.hostPath);
  const denied = hostPaths.filter((volume) => !underHostPaths(volume.hostPath.path, prefixes));
  if (denied.length) {
    const list = denied.map((volume) => `${JSON.stringify(volume.name)} (${volume.hostPath.path})`).join(", ");
    problems.push(`hostPath ${denied.length === 1 ? "volume" : "volumes"} ${list} ${denied.length === 1 ? "is" : "are"} not allowed: they mount the node's files ${allowed}`);
  }
  if (readOnly) {
    const names = new Set(hostPaths.filter((volume) => !denied.includes(volume)).map((volume) => volume.name));
    const writable = [];
    for (const container of containersOf(spec)) {
      for (const mount of container.volumeMounts || []) {
        if (names.has(mount.name) && mount.readOnly !== true) writable.push(`${JSON.stringify(mount.name)} in container ${JSON.stringify(container.name)}`);
      }
    }
    if (writable.length) {
      problems.push(`hostPath volume mounts ${writable.join(", ")} must set readOnly: true (host-path-read-only is true; ${howToSet("host-path-read-only", namespace)})`);
    }
  }
  return problems;
}
