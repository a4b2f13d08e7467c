// Container images in the objects a policy is sent: where a pod uses each image, how a reference reads
// (registry, repository, tag, digest, as the container runtime normalizes it), and the checks of the
// allowed-registries, disallow-latest-tag and require-image-pull-policy policies. Options come from
// lib/options.js.

import { OptionError, PREFIX, booleanOption, listOption, namespaceOf } from "./options.js";
import { describe, matches } from "./tenancy.js";
import { podSpecOf, subjectOf } from "./workloads.js";

/** Where images come from when the `allowed-registries` option is unset. */
export const DEFAULT_REGISTRIES = ["docker.io/library", "registry.k8s.io"];

const CONTAINER_LISTS = [["initContainers", "init container"], ["containers", "container"], ["ephemeralContainers", "ephemeral container"]];
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// An OCI digest: algorithm ":" hex (sha256:<64 hex>, sha512:<128 hex>).
// A registry host (with a port) and an optional path prefix, as the allowed-registries option lists them.
const REGISTRY = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*\/?$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;

/**
 * A reference as the runtime reads it: `nginx:1.27` is registry "docker.io", repository "library/nginx",
 * tag "1.27". A first path component with a "." or ":" (or "localhost") is a registry host. `tag` and
 * `digest` are "" when absent.
 */
export function parseImage(image) {
  const at = image.indexOf("@");
  const digest = at === -1 ? "" : image.slice(at + 1);
  let name = at === -1 ? image : image.slice(0, at);
  let tag = "";
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const hosted = first !== "" && (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = !hosted || first === "index.docker.io" ? "docker.io" : first;
  let repository = hosted ? name.slice(slash + 1) : name;
  if (registry === "docker.io" && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, tag, digest };
}

/**
 * Every image a pod (or a workload's pod template) uses: its init, regular and ephemeral containers and its
 * image volumes, as `{where, image, pullPolicy, field}` (`where`: `container "app"`, `image volume "data"`;
 * `field`: the pull policy's field name). Empty for objects without a pod.
 */
export function imageSourcesOf(object) {
  const spec = podSpecOf(object);
  if (!spec) return [];
  const sources = [];
  for (const [list, what] of CONTAINER_LISTS) {
    for (const c of spec[list] || []) {
      sources.push({ where: `${what} ${JSON.stringify(c.name)}`, image: c.image, pullPolicy: c.imagePullPolicy, field: "imagePullPolicy" });
    }
  }
  for (const volume of spec.volumes || []) {
    const source = (volume || {}).image;
    if (source) sources.push({ where: `image volume ${JSON.stringify(volume.name)}`, image: source.reference, pullPolicy: source.pullPolicy, field: "pullPolicy" });
  }
  return sources.filter((source) => typeof source.image === "string" && source.image !== "");
}

function fromRegistry(image, registry) {
  const { registry: host, repository, tag, digest } = parseImage(image);
  const name = `${host}/${repository}`;
  if (registry instanceof RegExp) return matches(registry, name + (tag ? `:${tag}` : "") + (digest ? `@${digest}` : ""));
  const prefix = registry.replace(/\/+$/, "");
  return prefix !== "" && (name === prefix || name.startsWith(prefix + "/"));
}

/**
 * Images not pulled from one of `registries`: a host ("registry.example.com"), a host and path prefix
 * ("ghcr.io/acme"), or a RegExp tested against the full normalized reference. Images without a host are
 * docker.io's, as the container runtime reads them ("nginx" is "docker.io/library/nginx").
 */
export function allowedRegistries(images, registries) {
  return images
    .filter((image) => typeof image === "string" && image !== "" && !registries.some((registry) => fromRegistry(image, registry)))
    .map((image) => `image ${JSON.stringify(image)} is not from an allowed registry (${registries.map(describe).join(", ")})`);
}

/**
 * The denial (one message, or none) of the allowed-registries policy for `sources` (see imageSourcesOf) not from the
 * registries of the `allowed-registries` option (per namespace; DEFAULT_REGISTRIES when unset).
 */
export function registryViolations(request, options, sources) {
  const registries = listOption(options, "allowed-registries", DEFAULT_REGISTRIES);
  if (registries.some((registry) => !REGISTRY.test(registry))) {
    throw new OptionError("allowed-registries", options["allowed-registries"], "registry hosts or host/path prefixes such as ghcr.io/acme, separated by commas");
  }
  const outside = sources.filter((source) => !registries.some((registry) => fromRegistry(source.image, registry)));
  if (!outside.length) return [];
  const images = outside.map((source) => `${source.where} uses ${JSON.stringify(source.image)}`).join(", ");
  return [`${subjectOf(request)}: images must come from an allowed registry in namespace ${JSON.stringify(namespaceOf(request))}: ${images} (allowed: ${registries.join(", ")}; set ${PREFIX}allowed-registries on the namespace to allow others)`];
}

/**
 * The denial (one message, or none) of the disallow-latest-tag policy for `sources`: images without a tag (which pull
 * "latest") or with a tag of `disallowed-image-tags` (default latest) and, with `require-image-digest` true, images not
 * pinned by a digest. An image pinned by a well-formed digest is fine whatever its tag: the digest is what the runtime
 * pulls.
 */
export function tagViolations(request, options, sources) {
  const tags = listOption(options, "disallowed-image-tags", ["latest"]);
  if (tags.some((tag) => !TAG.test(tag))) throw new OptionError("disallowed-image-tags", options["disallowed-image-tags"], "image tags separated by commas");
  const digests = booleanOption(options, "require-image-digest", false);
  const problems = [];
  for (const { where, image } of sources) {
    const { tag, digest } = parseImage(image);
    const quoted = JSON.stringify(image);
    if (digest && !DIGEST.test(digest)) problems.push(`${where} image ${quoted} has a malformed digest (expected algorithm:hex, e.g. sha256:<64 hex digits>)`);
    else if (digest) continue;
    else if (digests) problems.push(`${where} image ${quoted} is not pinned by a digest (use image@sha256:...; ${PREFIX}require-image-digest is "true" here)`);
    else if (!tag && tags.includes("latest")) problems.push(`${where} image ${quoted} has no tag, so it pulls "latest" (name a version tag or a digest)`);
    else if (tags.includes(tag)) problems.push(`${where} image ${quoted} uses the tag ${JSON.stringify(tag)} (not allowed: ${tags.join(", ")}; name a version tag or a digest)`);
  }
  return problems.length ? [`${subjectOf(request)}: ${problems.join("; ")}`] : [];
}

/** The pull policy the API server gives a container that sets none: Always for `:latest` and untagged images. */
export function defaultPullPolicy(image) {
  const { tag, digest } = parseImage(image);
  return tag === "latest" || (!tag && !digest) ? "Always" : "IfNotPresent";
}

/**
 * The denial (one message, or none) of the require-image-pull-policy policy for `sources` whose (explicit or defaulted)
 * pull policy is not Always; none when the namespace's `allow-cached-images` option is true.
 */
export function pullPolicyViolations(request, options, sources) {
  if (booleanOption(options, "allow-cached-images", false)) return [];
  const problems = [];
  for (const { where, image, pullPolicy, field } of sources) {
    if (pullPolicy === "Always" || (!pullPolicy && defaultPullPolicy(image) === "Always")) continue;
    problems.push(pullPolicy
      ? `${where} sets ${field} ${pullPolicy}`
      : `${where} has ${field} IfNotPresent by default (the API server defaults to Always only for :latest and untagged images; ${JSON.stringify(image)} is neither)`);
  }
  if (!problems.length) return [];
  return [`${subjectOf(request)}: ${problems.join("; ")}: use Always, so the registry checks the pod's pull credentials instead of the node serving another tenant's cached image (or set ${PREFIX}allow-cached-images: "true" on the namespace)`];
}
