// Guardrails a platform team sets for its tenants on day one. Each returns violation messages (empty: fine),
// so the policy decides whether to deny() or warn().

import { namespaceOf } from "./options.js";

function matches(pattern, value) {
  return pattern instanceof RegExp ? new RegExp(pattern.source, pattern.flags.replace("g", "")).test(value) : pattern === value;
}

function describe(pattern) {
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

// Docker's normalization: a first path component with a "." or ":" (or "localhost") is a registry host;
// otherwise the image is on docker.io, in library/ when it has a single component.
function normalizedImage(image) {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  if (first && (first.includes(".") || first.includes(":") || first === "localhost")) return image;
  return slash === -1 ? `docker.io/library/${image}` : `docker.io/${image}`;
}

function fromRegistry(reference, registry) {
  if (registry instanceof RegExp) return matches(registry, reference);
  const prefix = registry.replace(/\/+$/, "");
  if (!prefix) return false;
  return reference === prefix || ["/", ":", "@"].some((boundary) => reference.startsWith(prefix + boundary));
}

/**
 * Images not pulled from one of `registries`: a host ("registry.example.com"), a host and path prefix
 * ("ghcr.io/acme"), or a RegExp tested against the full reference. Images without a host are docker.io's,
 * as the container runtime reads them ("nginx" is "docker.io/library/nginx").
 */
export function allowedRegistries(images, registries) {
  const problems = [];
  for (const image of images) {
    if (typeof image !== "string" || image === "") continue;
    const reference = normalizedImage(image);
    if (!registries.some((registry) => fromRegistry(reference, registry))) {
      problems.push(`image ${JSON.stringify(image)} is not from an allowed registry (${registries.map(describe).join(", ")})`);
    }
  }
  return problems;
}

/** Labels of `keys` that `object` (its metadata.labels) lacks; an empty value counts as set. */
export function requireLabels(object, keys) {
  const labels = ((object || {}).metadata || {}).labels || {};
  return keys
    .filter((key) => !Object.prototype.hasOwnProperty.call(labels, key))
    .map((key) => `label ${JSON.stringify(key)} is required`);
}
