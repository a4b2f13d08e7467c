// The Pod Security Standards, baseline and restricted, at every policy version, as k8s.io/pod-security-admission
// (v0.36.3, the kube-apiserver's built-in PodSecurity admission) defines them: the same controls, the same
// versions, the same reasons and details in the same order, so a message reads as the API server's does.
//
// Each control is a function of the pod's metadata and spec returning undefined (allowed) or
// {reason, detail}. A control has one or more revisions, each from a minimum policy version; restricted runs
// the baseline controls too, except those its own revisions replace (e.g. restricted volume types replace
// hostPath volumes). Fields are read with Go's meaning: absent and null are unset, a boolean is set only
// when it is true or false.
import { containersOf, podTemplateOf, subjectOf } from "./workloads.js";

// -- Go's formatting, as the upstream messages use it -----------------------------------------------------

function present(value) {
  return value !== undefined && value !== null;
}

/** A Go string field: "" when unset. */
function text(value) {
  return present(value) ? String(value) : "";
}

/** Orders strings as Go's sort.Strings (UTF-8 bytes, i.e. code points), not by UTF-16 units. */
export function byCodePoint(a, b) {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after U+E000..U+FFFF in code point order.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** The sorted members of a set, as apimachinery's sets.List returns them. */
function sorted(values) {
  return [...values].sort(byCodePoint);
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const ESCAPES = { 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 34: '\\"', 92: "\\\\" };

/** A string quoted as Go's %q (strconv.Quote) quotes it: escapes for what is not printable, UTF-8 kept. */
export function goQuote(value) {
  let out = '"';
  for (const char of String(value)) {
    let code = char.codePointAt(0);
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate decodes to U+FFFD in Go
    const hex = (digits) => code.toString(16).padStart(digits, "0");
    if (ESCAPES[code]) out += ESCAPES[code];
    else if (PRINTABLE.test(String.fromCodePoint(code))) out += String.fromCodePoint(code);
    else if (code < 0x20 || code === 0x7f) out += "\\x" + hex(2);
    else if (code < 0x10000) out += "\\u" + hex(4);
    else out += "\\U" + hex(8);
  }
  return out + '"';
}

function joinQuote(items) {
  return items.length ? `"${items.join('", "')}"` : "";
}

function plural(singular, pluralForm, count) {
  return count === 1 ? singular : pluralForm;
}

/** `container "a"`, `containers "a", "b"`: how the details name the containers they blame. */
function containerList(names) {
  return `${plural("container", "containers", names.length)} ${joinQuote(names)}`;
}

function podContext(spec) {
  return spec.securityContext || {};
}

function context(container) {
  return container.securityContext || {};
}

function isWindows(spec) {
  return present(spec.os) && spec.os.name === "windows";
}

/** hostUsers: false, a pod in a user namespace: some controls relax for it from v1.35. */
function inUserNamespace(spec) {
  return spec.hostUsers === false;
}

// -- baseline controls --------------------------------------------------------------------------------------

const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";
const APPARMOR_TYPES = new Set(["RuntimeDefault", "Localhost"]);

function appArmorProfile(metadata, spec) {
  const setters = [];
  const values = new Set();
  const podProfile = podContext(spec).appArmorProfile;
  if (present(podProfile) && !APPARMOR_TYPES.has(text(podProfile.type))) {
    setters.push("pod");
    values.add(text(podProfile.type));
  }
  const containers = [];
  for (const c of containersOf(spec)) {
    const profile = context(c).appArmorProfile;
    if (present(profile) && !APPARMOR_TYPES.has(text(profile.type))) {
      containers.push(c.name);
      values.add(text(profile.type));
    }
  }
  if (containers.length) setters.push(containerList(containers));
  const annotations = [];
  for (const [key, value] of Object.entries(metadata.annotations || {})) {
    const allowed = text(value) === "" || value === "runtime/default" || text(value).startsWith("localhost/");
    if (key.startsWith(APPARMOR_ANNOTATION) && !allowed) annotations.push(`${key}=${goQuote(value)}`);
  }
  const bad = sorted(values);
  if (annotations.length) {
    bad.push(...sorted(annotations));
    setters.push(plural("annotation", "annotations", annotations.length));
  }
  if (!setters.length) return undefined;
  return {
    reason: plural("forbidden AppArmor profile", "forbidden AppArmor profiles", bad.length),
    detail: `${setters.join(" and ")} must not set AppArmor profile type to ${joinQuote(bad)}`,
  };
}

// The capabilities a baseline container may add: Docker's default set.
const CAPABILITIES = new Set(["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]);

function capabilitiesBaseline(metadata, spec) {
  const containers = [];
  const added = new Set();
  for (const c of containersOf(spec)) {
    const capabilities = context(c).capabilities;
    if (!present(capabilities)) continue;
    const forbidden = (capabilities.add || []).filter((cap) => !CAPABILITIES.has(cap));
    forbidden.forEach((cap) => added.add(text(cap)));
    if (forbidden.length) containers.push(c.name);
  }
  if (!containers.length) return undefined;
  return {
    reason: "non-default capabilities",
    detail: `${containerList(containers)} must not include ${joinQuote(sorted(added))} in securityContext.capabilities.add`,
  };
}

function hostNamespaces(metadata, spec) {
  const set = ["hostNetwork", "hostPID", "hostIPC"].filter((field) => spec[field] === true);
  return set.length ? { reason: "host namespaces", detail: set.map((field) => `${field}=true`).join(", ") } : undefined;
}

function hostPathVolumes(metadata, spec) {
  const volumes = (spec.volumes || []).filter((v) => present(v.hostPath)).map((v) => v.name);
  if (!volumes.length) return undefined;
  return { reason: "hostPath volumes", detail: `${plural("volume", "volumes", volumes.length)} ${joinQuote(volumes)}` };
}

function hostPorts(metadata, spec) {
  const containers = [];
  const ports = new Set();
  for (const c of containersOf(spec)) {
    const used = (c.ports || []).filter((port) => present(port.hostPort) && Number(port.hostPort) !== 0);
    used.forEach((port) => ports.add(String(port.hostPort)));
    if (used.length) containers.push(c.name);
  }
  if (!containers.length) return undefined;
  return {
    reason: "hostPort",
    detail: `${containerList(containers)} ${plural("uses", "use", containers.length)} `
      + `${plural("hostPort", "hostPorts", ports.size)} ${sorted(ports).join(", ")}`,
  };
}

function hostProbesAndHostLifecycle(metadata, spec) {
  const containers = new Set();
  const hosts = new Set();
  for (const c of containersOf(spec)) {
    const lifecycle = c.lifecycle || {};
    for (const handler of [c.livenessProbe, c.readinessProbe, c.startupProbe, lifecycle.postStart, lifecycle.preStop]) {
      if (!present(handler)) continue;
      for (const action of [handler.httpGet, handler.tcpSocket]) {
        if (present(action) && text(action.host) !== "") {
          containers.add(text(c.name));
          hosts.add(text(action.host));
        }
      }
    }
  }
  if (!containers.size) return undefined;
  return {
    reason: "probe or lifecycle host",
    detail: `${containerList(sorted(containers))} ${plural("uses", "use", containers.size)} `
      + `${plural("probe or lifecycle host", "probe or lifecycle hosts", hosts.size)} ${joinQuote(sorted(hosts))}`,
  };
}

function privileged(metadata, spec) {
  const containers = containersOf(spec).filter((c) => context(c).privileged === true).map((c) => c.name);
  if (!containers.length) return undefined;
  return { reason: "privileged", detail: `${containerList(containers)} must not set securityContext.privileged=true` };
}

function procMount(metadata, spec) {
  const containers = [];
  const types = new Set();
  for (const c of containersOf(spec)) {
    const value = context(c).procMount;
    if (present(value) && value !== "Default") {
      containers.push(c.name);
      types.add(text(value));
    }
  }
  if (!containers.length) return undefined;
  return {
    reason: "procMount",
    detail: `${containerList(containers)} must not set securityContext.procMount to ${joinQuote(sorted(types))}`,
  };
}

function procMountUnlessUserNamespace(metadata, spec) {
  return inUserNamespace(spec) ? undefined : procMount(metadata, spec);
}

const SELINUX_TYPES_1_0 = new Set(["", "container_t", "container_init_t", "container_kvm_t"]);
const SELINUX_TYPES_1_31 = new Set([...SELINUX_TYPES_1_0, "container_engine_t"]);

function seLinuxOptions(allowedTypes) {
  return (metadata, spec) => {
    const types = new Set();
    let user = false;
    let role = false;
    // Every field of each options object is looked at (no short cut): the detail lists all that is wrong.
    const valid = (options) => {
      const typeAllowed = allowedTypes.has(text(options.type));
      if (!typeAllowed) types.add(text(options.type));
      user = user || text(options.user) !== "";
      role = role || text(options.role) !== "";
      return typeAllowed && text(options.user) === "" && text(options.role) === "";
    };
    const setters = [];
    const podOptions = podContext(spec).seLinuxOptions;
    if (present(podOptions) && !valid(podOptions)) setters.push("pod");
    const containers = containersOf(spec).filter((c) => present(context(c).seLinuxOptions) && !valid(context(c).seLinuxOptions));
    if (containers.length) setters.push(containerList(containers.map((c) => c.name)));
    if (!setters.length) return undefined;
    const problems = [];
    if (types.size) problems.push(`${plural("type", "types", types.size)} ${joinQuote(sorted(types))}`);
    if (user) problems.push("user may not be set");
    if (role) problems.push("role may not be set");
    return {
      reason: "seLinuxOptions",
      detail: `${setters.join(" and ")} set forbidden securityContext.seLinuxOptions: ${problems.join("; ")}`,
    };
  };
}

const SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/";
const SECCOMP_TYPES = new Set(["RuntimeDefault", "Localhost"]);

/** v1.0 to v1.18: the seccomp annotations (the fields came in v1.19). */
function seccompAnnotations(metadata, spec) {
  const annotations = metadata.annotations || {};
  const forbidden = new Set();
  const check = (key) => {
    if (!Object.prototype.hasOwnProperty.call(annotations, key)) return;
    const value = text(annotations[key]);
    if (value !== "runtime/default" && value !== "docker/default" && !value.startsWith("localhost/")) {
      forbidden.add(`${key}=${goQuote(value)}`);
    }
  };
  check(SECCOMP_POD_ANNOTATION);
  for (const c of containersOf(spec)) check(SECCOMP_CONTAINER_ANNOTATION + text(c.name));
  if (!forbidden.size) return undefined;
  return {
    reason: "seccompProfile",
    detail: `forbidden ${plural("annotation", "annotations", forbidden.size)} ${sorted(forbidden).join(", ")}`,
  };
}

/**
 * The seccomp profile types set to something else than RuntimeDefault or Localhost: the setters ("pod",
 * `containers "a"`), the bad values, and (for restricted) the containers that set none while the pod sets none.
 */
function seccompSetters(spec) {
  const setters = [];
  const values = new Set();
  const podProfile = podContext(spec).seccompProfile;
  const podValid = present(podProfile) && SECCOMP_TYPES.has(text(podProfile.type));
  if (present(podProfile) && !podValid) {
    setters.push("pod");
    values.add(text(podProfile.type));
  }
  const explicit = [];
  const unset = [];
  for (const c of containersOf(spec)) {
    const profile = context(c).seccompProfile;
    if (present(profile)) {
      if (!SECCOMP_TYPES.has(text(profile.type))) {
        explicit.push(c.name);
        values.add(text(profile.type));
      }
    } else if (!podValid) {
      unset.push(c.name);
    }
  }
  if (explicit.length) setters.push(containerList(explicit));
  return { setters, values, unset };
}

function seccompForbiddenTypes({ setters, values }) {
  return {
    reason: "seccompProfile",
    detail: `${setters.join(" and ")} must not set securityContext.seccompProfile.type to ${joinQuote(sorted(values))}`,
  };
}

function seccompProfileBaseline(metadata, spec) {
  const found = seccompSetters(spec);
  return found.setters.length ? seccompForbiddenTypes(found) : undefined;
}

// The sysctls a baseline pod may set, by the policy version that allowed them.
const SYSCTLS_1_0 = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"];
const SYSCTLS_1_27 = [...SYSCTLS_1_0, "net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_1_29 = [...SYSCTLS_1_27, "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"];
const SYSCTLS_1_32 = [...SYSCTLS_1_29, "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

function sysctls(allowedList) {
  const allowed = new Set(allowedList);
  return (metadata, spec) => {
    const forbidden = (podContext(spec).sysctls || []).map((s) => text(s.name)).filter((name) => !allowed.has(name));
    return forbidden.length ? { reason: "forbidden sysctls", detail: forbidden.join(", ") } : undefined;
  };
}

function windowsHostProcess(metadata, spec) {
  const hostProcess = (sc) => present(sc.windowsOptions) && sc.windowsOptions.hostProcess === true;
  const setters = hostProcess(podContext(spec)) ? ["pod"] : [];
  const containers = containersOf(spec).filter((c) => hostProcess(context(c))).map((c) => c.name);
  if (containers.length) setters.push(containerList(containers));
  if (!setters.length) return undefined;
  return {
    reason: "hostProcess",
    detail: `${setters.join(" and ")} must not set securityContext.windowsOptions.hostProcess=true`,
  };
}

// -- restricted controls ------------------------------------------------------------------------------------

/** From v1.25 a control that does not apply to Windows pods (spec.os.name: windows). */
function unlessWindows(check) {
  return (metadata, spec) => (isWindows(spec) ? undefined : check(metadata, spec));
}

/** From v1.35 a control that does not apply to pods in a user namespace (hostUsers: false). */
function unlessUserNamespace(check) {
  return (metadata, spec) => (inUserNamespace(spec) ? undefined : check(metadata, spec));
}

function allowPrivilegeEscalation(metadata, spec) {
  const containers = containersOf(spec).filter((c) => context(c).allowPrivilegeEscalation !== false).map((c) => c.name);
  if (!containers.length) return undefined;
  return {
    reason: "allowPrivilegeEscalation != false",
    detail: `${containerList(containers)} must set securityContext.allowPrivilegeEscalation=false`,
  };
}

function capabilitiesRestricted(metadata, spec) {
  const missingDropAll = [];
  const adding = [];
  const added = new Set();
  for (const c of containersOf(spec)) {
    const capabilities = context(c).capabilities;
    if (!present(capabilities)) {
      missingDropAll.push(c.name);
      continue;
    }
    if (!(capabilities.drop || []).includes("ALL")) missingDropAll.push(c.name);
    const forbidden = (capabilities.add || []).filter((cap) => cap !== "NET_BIND_SERVICE");
    forbidden.forEach((cap) => added.add(text(cap)));
    if (forbidden.length) adding.push(c.name);
  }
  const details = [];
  if (missingDropAll.length) details.push(`${containerList(missingDropAll)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) {
    details.push(`${containerList(adding)} must not include ${joinQuote(sorted(added))} in securityContext.capabilities.add`);
  }
  return details.length ? { reason: "unrestricted capabilities", detail: details.join("; ") } : undefined;
}

// Inline volume sources a restricted pod may use, and the others in the order upstream names them.
const ALLOWED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
  "projected", "secret"];
const RESTRICTED_VOLUMES = ["hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
  "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte",
  "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos"];

function restrictedVolumes(metadata, spec) {
  const volumes = [];
  const types = new Set();
  for (const volume of spec.volumes || []) {
    if (ALLOWED_VOLUMES.some((field) => present(volume[field]))) continue;
    const type = RESTRICTED_VOLUMES.find((field) => present(volume[field]));
    // A volume naming no source is an emptyDir: the API server defaults it so before admission sees it.
    if (type === undefined) continue;
    volumes.push(volume.name);
    types.add(type);
  }
  if (!volumes.length) return undefined;
  return {
    reason: "restricted volume types",
    detail: `${plural("volume", "volumes", volumes.length)} ${joinQuote(volumes)} ${plural("uses", "use", volumes.length)} `
      + `${plural("restricted volume type", "restricted volume types", types.size)} ${joinQuote(sorted(types))}`,
  };
}

function runAsNonRoot(metadata, spec) {
  const setters = [];
  const podValue = podContext(spec).runAsNonRoot;
  if (podValue === false) setters.push("pod");
  const explicit = [];
  const unset = [];
  for (const c of containersOf(spec)) {
    const value = context(c).runAsNonRoot;
    if (present(value)) {
      if (value === false) explicit.push(c.name);
    } else if (podValue !== true) {
      unset.push(c.name);
    }
  }
  if (explicit.length) setters.push(containerList(explicit));
  if (setters.length) {
    return { reason: "runAsNonRoot != true", detail: `${setters.join(" and ")} must not set securityContext.runAsNonRoot=false` };
  }
  if (unset.length) {
    return { reason: "runAsNonRoot != true", detail: `pod or ${containerList(unset)} must set securityContext.runAsNonRoot=true` };
  }
  return undefined;
}

function runAsUser(metadata, spec) {
  const setters = podContext(spec).runAsUser === 0 ? ["pod"] : [];
  const containers = containersOf(spec).filter((c) => context(c).runAsUser === 0).map((c) => c.name);
  if (containers.length) setters.push(containerList(containers));
  return setters.length ? { reason: "runAsUser=0", detail: `${setters.join(" and ")} must not set runAsUser=0` } : undefined;
}

function seccompProfileRestricted(metadata, spec) {
  const found = seccompSetters(spec);
  if (found.setters.length) return seccompForbiddenTypes(found);
  if (!found.unset.length) return undefined;
  return {
    reason: "seccompProfile",
    detail: `pod or ${containerList(found.unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
  };
}

// -- the registry -------------------------------------------------------------------------------------------

// Every control, in upstream's order: baseline then restricted, each by its ID in byte order. `versions` are
// [minimum minor version, check] pairs (v1.<minor>); `overrides` names the baseline controls a restricted
// revision replaces.
const CONTROLS = [
  { id: "appArmorProfile", level: "baseline", versions: [[0, appArmorProfile]] },
  { id: "capabilities_baseline", level: "baseline", versions: [[0, capabilitiesBaseline]] },
  { id: "hostNamespaces", level: "baseline", versions: [[0, hostNamespaces]] },
  { id: "hostPathVolumes", level: "baseline", versions: [[0, hostPathVolumes]] },
  { id: "hostPorts", level: "baseline", versions: [[0, hostPorts]] },
  { id: "hostProbesAndHostLifecycle", level: "baseline", versions: [[34, hostProbesAndHostLifecycle]] },
  { id: "privileged", level: "baseline", versions: [[0, privileged]] },
  { id: "procMount", level: "baseline", versions: [[0, procMount], [35, procMountUnlessUserNamespace]] },
  { id: "seLinuxOptions", level: "baseline", versions: [[0, seLinuxOptions(SELINUX_TYPES_1_0)], [31, seLinuxOptions(SELINUX_TYPES_1_31)]] },
  { id: "seccompProfile_baseline", level: "baseline", versions: [[0, seccompAnnotations], [19, seccompProfileBaseline]] },
  { id: "sysctls", level: "baseline", versions: [[0, sysctls(SYSCTLS_1_0)], [27, sysctls(SYSCTLS_1_27)], [29, sysctls(SYSCTLS_1_29)], [32, sysctls(SYSCTLS_1_32)]] },
  { id: "windowsHostProcess", level: "baseline", versions: [[0, windowsHostProcess]] },
  { id: "allowPrivilegeEscalation", level: "restricted", versions: [[8, allowPrivilegeEscalation], [25, unlessWindows(allowPrivilegeEscalation)]] },
  {
    id: "capabilities_restricted", level: "restricted", overrides: ["capabilities_baseline"],
    versions: [[22, capabilitiesRestricted], [25, unlessWindows(capabilitiesRestricted)]],
  },
  { id: "procMount_restricted", level: "restricted", overrides: ["procMount"], versions: [[35, procMount]] },
  { id: "restrictedVolumes", level: "restricted", overrides: ["hostPathVolumes"], versions: [[0, restrictedVolumes]] },
  { id: "runAsNonRoot", level: "restricted", versions: [[0, runAsNonRoot], [35, unlessUserNamespace(runAsNonRoot)]] },
  { id: "runAsUser", level: "restricted", versions: [[23, runAsUser], [35, unlessUserNamespace(runAsUser)]] },
  {
    id: "seccompProfile_restricted", level: "restricted", overrides: ["seccompProfile_baseline"],
    versions: [[19, seccompProfileRestricted], [25, unlessWindows(seccompProfileRestricted)]],
  },
];

/** The newest policy version a control changes at (v1.35): later versions and "latest" evaluate as it does. */
export const NEWEST_POD_SECURITY_VERSION = `v1.${Math.max(...CONTROLS.flatMap((c) => c.versions.map(([minor]) => minor)))}`;
const NEWEST_MINOR = Number(NEWEST_POD_SECURITY_VERSION.slice(3));

/** The checks of a level at a minor version, in upstream's order. */
function checksAt(level, minor) {
  const revision = (control) => control.versions.filter(([since]) => since <= minor).pop();
  const active = CONTROLS.filter((c) => (c.level === "baseline" || level === "restricted") && revision(c));
  const replaced = new Set(active.flatMap((c) => c.overrides || []));
  return active.filter((c) => !replaced.has(c.id)).map((c) => revision(c)[1]);
}

// -- levels and versions ------------------------------------------------------------------------------------

export const POD_SECURITY_LEVELS = ["privileged", "baseline", "restricted"];
const VERSION = /^v1\.([0-9]|[1-9][0-9]*)$/;
const MAX_INT64 = 9223372036854775807n;

/**
 * A level label value as upstream's api.ParseLevel reads it: `{level}`, or `{level: "restricted", error}`
 * for anything but privileged, baseline or restricted.
 */
export function parsePodSecurityLevel(value) {
  if (POD_SECURITY_LEVELS.includes(value)) return { level: value };
  return { level: "restricted", error: `must be one of ${POD_SECURITY_LEVELS.join(", ")}` };
}

/**
 * A version label value as upstream's api.ParseVersion reads it: `{version}` ("latest" or "v1.<n>"), or
 * `{version: "latest", error}` for anything else.
 */
export function parsePodSecurityVersion(value) {
  if (value === "latest") return { version: "latest" };
  const match = typeof value === "string" ? VERSION.exec(value) : null;
  if (match && match[1].length <= 19 && BigInt(match[1]) <= MAX_INT64) return { version: value };
  return { version: "latest", error: 'must be "latest" or "v1.x"' };
}

function checked(parsed, what, value) {
  if (parsed.error) throw new Error(`invalid Pod Security ${what} ${JSON.stringify(value)}: ${parsed.error}`);
  return parsed;
}

/** The minor version a policy version evaluates as: "latest" and versions past the newest are the newest. */
function effectiveMinor(version) {
  return version === "latest" ? NEWEST_MINOR : Math.min(Number(version.slice(3)), NEWEST_MINOR);
}

// -- the checks ---------------------------------------------------------------------------------------------

/**
 * The Pod Security Standards violations of a Pod or of a workload's pod template (see podTemplateOf) at
 * `level` ("privileged", "baseline" or "restricted") and `version` ("latest" or "v1.<n>"): one
 * `{reason, detail}` per failed control, upstream's ForbiddenReason and ForbiddenDetail, in upstream's order.
 * Empty when the object complies or holds no pod. Throws on an unknown level or version.
 */
export function podSecurity(object, level, version = "latest") {
  checked(parsePodSecurityLevel(level), "level", level);
  checked(parsePodSecurityVersion(version), "version", version);
  const pod = podTemplateOf(object);
  if (pod === undefined || level === "privileged") return [];
  const metadata = pod.metadata || {};
  const spec = pod.spec || {};
  return checksAt(level, effectiveMinor(version)).map((check) => check(metadata, spec)).filter(present);
}

/**
 * The violations as the API server lists them after `violates PodSecurity "<level>:<version>": `:
 * `reason (detail), reason (detail)`.
 */
export function podSecurityDetail(violations) {
  return violations.map((v) => (v.detail ? `${v.reason} (${v.detail})` : v.reason)).join(", ");
}

/**
 * `<Kind> <name> violates PodSecurity "<level>:<version>": <violations>` for the request's object, or
 * undefined when it complies.
 */
export function podSecurityViolation(request, level, version = "latest") {
  const violations = podSecurity(request.object, level, version);
  if (!violations.length) return undefined;
  return `${subjectOf(request)} violates PodSecurity "${level}:${version}": ${podSecurityDetail(violations)}`;
}

/** The level podSecurityBaselineViolation names in its message. */
export const BASELINE = 'PodSecurity "baseline:latest"';

/**
 * The baseline (latest) violations of a Pod or of a workload's pod template, one `reason (detail)` string per
 * failed control, e.g. `privileged (container "app" must not set securityContext.privileged=true)`.
 */
export function podSecurityBaseline(object) {
  return podSecurity(object, "baseline", "latest").map((v) => podSecurityDetail([v]));
}

/**
 * The denial message of the library's pod-security-baseline policy for the request's object
 * (`Pod web violates PodSecurity "baseline:latest": host namespaces (hostPID=true)`), or undefined.
 */
export function podSecurityBaselineViolation(request) {
  return podSecurityViolation(request, "baseline", "latest");
}
