// Networking guardrails for shared clusters: Service types, external IPs, ExternalName targets, Ingress
// hosts, classes and ingress-nginx annotations, hand-made Endpoints. Each check takes the object, the options
// (the string map of lib/options.js) and what it needs to know about the cluster, and returns violation
// messages; judgeChange turns them into a denial and warnings for one admission request.

import {
  OPTIONS_CONFIGMAP, OPTIONS_NAMESPACE, OptionError, PREFIX, booleanOption, hasOption, listOption,
} from "./options.js";
import { subjectOf } from "./workloads.js";

// ---- reporting ----------------------------------------------------------------------------------------

const q = (value) => JSON.stringify(value);

/** `"a"`, `"a", "b"`: values as messages quote them. */
export function quoted(values) {
  return values.map(q).join(", ");
}

// "address 10.0.0.1 is", "addresses 10.0.0.1, 10.0.0.2 are": `items` named by `text`, and the verb.
const listed = (items, one, many, text) => (items.length === 1 ? `${one} ${text} is` : `${many} ${text} are`);

/**
 * How a message tells the platform team to change option `key`: on the Namespace when the policy reads it
 * per namespace (and the request has one), else in the library's ConfigMap.
 */
export function howToSet(key, namespace, perNamespace = true) {
  return perNamespace && namespace
    ? `set ${PREFIX}${key} on the namespace`
    : `set ${key} in the ConfigMap ${OPTIONS_NAMESPACE}/${OPTIONS_CONFIGMAP}`;
}

const EXISTING = "it was so before this update, so the update is allowed; fix it when you can";

/**
 * The answer to an admission request from `check(object) -> messages`: problems the request introduces deny
 * it (`denial`, all of them in one message naming the object); on an UPDATE, problems the old object had
 * already become `warnings`, so a tenant can still relabel, scale or finalize (delete) an object that
 * predates the policy or its options. A bad option value (OptionError) is the denial.
 */
export function judgeChange(request, check) {
  let current;
  let previous = [];
  try {
    current = request.object ? check(request.object) : [];
    if (request.operation === "UPDATE" && request.oldObject) previous = check(request.oldObject);
  } catch (error) {
    if (error instanceof OptionError) return { denial: error.message, warnings: [] };
    throw error;
  }
  const before = new Set(previous);
  const introduced = current.filter((problem) => !before.has(problem));
  const subject = subjectOf(request);
  return {
    denial: introduced.length ? `${subject}: ${introduced.join("; ")}` : undefined,
    warnings: current.filter((problem) => before.has(problem)).map((problem) => `${subject}: ${problem} (${EXISTING})`),
  };
}

// ---- addresses ----------------------------------------------------------------------------------------

function parseIPv4(text) {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256n + BigInt(part);
  }
  return value;
}

function parseIPv6(text) {
  let address = text;
  const last = address.slice(address.lastIndexOf(":") + 1);
  if (last.includes(".")) {
    const v4 = parseIPv4(last);
    if (v4 === undefined) return undefined;
    const groups = (v4 >> 16n).toString(16) + ":" + (v4 & 0xffffn).toString(16);
    address = address.slice(0, address.length - last.length) + groups;
  }
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const left = halves[0] ? halves[0].split(":") : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  let value = 0n;
  for (const group of [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt("0x" + group);
  }
  return value;
}

const MAPPED_V4 = 0xffffn << 32n; // ::ffff:a.b.c.d is the IPv4 address a.b.c.d

/**
 * An IPv4 or IPv6 address as `{family: 4|6, value: bigint}`, or undefined. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) are IPv4, so they cannot slip past an IPv4 range.
 */
export function parseIP(text) {
  if (typeof text !== "string") return undefined;
  const trimmed = text.trim();
  if (trimmed.includes(":")) {
    const value = parseIPv6(trimmed);
    if (value === undefined) return undefined;
    return value >> 32n === 0xffffn ? { family: 4, value: value - MAPPED_V4 } : { family: 6, value };
  }
  const value = parseIPv4(trimmed);
  return value === undefined ? undefined : { family: 4, value };
}

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address as `{family, value, bits}`, or undefined. */
export function parseCIDR(text) {
  if (typeof text !== "string") return undefined;
  const [address, bits, extra] = text.trim().split("/");
  const ip = parseIP(address);
  if (!ip || extra !== undefined) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  if (bits === undefined) return { ...ip, bits: width };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > width) return undefined;
  const hostBits = BigInt(width - Number(bits));
  return { family: ip.family, value: (ip.value >> hostBits) << hostBits, bits: Number(bits) };
}

/** Whether the address `ip` (text) lies in one of `ranges` (parseCIDR results). */
export function inCIDRs(ip, ranges) {
  const address = parseIP(ip);
  if (!address) return false;
  const width = address.family === 4 ? 32 : 128;
  return ranges.some((range) => {
    if (range.family !== address.family) return false;
    const hostBits = BigInt(width - range.bits);
    return address.value >> hostBits === range.value >> hostBits;
  });
}

/** A list option of CIDRs and addresses, parsed (OptionError naming the first bad entry). */
export function cidrOption(options, key) {
  return listOption(options, key).map((entry) => {
    const range = parseCIDR(entry);
    const expected = `IP addresses or CIDRs such as 203.0.113.0/24 (${q(entry)} is not one)`;
    if (!range) throw new OptionError(key, options[key], expected);
    return range;
  });
}

function allowedText(options, key) {
  return hasOption(options, key) ? listOption(options, key).join(", ") : "none";
}

// ---- Services -----------------------------------------------------------------------------------------

const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

/**
 * restrict-service-types: the Service's type must be in `allowed-service-types` (per namespace; default
 * ClusterIP and ExternalName, so NodePort and LoadBalancer need the namespace's opt-in).
 */
export function serviceTypeProblems(service, options, namespace) {
  const key = "allowed-service-types";
  const allowed = listOption(options, key, ["ClusterIP", "ExternalName"]).map((entry) => {
    const type = SERVICE_TYPES.find((known) => known.toLowerCase() === entry.toLowerCase());
    if (!type) throw new OptionError(key, options[key], `Service types among ${SERVICE_TYPES.join(", ")}`);
    return type;
  });
  const type = ((service && service.spec) || {}).type || "ClusterIP";
  if (allowed.includes(type)) return [];
  const allowedTypes = allowed.join(", ") || "none";
  const how = howToSet(key, namespace);
  return [`type ${type} is not allowed in namespace ${q(namespace)} (allowed: ${allowedTypes}; ${how})`];
}

/**
 * disallow-external-ips: every spec.externalIPs entry must lie in `allowed-external-ips` (cluster-wide CIDRs;
 * none by default). CVE-2020-8554: an external IP makes every node send traffic for that address, from any
 * pod in the cluster, to this Service.
 */
export function externalIPProblems(service, options) {
  const key = "allowed-external-ips";
  const ranges = cidrOption(options, key);
  const ips = ((service && service.spec) || {}).externalIPs || [];
  const denied = ips.filter((ip) => !inCIDRs(ip, ranges));
  if (!denied.length) return [];
  return [
    `spec.externalIPs ${quoted(denied)} ${denied.length === 1 ? "is" : "are"} not allowed: an external IP captures ` +
      `the cluster's traffic to that address (CVE-2020-8554) (allowed: ${allowedText(options, key)}; ` +
      `${howToSet(key, "", false)})`,
  ];
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Top-level names that never leave the cluster's own networks: mDNS, RFC 6761 loopback, ICANN's private
// .internal (where cloud metadata servers live, e.g. metadata.google.internal).
const PRIVATE_TLDS = ["local", "localhost", "internal"];

/** The `cluster-domain` option (default cluster.local), lower case, without a trailing dot. */
export function clusterDomainOption(options) {
  const key = "cluster-domain";
  if (!hasOption(options, key)) return "cluster.local";
  const domain = options[key].trim().toLowerCase().replace(/\.$/, "");
  if (!DNS_NAME.test(domain)) throw new OptionError(key, options[key], "a DNS domain such as cluster.local");
  return domain;
}

/**
 * Why `name` (an ExternalName target) resolves inside the cluster, or undefined when it is an external
 * host. Services and pods of `namespace` itself (`web.<namespace>.svc...`) are fine: the hijack is of other
 * namespaces' traffic. `namespaceExists(name)` says whether a Namespace exists, for `<service>.<namespace>`,
 * which the cluster DNS search path resolves.
 */
export function internalNameReason(name, clusterDomain, namespace, namespaceExists = () => false) {
  const host = String(name || "").trim().toLowerCase().replace(/\.$/, "");
  if (parseIP(host)) return "is an IP address";
  const labels = host.split(".");
  if (labels.length === 1) return "is a bare name, which the cluster DNS resolves in the namespace of the client";
  let rest = labels;
  if (host === clusterDomain || host.endsWith("." + clusterDomain)) {
    rest = labels.slice(0, labels.length - clusterDomain.split(".").length);
    if (!["svc", "pod"].includes(rest[rest.length - 1])) return `is under the cluster domain ${q(clusterDomain)}`;
  }
  const last = rest[rest.length - 1];
  if (last === "svc" || last === "pod") {
    const target = rest[rest.length - 2];
    if (target === namespace) return undefined;
    return `names a ${last === "svc" ? "Service" : "pod"} in namespace ${q(target)}`;
  }
  if (PRIVATE_TLDS.includes(last)) return `is under .${last}, a name private to the cluster's networks`;
  if (rest.length === 2 && rest[1] !== namespace && namespaceExists(rest[1])) {
    return `resolves to Service ${q(rest[0])} in namespace ${q(rest[1])} through the cluster DNS search path`;
  }
  return undefined;
}

/**
 * restrict-externalname-services: an ExternalName Service may not alias a cluster-internal name (another
 * namespace's Service, the cluster domain, a bare name, an IP), which would let this namespace's Ingress or
 * mesh routes carry traffic into another namespace past its NetworkPolicies. `disallow-externalname-services`
 * (per namespace) forbids the type altogether.
 */
export function externalNameProblems(service, options, namespace, namespaceExists) {
  const spec = (service && service.spec) || {};
  if (spec.type !== "ExternalName") return [];
  const key = "disallow-externalname-services";
  if (booleanOption(options, key, false)) {
    const how = howToSet(key, namespace);
    return [`type ExternalName is not allowed in namespace ${q(namespace)} (${key} is true; ${how})`];
  }
  const reason = internalNameReason(spec.externalName, clusterDomainOption(options), namespace, namespaceExists);
  if (!reason) return [];
  const target = q(spec.externalName || "");
  return [`spec.externalName ${target} ${reason}: an ExternalName Service may only name a host outside the cluster`];
}

// ---- Ingress ------------------------------------------------------------------------------------------

/** The hosts of an Ingress (rules[].host, tls[].hosts[]), lower case, each once. */
export function ingressHostsOf(ingress) {
  const spec = (ingress && ingress.spec) || {};
  const hosts = [];
  for (const rule of spec.rules || []) if (rule && rule.host) hosts.push(rule.host);
  for (const tls of spec.tls || []) for (const host of (tls && tls.hosts) || []) if (host) hosts.push(host);
  return [...new Set(hosts.map((host) => host.toLowerCase()))];
}

/**
 * Whether two Ingress hosts can take the same request: equal, or a wildcard (`*.example.com`, one label) and
 * a host it matches (`shop.example.com`). `wildcards` false compares the names only.
 */
export function hostsOverlap(a, b, wildcards = true) {
  if (a === b) return true;
  if (!wildcards) return false;
  const covers = (wildcard, host) =>
    wildcard.startsWith("*.") && !host.startsWith("*.") && host.includes(".") &&
    host.slice(host.indexOf(".") + 1) === wildcard.slice(2);
  return covers(a, b) || covers(b, a);
}

/**
 * unique-ingress-hosts: the Ingress's hosts may not be used by an Ingress in another namespace (`ingresses`:
 * the cluster's, from list()). `check-ingress-wildcard-overlap` (default true) counts a wildcard host and
 * the hosts it matches as the same; `share-ingress-hosts-within-tenant` lets namespaces of one tenant
 * share hosts (`tenantOfNamespace(name)` gives a namespace's tenant).
 */
export function ingressHostConflicts(ingress, options, namespace, ingresses, tenantOfNamespace = () => "") {
  const wildcards = booleanOption(options, "check-ingress-wildcard-overlap", true);
  const share = booleanOption(options, "share-ingress-hosts-within-tenant", false);
  const tenant = share ? tenantOfNamespace(namespace) : "";
  const others = (ingresses || []).filter((other) => {
    const otherNamespace = ((other && other.metadata) || {}).namespace || "";
    return otherNamespace !== namespace && !(tenant && tenantOfNamespace(otherNamespace) === tenant);
  });
  const problems = [];
  for (const host of ingressHostsOf(ingress)) {
    const users = new Set();
    for (const other of others) {
      for (const otherHost of ingressHostsOf(other)) {
        if (!hostsOverlap(host, otherHost, wildcards)) continue;
        users.add(`namespace ${q(other.metadata.namespace)}` + (otherHost === host ? "" : ` (as ${q(otherHost)})`));
      }
    }
    if (users.size) {
      const owner = share ? "namespace or tenant" : "namespace";
      const where = [...users].sort().join(", ");
      problems.push(
        `host ${q(host)} is already used by an Ingress in ${where}: an Ingress host belongs to one ${owner}`);
    }
  }
  return problems;
}

const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

/**
 * The `allowed-ingress-hosts` patterns for a namespace: `{tenant}` and `{namespace}` replaced (a pattern
 * naming `{tenant}` is dropped for a namespace without one); undefined when the option is unset.
 */
export function ingressHostPatterns(options, namespace, tenant) {
  const key = "allowed-ingress-hosts";
  if (!hasOption(options, key)) return undefined;
  const patterns = [];
  for (const entry of listOption(options, key)) {
    const lower = entry.toLowerCase();
    if (!HOST_PATTERN.test(lower.replace(/\{(tenant|namespace)\}/g, "x"))) {
      const expected = "host names or *.domain patterns, optionally with {tenant} or {namespace} " +
        `(${q(entry)} is not one)`;
      throw new OptionError(key, options[key], expected);
    }
    if (lower.includes("{tenant}") && !tenant) continue;
    patterns.push(lower.replace(/\{tenant\}/g, tenant).replace(/\{namespace\}/g, namespace));
  }
  return patterns;
}

/** Whether host matches pattern: `*` any host, `*.example.com` any name below example.com, else equality. */
export function hostMatches(pattern, host) {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
  return host === pattern;
}

/**
 * ingress-host-allowlist: every host of the Ingress must match `allowed-ingress-hosts` (per namespace); while
 * the option is set, a rule without host and spec.defaultBackend (both take every host's requests) are
 * denied too. Unset: any host.
 */
export function ingressHostAllowlistProblems(ingress, options, namespace, tenant = "") {
  const key = "allowed-ingress-hosts";
  const patterns = ingressHostPatterns(options, namespace, tenant);
  if (patterns === undefined) return [];
  const forTenant = tenant ? `, for tenant ${q(tenant)}` : "";
  const allowed = `(allowed: ${patterns.join(", ") || "none"}${forTenant}; ${howToSet(key, namespace)})`;
  const spec = (ingress && ingress.spec) || {};
  const problems = [];
  const denied = ingressHostsOf(ingress).filter((host) => !patterns.some((pattern) => hostMatches(pattern, host)));
  if (denied.length) {
    const hosts = listed(denied, "host", "hosts", quoted(denied));
    problems.push(`${hosts} not allowed in namespace ${q(namespace)} ${allowed}`);
  }
  (spec.rules || []).forEach((rule, index) => {
    if (rule && rule.host) return;
    problems.push(`spec.rules[${index}] has no host, so it takes requests for every host: set one ${allowed}`);
  });
  if (spec.defaultBackend) {
    problems.push(`spec.defaultBackend takes requests for every host: use rules with hosts ${allowed}`);
  }
  return problems;
}

/** The classes an Ingress names: spec.ingressClassName and the older kubernetes.io/ingress.class annotation. */
export function ingressClassesOf(ingress) {
  const annotations = ((ingress && ingress.metadata) || {}).annotations || {};
  const classes = [((ingress && ingress.spec) || {}).ingressClassName, annotations["kubernetes.io/ingress.class"]];
  return [...new Set(classes.filter((name) => typeof name === "string" && name !== ""))];
}

/**
 * restrict-ingress-class: the Ingress's classes must be in `allowed-ingress-classes` (per namespace; unset:
 * any); `require-ingress-class` (per namespace, default false) denies an Ingress without class.
 */
export function ingressClassProblems(ingress, options, namespace) {
  const key = "allowed-ingress-classes";
  const required = booleanOption(options, "require-ingress-class", false);
  const allowed = hasOption(options, key) ? listOption(options, key) : undefined;
  const classes = ingressClassesOf(ingress);
  const list = allowed ? `allowed: ${allowed.join(", ")}; ` : "";
  if (!classes.length) {
    if (!required) return [];
    const why = `${list}require-ingress-class is true`;
    return [`an ingress class is required in namespace ${q(namespace)}: set spec.ingressClassName (${why})`];
  }
  if (!allowed) return [];
  const denied = classes.filter((name) => !allowed.includes(name));
  if (!denied.length) return [];
  const how = howToSet(key, namespace);
  return [`ingress class ${quoted(denied)} is not allowed in namespace ${q(namespace)} (${list}${how})`];
}

const NGINX = "nginx.ingress.kubernetes.io/";
// Taken as nginx configuration, with no validation: CVE-2021-25742 (snippets), CVE-2023-5043
// (configuration-snippet); auth-proxy-set-headers inserts the headers of a ConfigMap (CVE-2025-15566).
const RAW_CONFIG = { [NGINX + "auth-proxy-set-headers"]: "CVE-2025-15566" };
// Values ingress-nginx writes into nginx directives; the CVEs of the injections found in them so far.
const INJECTABLE = {
  "auth-url": "CVE-2025-24514", "auth-method": "CVE-2026-1580", "auth-signin": "",
  "auth-tls-match-cn": "CVE-2025-1097", "auth-tls-error-page": "", "mirror-target": "CVE-2025-1098",
  "mirror-host": "CVE-2025-1098", "permanent-redirect": "CVE-2023-5044", "temporal-redirect": "",
  "rewrite-target": "CVE-2026-3288", "app-root": "", "server-alias": "", "proxy-ssl-name": "", "upstream-hash-by": "",
  "modsecurity-transaction-id": "", "x-forwarded-prefix": "",
};
// Characters that end an nginx directive, block or string, or start a comment (CVE-2026-4342); braces only
// as a regex count ({2}, {1,3}) or a variable (${host}).
const BREAKOUT = /[\u0000-\u001f\u007f;"'`#]/;
const SAFE_BRACES = /\{\d+(,\d*)?\}|\$\{[A-Za-z_]\w*\}/g;
// Directives and files an annotation or path has no business naming (CVE-2021-25745, CVE-2021-25746).
const FORBIDDEN_WORDS = new RegExp([
  "_by_lua", "load_module", "lua_package", "/etc/(passwd|shadow|group|nginx|ingress-controller)", "/var/run/secrets",
  "serviceaccount", "\\balias\\s+\\S.*;", "\\broot\\s+\\S.*;",
].join("|"), "i");
const SNIPPET = "a snippet is raw nginx configuration, which can read every Secret the controller can " +
  "(CVE-2021-25742, CVE-2023-5043)";
const INJECTS = "which can inject nginx configuration";

function unsafeText(text) {
  const character = BREAKOUT.exec(text);
  if (character) return `the character ${q(character[0])}`;
  return /[{}]/.test(text.replace(SAFE_BRACES, "")) ? "a brace" : undefined;
}

/**
 * disallow-risky-ingress-annotations: ingress-nginx annotations that can inject nginx configuration. Any
 * `*-snippet(s)` annotation (raw configuration: CVE-2021-25742, CVE-2023-5043) and auth-proxy-set-headers are
 * denied; the annotations whose values ingress-nginx writes into directives (auth-url, auth-tls-match-cn,
 * mirror-*, permanent-redirect, rewrite-target, ...) may not hold characters that break out of them; no
 * nginx annotation value or path may name Lua, secrets or system files (CVE-2021-25746), and paths may not
 * break out either (CVE-2021-25748, CVE-2026-24512). `allowed-ingress-annotations` (per namespace) lists
 * annotation keys to leave alone; `denied-ingress-annotations` (cluster-wide) adds keys to deny outright.
 */
export function riskyIngressProblems(ingress, options, namespace) {
  const allowedKey = "allowed-ingress-annotations";
  const allowed = listOption(options, allowedKey);
  const denied = listOption(options, "denied-ingress-annotations");
  const hint = `(allow it with ${allowedKey}: ${howToSet(allowedKey, namespace)})`;
  const problems = [];
  const annotations = ((ingress && ingress.metadata) || {}).annotations || {};
  for (const key of Object.keys(annotations).sort()) {
    if (allowed.includes(key)) continue;
    const value = String(annotations[key]);
    const name = key.slice(key.indexOf("/") + 1);
    const injectable = key.startsWith(NGINX) && Object.prototype.hasOwnProperty.call(INJECTABLE, name);
    if (/-snippets?$/.test(name)) {
      problems.push(`annotation ${key} is not allowed: ${SNIPPET} ${hint}`);
    } else if (RAW_CONFIG[key]) {
      const why = `it inserts nginx configuration this policy cannot check (${RAW_CONFIG[key]})`;
      problems.push(`annotation ${key} is not allowed: ${why} ${hint}`);
    } else if (denied.includes(key)) {
      problems.push(`annotation ${key} is not allowed (denied-ingress-annotations) ${hint}`);
    } else if (injectable && unsafeText(value)) {
      const cve = INJECTABLE[name] ? ` (${INJECTABLE[name]})` : "";
      problems.push(`annotation ${key} holds ${unsafeText(value)}, ${INJECTS}${cve} ${hint}`);
    } else if (key.startsWith(NGINX)) {
      const word = FORBIDDEN_WORDS.exec(value);
      const found = /[\r\n]/.test(value) ? "a line break" : word ? q(word[0]) : undefined;
      if (found) problems.push(`annotation ${key} holds ${found}, ${INJECTS} (CVE-2021-25746) ${hint}`);
    }
  }
  ((ingress && ingress.spec) || {}).rules?.forEach((rule, r) => {
    (((rule || {}).http || {}).paths || []).forEach((entry, p) => {
      const path = String((entry || {}).path || "");
      const word = FORBIDDEN_WORDS.exec(path);
      const reason = unsafeText(path) || (word ? q(word[0]) : undefined);
      const cves = "(CVE-2021-25748, CVE-2026-24512)";
      if (reason) problems.push(`spec.rules[${r}].http.paths[${p}].path holds ${reason}, ${INJECTS} ${cves}`);
    });
  });
  return problems;
}

// ---- Endpoints ----------------------------------------------------------------------------------------

const MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
// The control plane's own managers: the apiserver (the kubernetes Service's endpoints) and the
// kube-controller-manager, under its own name or per-controller service accounts
// (--use-service-account-credentials).
export const ENDPOINT_MANAGERS = [
  "system:apiserver", "system:kube-controller-manager",
  "system:serviceaccount:kube-system:endpoint-controller",
  "system:serviceaccount:kube-system:endpointslice-controller",
  "system:serviceaccount:kube-system:endpointslicemirroring-controller",
];
const CONTROL_PLANE_MANAGERS = ["endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"];

/** Whether `username` is a control-plane endpoints manager or listed in the `endpoint-managers` option. */
export function isEndpointManager(username, options) {
  return ENDPOINT_MANAGERS.includes(username) || listOption(options, "endpoint-managers").includes(username);
}

/** The addresses of an Endpoints or EndpointSlice: `{field, address, targetRef}` each. */
export function endpointAddressesOf(object) {
  const found = [];
  if (!object) return found;
  if (object.kind === "EndpointSlice") {
    (object.endpoints || []).forEach((endpoint, e) => {
      (endpoint.addresses || []).forEach((address, a) => {
        found.push({ field: `endpoints[${e}].addresses[${a}]`, address, targetRef: endpoint.targetRef });
      });
    });
  } else {
    (object.subsets || []).forEach((subset, s) => {
      for (const list of ["addresses", "notReadyAddresses"]) {
        (subset[list] || []).forEach((entry, a) => {
          found.push({ field: `subsets[${s}].${list}[${a}]`, address: entry.ip, targetRef: entry.targetRef });
        });
      }
    });
  }
  return found;
}

/**
 * restrict-endpoints: Endpoints and EndpointSlices written by anyone but the control plane (or an
 * `endpoint-managers` user) may only hold addresses in `allowed-endpoint-cidrs` (per namespace; none by
 * default), may not name pods of another namespace, and may not claim the control plane's managed-by label.
 * CVE-2021-25740: a selector-less Service with such Endpoints sends traffic where its namespace cannot.
 */
export function endpointProblems(object, options, namespace) {
  const key = "allowed-endpoint-cidrs";
  const ranges = cidrOption(options, key);
  const problems = [];
  const manager = (((object && object.metadata) || {}).labels || {})[MANAGED_BY];
  if (CONTROL_PLANE_MANAGERS.includes(manager)) {
    problems.push(`label ${MANAGED_BY}=${manager} is the control plane's, and only it may set it`);
  }
  const fqdn = object && object.kind === "EndpointSlice" && object.addressType === "FQDN";
  if (fqdn && (object.endpoints || []).length) {
    problems.push("addressType FQDN is not allowed: hand-made EndpointSlices may only hold IP addresses");
    return problems;
  }
  const denied = [];
  for (const { field, address, targetRef } of endpointAddressesOf(object)) {
    if (!inCIDRs(address, ranges)) denied.push(`${address} (${field})`);
    if (targetRef && targetRef.namespace && targetRef.namespace !== namespace) {
      const target = `${targetRef.kind || "an object"} ${targetRef.namespace}/${targetRef.name || ""}`;
      problems.push(`${field}.targetRef names ${target} in another namespace`);
    }
  }
  if (denied.length) {
    const addresses = listed(denied, "address", "addresses", denied.join(", "));
    problems.unshift(`${addresses} not allowed: hand-made endpoints can ` +
      `carry a Service's traffic into other namespaces (CVE-2021-25740) (allowed: ${allowedText(options, key)}; ` +
      `${howToSet(key, namespace)})`);
  }
  return problems;
}
