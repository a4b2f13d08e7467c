// Storage guardrails for shared clusters: storage classes and sizes of the claims a tenant makes
// (PersistentVolumeClaims, StatefulSet volumeClaimTemplates, generic ephemeral volumes of pods and their
// templates), and hostPath volumes (in pods and in PersistentVolumes). Checks return violation messages;
// policies turn them into an answer with judgeChange (lib/network.js).

import { OptionError, booleanOption, hasOption, listOption, parseQuantity, quantityOption } from "./options.js";
import { containersOf, podSpecOf } from "./workloads.js";
import { howToSet } from "./network.js";

const q = (value) => JSON.stringify(value);
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
      const where = `volumeClaimTemplate ${q(metadata.name || String(index))}`;
      claims.push({ where, metadata, spec: (template && template.spec) || {} });
    });
  }
  for (const volume of (podSpecOf(object) || {}).volumes || []) {
    const template = volume && volume.ephemeral && volume.ephemeral.volumeClaimTemplate;
    if (!template) continue;
    const where = `ephemeral volume ${q(volume.name)}`;
    claims.push({ where, metadata: template.metadata || {}, spec: template.spec || {} });
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
    if (name === "" && required) {
      const why = `${list}require-storage-class is true`;
      const message = `a storage class is required in namespace ${q(namespace)}: set spec.storageClassName (${why})`;
      problems.push(prefixed(claim.where, message));
    } else if (name !== "" && allowed && !allowed.includes(name)) {
      const how = `${list}${howToSet(key, namespace)}`;
      const message = `storage class ${q(name)} is not allowed in namespace ${q(namespace)} (${how})`;
      problems.push(prefixed(claim.where, message));
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
        const over = `is over the maximum of ${options[key].trim()} in namespace ${q(namespace)}`;
        const why = bytes === undefined ? "is not a quantity" : over;
        const field = `resources.${kind}.storage ${q(String(size))}`;
        problems.push(prefixed(claim.where, `${field} ${why} (${howToSet(key, namespace)})`));
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
    const expected = `absolute paths such as /var/log (${q(entry)} is not one)`;
    if (path === undefined) throw new OptionError(key, options[key], expected);
    return path;
  });
}

/** Whether `path` is one of `prefixes` or below one, by segment (/var/log covers /var/log/app, not /var/logs). */
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
        const why = "a PersistentVolume on a node path gives whoever claims it the node's files";
        problems.push(`spec.${field}.path ${q(path || "")} is not allowed: ${why} ${allowed}`);
      }
    }
    return problems;
  }
  const spec = podSpecOf(object);
  if (!spec) return problems;
  const hostPaths = (spec.volumes || []).filter((volume) => volume && volume.hostPath);
  const denied = hostPaths.filter((volume) => !underHostPaths(volume.hostPath.path, prefixes));
  if (denied.length) {
    const list = denied.map((volume) => `${q(volume.name)} (${volume.hostPath.path})`).join(", ");
    const volumes = denied.length === 1 ? `volume ${list} is` : `volumes ${list} are`;
    problems.push(`hostPath ${volumes} not allowed: they mount the node's files ${allowed}`);
  }
  if (readOnly) {
    const names = new Set(hostPaths.filter((volume) => !denied.includes(volume)).map((volume) => volume.name));
    const writable = [];
    for (const container of containersOf(spec)) {
      for (const mount of container.volumeMounts || []) {
        if (!names.has(mount.name) || mount.readOnly === true) continue;
        writable.push(`${q(mount.name)} in container ${q(container.name)}`);
      }
    }
    if (writable.length) {
      const why = `host-path-read-only is true; ${howToSet("host-path-read-only", namespace)}`;
      problems.push(`hostPath volume mounts ${writable.join(", ")} must set readOnly: true (${why})`);
    }
  }
  return problems;
}
