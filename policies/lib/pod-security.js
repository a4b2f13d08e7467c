// The Pod Security Standards "baseline" level (latest), as kubernetes/pod-security-admission defines it.
import { containersOf, podTemplateOf, subjectOf } from "./workloads.js";

const CAPABILITIES = new Set(["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]);
const SYSCTLS = new Set(["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
  "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"]);
const SELINUX_TYPES = new Set(["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]);
const APPARMOR_TYPES = new Set(["RuntimeDefault", "Localhost"]);
const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";

/** The level podSecurityBaselineViolation names in its message. */
export const BASELINE = 'PodSecurity "baseline:latest"';

function names(list) {
  return list.map((c) => JSON.stringify(c.name)).join(", ");
}

/** The baseline checks of one pod ({metadata, spec}): one message per failed control, in the order of the standard. */
function checkBaseline(pod) {
  const spec = pod.spec;
  const podSecurity = spec.securityContext || {};
  const containers = containersOf(spec);
  const sc = (c) => c.securityContext || {};
  const problems = [];

  const hostNamespaces = ["hostNetwork", "hostPID", "hostIPC"].filter((f) => spec[f] === true);
  if (hostNamespaces.length) problems.push(`host namespaces (${hostNamespaces.map((f) => f + "=true").join(", ")})`);

  const privileged = containers.filter((c) => sc(c).privileged === true);
  if (privileged.length) problems.push(`privileged (containers ${names(privileged)} must not set securityContext.privileged=true)`);

  const capabilities = [];
  for (const c of containers) {
    for (const cap of ((sc(c).capabilities || {}).add || [])) {
      if (!CAPABILITIES.has(cap)) capabilities.push(`${JSON.stringify(c.name)} adds ${JSON.stringify(cap)}`);
    }
  }
  if (capabilities.length) problems.push(`non-default capabilities (${capabilities.join(", ")})`);

  const hostPaths = (spec.volumes || []).filter((v) => v.hostPath !== undefined && v.hostPath !== null);
  if (hostPaths.length) problems.push(`hostPath volumes (${names(hostPaths)})`);

  const hostPorts = [];
  for (const c of containers) {
    for (const port of c.ports || []) {
      if (port.hostPort) hostPorts.push(`${JSON.stringify(c.name)} uses hostPort ${port.hostPort}`);
    }
  }
  if (hostPorts.length) problems.push(`hostPort (${hostPorts.join(", ")})`);

  const appArmor = [];
  for (const [key, value] of Object.entries(pod.metadata.annotations || {})) {
    if (key.startsWith(APPARMOR_ANNOTATION) && value !== "" && value !== "runtime/default" && !value.startsWith("localhost/")) {
      appArmor.push(`annotation ${key}=${JSON.stringify(value)}`);
    }
  }
  const profileType = (context) => (context.appArmorProfile || {}).type;
  if (profileType(podSecurity) !== undefined && !APPARMOR_TYPES.has(profileType(podSecurity))) {
    appArmor.push(`pod appArmorProfile.type=${JSON.stringify(profileType(podSecurity))}`);
  }
  for (const c of containers) {
    const type = profileType(sc(c));
    if (type !== undefined && !APPARMOR_TYPES.has(type)) appArmor.push(`container ${JSON.stringify(c.name)} appArmorProfile.type=${JSON.stringify(type)}`);
  }
  if (appArmor.length) problems.push(`forbidden AppArmor profiles (${appArmor.join(", ")})`);

  const seLinux = [];
  const checkSELinux = (options, who) => {
    if (!options) return;
    if (!SELINUX_TYPES.has(options.type === undefined ? "" : options.type)) seLinux.push(`${who} type=${JSON.stringify(options.type)}`);
    if (options.user) seLinux.push(`${who} user=${JSON.stringify(options.user)}`);
    if (options.role) seLinux.push(`${who} role=${JSON.stringify(options.role)}`);
  };
  checkSELinux(podSecurity.seLinuxOptions, "pod");
  for (const c of containers) checkSELinux(sc(c).seLinuxOptions, `container ${JSON.stringify(c.name)}`);
  if (seLinux.length) problems.push(`seLinuxOptions (${seLinux.join(", ")})`);

  if (spec.hostUsers !== false) {
    const procMount = containers.filter((c) => sc(c).procMount !== undefined && sc(c).procMount !== "Default");
    if (procMount.length) problems.push(`procMount (containers ${names(procMount)} must not set securityContext.procMount)`);
  }

  const seccomp = [];
  const seccompType = (context) => (context.seccompProfile || {}).type;
  if (seccompType(podSecurity) === "Unconfined") seccomp.push("pod");
  for (const c of containers) if (seccompType(sc(c)) === "Unconfined") seccomp.push(`container ${JSON.stringify(c.name)}`);
  if (seccomp.length) problems.push(`seccompProfile (${seccomp.join(", ")} must not set securityContext.seccompProfile.type to "Unconfined")`);

  const sysctls = (podSecurity.sysctls || []).map((s) => s.name).filter((name) => !SYSCTLS.has(name));
  if (sysctls.length) problems.push(`forbidden sysctls (${sysctls.join(", ")})`);

  const hostProcess = [];
  if ((podSecurity.windowsOptions || {}).hostProcess === true) hostProcess.push("pod");
  for (const c of containers) if ((sc(c).windowsOptions || {}).hostProcess === true) hostProcess.push(`container ${JSON.stringify(c.name)}`);
  if (hostProcess.length) problems.push(`hostProcess (${hostProcess.join(", ")} must not set securityContext.windowsOptions.hostProcess=true)`);

  const hosts = [];
  for (const c of containers) {
    const handlers = [c.livenessProbe, c.readinessProbe, c.startupProbe, (c.lifecycle || {}).postStart, (c.lifecycle || {}).preStop];
    for (const handler of handlers) {
      if (!handler) continue;
      for (const action of [handler.httpGet, handler.tcpSocket]) {
        if (action && action.host) hosts.push(`${JSON.stringify(c.name)} uses host ${JSON.stringify(action.host)}`);
      }
    }
  }
  if (hosts.length) problems.push(`probe or lifecycle host (${hosts.join(", ")})`);

  return problems;
}

/**
 * The baseline violations of a Pod or of a workload's pod template (see podTemplateOf), one message per
 * failed control, e.g. `privileged (containers "app" must not set securityContext.privileged=true)`.
 * Empty when the object complies or holds no pod.
 */
export function podSecurityBaseline(object) {
  const pod = podTemplateOf(object);
  return pod === undefined ? [] : checkBaseline(pod);
}

/**
 * The denial message for the object of an admission request, as the library's pod-security-baseline policy
 * gives it (`Pod web violates PodSecurity "baseline:latest": host namespaces (hostPID=true)`), or undefined
 * when it complies.
 */
export function podSecurityBaselineViolation(request) {
  const problems = podSecurityBaseline(request.object);
  return problems.length > 0 ? `${subjectOf(request)} violates ${BASELINE}: ${problems.join(", ")}` : undefined;
}
