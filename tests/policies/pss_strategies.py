"""Hypothesis strategies for the Pod Security Standards differential test (tests/policies/pss_differential.py).

They draw pods over every field a control of k8s.io/pod-security-admission reads (its policy/check_*.go), with
the values on both sides of each control's line and odd ones beside them, across init, regular and ephemeral
containers; and compliant pods with one field flipped, which put each control's boundary under the test alone.
The API server validates a pod before any admission plugin sees it, so the pods obey its validation rules
(Windows pods set no Linux fields, hostProcess pods are all hostProcess, annotations agree with the fields,
...): a 422 compares nothing.

A case is plain JSON, as the regression file keeps it: ``{"kind": "create", "pod": ...}``, or an update of a
pod already stored: ``ephemeral`` (adds ``ephemeralContainers`` through the pods/ephemeralcontainers
subresource), ``metadata`` (new ``labels``, more ``annotations``: the admission lets such an update through
whatever the pod) or ``image`` (``images`` maps container names to new images; annotations may change too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

Json = dict[str, Any]
LEVELS = ("baseline", "restricted")
VERSIONS = (*(f"v1.{minor}" for minor in range(37)), "latest")
UPDATE_KINDS = ("ephemeral", "metadata", "image")

IMAGE = "registry.k8s.io/pause:3.10"
IMAGES = (IMAGE, "registry.k8s.io/pause:3.9", "docker.io/library/busybox:1.36")
NAMES = ("app", "sidecar", "web", "init", "setup", "debug", "c-1", "a", "metrics", "x9")
EPHEMERAL_NAMES = ("debugger", "shell", "probe-1", "e")
VOLUME_NAMES = ("data", "logs", "cache", "host", "cfg", "v-1", "tmp")
# The baseline set (check_capabilities_baseline.go), then what is outside it: misspellings, the CAP_ prefix,
# lower case, ALL, empty, punctuation.
DEFAULT_CAPABILITIES = (
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)
# Nothing validates capability names, and the messages quote them unescaped, sorted by UTF-8 bytes: so a quote,
# a backslash, and two characters JavaScript's default sort (UTF-16 units) puts the other way round.
ODD_CAPABILITIES = (
    *("NET_RAW", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "BPF", "ALL", "all", "chown", "CAP_CHOWN", ""),
    *('CAP_"X"', "back\\slash", "\uff21", "\U0001f600"),
)
CAPABILITIES = DEFAULT_CAPABILITIES + ODD_CAPABILITIES
DROPS = ("ALL", "ALL", "all", "NET_RAW", "CAP_ALL", "CHOWN", "")
# Every sysctl on some version's allow-list (check_sysctls.go), then namespaced ones on none, the slash form
# of an allowed one and two a later Kubernetes may allow.
SYSCTLS_V1_0 = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
)
SYSCTLS_LATER = (
    "net.ipv4.ip_local_reserved_ports",  # v1.27
    "net.ipv4.tcp_keepalive_time",  # v1.29
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",  # v1.32
    "net.ipv4.tcp_wmem",
)
SYSCTLS_OTHER = (
    "kernel.msgmax",
    "kernel.sem",
    "net.core.somaxconn",
    "net.ipv4.ip_forward",
    "net/ipv4/tcp_syncookies",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
    "fs.mqueue.msg_max",
)
SYSCTLS = SYSCTLS_V1_0 + SYSCTLS_LATER + SYSCTLS_OTHER
SELINUX_TYPES = (
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
    "spc_t",
    "unconfined_t",
    '"quoted"_t',
    "\uff21_t",
    "\U0001f600_t",
)
SELINUX_USERS = ("", "system_u", "unconfined_u")
SELINUX_ROLES = ("", "system_r", "object_r")
SECCOMP_TYPES = ("RuntimeDefault", "Localhost", "Unconfined")
SECCOMP_ANNOTATION_VALUES = ("runtime/default", "docker/default", "unconfined", "localhost/profiles/audit.json")
APPARMOR_TYPES = ("RuntimeDefault", "Localhost", "Unconfined")
APPARMOR_ANNOTATION_VALUES = ("", "runtime/default", "unconfined", "localhost/k8s-apparmor-example")
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
HOSTS = ("", "localhost", "127.0.0.1", "10.0.0.1", "example.com", "::1", "\uff21.example", "\U0001f600.example")
# One valid source of each inline volume type the API server still accepts; restricted allows the last nine.
VOLUME_SOURCES: dict[str, Json] = {
    "hostPath": {"path": "/var/log"},
    "gcePersistentDisk": {"pdName": "disk-1"},
    "awsElasticBlockStore": {"volumeID": "vol-1"},
    "gitRepo": {"repository": "https://example.com/repo.git"},
    "nfs": {"server": "nfs.example.com", "path": "/export"},
    "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:storage", "lun": 0},
    "glusterfs": {"endpoints": "gluster", "path": "vol"},
    "rbd": {"monitors": ["10.0.0.1:6789"], "image": "img"},
    "flexVolume": {"driver": "example.com/driver"},
    "cinder": {"volumeID": "vol-1"},
    "cephfs": {"monitors": ["10.0.0.1:6789"]},
    "flocker": {"datasetName": "ds"},
    "fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 0},
    "azureFile": {"secretName": "azure", "shareName": "share"},
    "vsphereVolume": {"volumePath": "[datastore] vol.vmdk"},
    "quobyte": {"registry": "registry:7861", "volume": "vol"},
    "azureDisk": {"diskName": "disk", "diskURI": "https://example.com/disk.vhd"},
    "photonPersistentDisk": {"pdID": "pd-1"},
    "portworxVolume": {"volumeID": "vol-1"},
    "scaleIO": {
        "gateway": "https://gateway.example.com",
        "system": "sys",
        "secretRef": {"name": "scaleio"},
        "volumeName": "vol",
    },
    "storageos": {"volumeName": "vol"},
    "configMap": {"name": "settings"},
    "secret": {"secretName": "credentials"},
    "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
    "emptyDir": {},
    "projected": {"sources": [{"configMap": {"name": "settings"}}]},
    "csi": {"driver": "csi.example.com"},
    "persistentVolumeClaim": {"claimName": "claim"},
    "ephemeral": {
        "volumeClaimTemplate": {
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }
    },
    "image": {"reference": IMAGE},
}
VOLUME_TYPES = tuple(VOLUME_SOURCES)
RESTRICTED_VOLUME_TYPES = VOLUME_TYPES[:21]
ALLOWED_VOLUME_TYPES = VOLUME_TYPES[21:]
IPC_SYSCTL_PREFIXES = ("kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue.")

T = TypeVar("T")
_INDEXES: dict[int, st.SearchStrategy[int]] = {}
_SUBSETS: dict[tuple[int, int, int], st.SearchStrategy[list[int]]] = {}


class Chooser:
    """Draws through strategies built once: hypothesis validates each strategy object it meets, and building
    them anew for every field of every pod made generation five times slower."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def index(self, count: int) -> int:
        strategy = _INDEXES.get(count)
        if strategy is None:
            strategy = _INDEXES[count] = st.integers(min_value=0, max_value=count - 1)
        return self._draw(strategy)

    def one(self, values: Sequence[T]) -> T:
        return values[self.index(len(values))]

    def maybe(self, values: Sequence[T]) -> T | None:
        """One of the values or, as often as any one of them, nothing (the field is left out)."""
        index = self.index(len(values) + 1)
        return None if index == 0 else values[index - 1]

    def flag(self) -> bool:
        return self.index(2) == 1

    def maybe_flag(self) -> bool | None:
        return self.maybe((False, True))

    def some(self, values: Sequence[T], max_size: int, min_size: int = 0) -> list[T]:
        """Distinct values, in the drawn order."""
        key = (len(values), min_size, max_size)
        strategy = _SUBSETS.get(key)
        if strategy is None:
            indexes = st.integers(min_value=0, max_value=len(values) - 1)
            strategy = _SUBSETS[key] = st.lists(indexes, min_size=min_size, max_size=max_size, unique=True)
        return [values[i] for i in self._draw(strategy)]


def _set(target: Json, **fields: Any) -> Json:
    """``target`` with the fields that are not None."""
    target.update({key: value for key, value in fields.items() if value is not None})
    return target


class Shape:
    """What the pod as a whole decided first, which each container's fields must fit for validation to pass."""

    def __init__(self, os_name: str | None, host_users: bool | None, host_process: str) -> None:
        self.windows = os_name == "windows"
        self.linux = os_name == "linux"
        self.userns = host_users is False
        self.host_process = host_process  # "", "pod" (set on the pod) or "containers" (set on each)

    @classmethod
    def of(cls, pod: Json) -> Shape:
        spec = pod["spec"]
        every = all(_host_process(c.get("securityContext")) is True for c in _all_containers(spec))
        mode = "pod" if _host_process(spec.get("securityContext")) is True else "containers" if every else ""
        return cls((spec.get("os") or {}).get("name"), spec.get("hostUsers"), mode)


def _host_process(context: Json | None) -> bool | None:
    value: bool | None = ((context or {}).get("windowsOptions") or {}).get("hostProcess")
    return value


def _profile(c: Chooser, types: Sequence[str], localhost: Sequence[str]) -> Json:
    """A seccompProfile or appArmorProfile: localhostProfile exactly when the type is Localhost."""
    kind = c.one(types)
    return {"type": kind, "localhostProfile": c.one(localhost)} if kind == "Localhost" else {"type": kind}


def seccomp_profile(c: Chooser, types: Sequence[str] = SECCOMP_TYPES) -> Json:
    return _profile(c, types, ("profiles/audit.json", "my-profile.json"))


def apparmor_profile(c: Chooser, types: Sequence[str] = APPARMOR_TYPES) -> Json:
    return _profile(c, types, ("k8s-apparmor-example", "custom"))


def selinux_options(c: Chooser) -> Json:
    return _set(
        {},
        type=c.maybe(SELINUX_TYPES),
        user=c.maybe(SELINUX_USERS),
        role=c.maybe(SELINUX_ROLES),
        level=c.maybe(("s0", "s0:c123,c456")),
    )


def user_id(c: Chooser) -> int:
    return c.one((0, 0, 1000, 65534, 2**31 - 1, 1))


def windows_options(c: Chooser, shape: Shape, pod_level: bool) -> Json | None:
    """hostProcess is true on the pod of a "pod" pod and on each container of a "containers" one, may be left
    unset (inherited) on the containers of a "pod" pod, and is never true otherwise."""
    if shape.linux:
        return None
    if shape.host_process == ("pod" if pod_level else "containers"):
        host_process: bool | None = True
    elif shape.host_process == "pod":
        host_process = c.maybe((True,))
    elif shape.host_process == "containers":
        host_process = None
    else:
        host_process = c.maybe((False,))
    return _set({}, hostProcess=host_process, runAsUserName=c.maybe(("ContainerUser",))) or None


def container_security_context(c: Chooser, shape: Shape) -> Json | None:
    context = _set({}, runAsNonRoot=c.maybe_flag(), windowsOptions=windows_options(c, shape, pod_level=False))
    if not shape.windows:
        capabilities = _set({}, add=c.maybe((c.some(CAPABILITIES, 3),)), drop=c.maybe((c.some(DROPS, 2),)))
        _set(
            context,
            privileged=c.maybe_flag(),
            allowPrivilegeEscalation=c.maybe_flag(),
            capabilities=c.maybe((capabilities,)),
            runAsUser=c.maybe((user_id(c),)),
            seLinuxOptions=c.maybe((selinux_options(c),)),
            seccompProfile=c.maybe((seccomp_profile(c),)),
            appArmorProfile=c.maybe((apparmor_profile(c),)),
            readOnlyRootFilesystem=c.maybe_flag(),
            procMount=c.maybe(("Default", "Unmasked") if shape.userns else ("Default",)),
        )
        if context.get("allowPrivilegeEscalation") is False and (
            context.get("privileged") is True or "CAP_SYS_ADMIN" in capabilities.get("add", [])
        ):
            del context["allowPrivilegeEscalation"]  # validation refuses the pair
    return context or None


def handler(c: Chooser, lifecycle: bool) -> Json:
    """A probe or lifecycle handler; httpGet and tcpSocket may name a host (check_hostProbesAndhostLifecycle.go)."""
    port = c.one((8080, 80, 9090))
    kind = c.one(("httpGet", "tcpSocket", "exec", "sleep" if lifecycle else "grpc"))
    host = c.maybe(HOSTS)
    if kind == "httpGet":
        return {"httpGet": _set({"path": "/healthz", "port": port}, host=host)}
    if kind == "tcpSocket":
        return {"tcpSocket": _set({"port": port}, host=host)}
    if kind == "exec":
        return {"exec": {"command": ["true"]}}
    return {"sleep": {"seconds": 1}} if lifecycle else {"grpc": {"port": port}}


class Ports:
    """Container ports unique in the pod, so host ports (which must be) are too; with hostNetwork the API
    server wants hostPort equal to containerPort (and defaults it to that)."""

    def __init__(self, host_network: bool) -> None:
        self.host_network = host_network
        self.used: set[int] = set()

    def draw(self, c: Chooser) -> list[Json] | None:
        ports = []
        for port in c.some((80, 443, 8080, 8443, 9090, 3000), 2):
            if port in self.used:
                continue
            self.used.add(port)
            entry: Json = {"containerPort": port}
            host_port = c.maybe((port,)) if self.host_network else c.maybe((0, port + 30000))
            if host_port:
                self.used.add(host_port)
            ports.append(_set(entry, hostPort=host_port))
        return ports or None


def container(c: Chooser, name: str, shape: Shape, ports: Ports | None, role: str) -> Json:
    """One container; ``role`` is "init", "sidecar" (an init container with restartPolicy Always), "main" or
    "ephemeral". Probes and lifecycle handlers go where validation allows them; ports not on ephemeral ones."""
    made: Json = {"name": name, "image": c.one(IMAGES)}
    if role == "sidecar":
        made["restartPolicy"] = "Always"
    if ports is not None:
        _set(made, ports=ports.draw(c))
    if role in ("main", "sidecar"):
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.flag():
                made[probe] = handler(c, lifecycle=False)
        lifecycle = {hook: handler(c, lifecycle=True) for hook in ("postStart", "preStop") if c.flag()}
        _set(made, lifecycle=lifecycle or None)
    return _set(made, securityContext=container_security_context(c, shape))


def volumes(c: Chooser) -> list[Json] | None:
    chosen = [_volume(name, c.one(VOLUME_TYPES)) for name in c.some(VOLUME_NAMES, 3)]
    for volume in chosen:
        if "hostPath" in volume:
            _set(volume["hostPath"], type=c.maybe(("", "Directory", "DirectoryOrCreate")))
    return chosen or None


def _volume(name: str, kind: str) -> Json:
    return {"name": name, kind: copy.deepcopy(VOLUME_SOURCES[kind])}


def sysctl_fits(name: str, host_network: bool, host_ipc: bool) -> bool:
    """Validation refuses net.* sysctls with hostNetwork and IPC ones with hostIPC."""
    return not (host_network and name.startswith(("net.", "net/"))) and not (
        host_ipc and name.startswith(IPC_SYSCTL_PREFIXES)
    )


def sysctls(c: Chooser, host_network: bool, host_ipc: bool) -> list[Json] | None:
    names = [name for name in c.some(SYSCTLS, 3) if sysctl_fits(name, host_network, host_ipc)]
    return [{"name": name, "value": "1"} for name in names] or None


def pod_security_context(c: Chooser, shape: Shape, host_network: bool, host_ipc: bool) -> Json | None:
    context = _set({}, runAsNonRoot=c.maybe_flag(), windowsOptions=windows_options(c, shape, pod_level=True))
    if not shape.windows:
        _set(
            context,
            runAsUser=c.maybe((user_id(c),)),
            runAsGroup=c.maybe((0, 3000)),
            fsGroup=c.maybe((0, 2000)),
            seLinuxOptions=c.maybe((selinux_options(c),)),
            seccompProfile=c.maybe((seccomp_profile(c),)),
            appArmorProfile=c.maybe((apparmor_profile(c),)),
            sysctls=sysctls(c, host_network, host_ipc),
        )
    return context or None


def pod_annotations(c: Chooser, names: Sequence[str]) -> Json | None:
    """Seccomp annotations (pod, containers, one for no container, one for an ephemeral container that may come)
    and AppArmor ones (existing containers only, as validation wants), beside one unrelated annotation."""
    chosen = _set({}, **{SECCOMP_POD_ANNOTATION: c.maybe(SECCOMP_ANNOTATION_VALUES)})
    for name in c.some((*names, "ghost", EPHEMERAL_NAMES[0]), 2):
        chosen[SECCOMP_CONTAINER_ANNOTATION + name] = c.one(SECCOMP_ANNOTATION_VALUES)
    for name in c.some(names, 2):
        chosen[APPARMOR_ANNOTATION + name] = c.one(APPARMOR_ANNOTATION_VALUES)
    return _set(chosen, **{"example.com/team": c.maybe(("payments",))}) or None


def random_pod(c: Chooser) -> Json:
    """Any valid pod: every field the controls read drawn independently within validation's rules."""
    os_name = c.one((None, None, "linux", "windows"))
    host_users = None if os_name == "windows" else c.one((None, None, True, False))
    # hostProcess needs hostNetwork, which a user namespace may not have
    host_process = "" if os_name == "linux" or host_users is False else c.one(("", "", "", "pod", "containers"))
    shape = Shape(os_name, host_users, host_process)
    spec: Json = {}
    host = (None, None, None, False, True)  # one in five: otherwise most pods would share a host namespace
    host_network = True if shape.host_process else (None if shape.userns else c.one(host))
    host_pid = None if shape.userns or shape.windows else c.one(host)
    host_ipc = None if shape.userns or shape.windows else c.one(host)
    _set(spec, hostNetwork=host_network, hostPID=host_pid, hostIPC=host_ipc, hostUsers=host_users)
    if os_name:
        spec["os"] = {"name": os_name}
    names = c.some(NAMES, 4, min_size=1)
    inits = c.index(len(names))
    ports = Ports(host_network is True)
    init_containers = [container(c, name, shape, ports, c.one(("init", "sidecar"))) for name in names[:inits]]
    spec["containers"] = [container(c, name, shape, ports, "main") for name in names[inits:]]
    _set(
        spec,
        initContainers=init_containers or None,
        volumes=volumes(c),
        securityContext=pod_security_context(c, shape, host_network is True, host_ipc is True),
    )
    metadata = _set({"name": "pss"}, annotations=pod_annotations(c, names))
    return agree(shape, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})


def agree(shape: Shape, pod: Json, extra: Sequence[Json] = ()) -> Json:
    """Make seccomp and AppArmor annotations say what the fields they shadow say (validation refuses a pod
    where they differ, Windows pods excepted for AppArmor); ``extra``: containers still to be added."""
    spec = pod["spec"]
    chosen = pod["metadata"].get("annotations") or {}
    pod_context = spec.get("securityContext") or {}
    if SECCOMP_POD_ANNOTATION in chosen and "seccompProfile" in pod_context:
        chosen[SECCOMP_POD_ANNOTATION] = _annotation_for(pod_context["seccompProfile"])
    for each in [*_all_containers(spec), *extra]:
        context = each.get("securityContext") or {}
        key = SECCOMP_CONTAINER_ANNOTATION + each["name"]
        if key in chosen and "seccompProfile" in context:
            chosen[key] = _annotation_for(context["seccompProfile"])
        apparmor = context.get("appArmorProfile") or pod_context.get("appArmorProfile")
        key = APPARMOR_ANNOTATION + each["name"]
        if key in chosen and apparmor and not shape.windows:
            chosen[key] = _annotation_for(apparmor)
    return pod


def _annotation_for(profile: Json) -> str:
    """The annotation value a seccompProfile or appArmorProfile field stands for (both use the same words)."""
    if profile["type"] == "Localhost":
        return "localhost/" + str(profile["localhostProfile"])
    return "unconfined" if profile["type"] == "Unconfined" else "runtime/default"


def _all_containers(spec: Json) -> list[Json]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


# -- compliant pods with one field flipped -----------------------------------------------------------------------


def compliant_pod(c: Chooser) -> Json:
    """A pod every version of restricted allows, in one of the ways each control can be met (pod- or
    container-level seccomp and runAsNonRoot, NET_BIND_SERVICE added or not, any allowed volume type, ...)."""
    names = c.some(NAMES, 3, min_size=1)
    inits = c.index(len(names))
    pod_seccomp, pod_non_root = c.flag(), c.flag()
    built = []
    for index, name in enumerate(names):
        context: Json = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        if c.flag():
            context["capabilities"]["add"] = ["NET_BIND_SERVICE"]
        if not pod_seccomp or c.flag():
            context["seccompProfile"] = seccomp_profile(c, ("RuntimeDefault", "Localhost"))
        if not pod_non_root or c.flag():
            context["runAsNonRoot"] = True
        _set(
            context,
            runAsUser=c.maybe((1000, 65534)),
            seLinuxOptions=c.maybe(({"type": "container_t"}, {"level": "s0:c1,c2"})),
            appArmorProfile=c.maybe((apparmor_profile(c, ("RuntimeDefault", "Localhost")),)),
            procMount=c.maybe(("Default",)),
            readOnlyRootFilesystem=c.maybe_flag(),
        )
        made: Json = {"name": name, "image": IMAGE, "securityContext": copy.deepcopy(context)}
        if index >= inits and c.flag():
            made["ports"] = [{"containerPort": 8080 + index}]
            made["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080 + index}}
        built.append(made)
    pod_context: Json = {}
    if pod_seccomp:
        pod_context["seccompProfile"] = {"type": "RuntimeDefault"}
    if pod_non_root:
        pod_context["runAsNonRoot"] = True
    _set(pod_context, sysctls=[{"name": n, "value": "1"} for n in c.some(SYSCTLS_V1_0, 2)] or None)
    spec: Json = {"containers": built[inits:]}
    _set(spec, initContainers=built[:inits] or None, os=c.maybe(({"name": "linux"},)))
    volume_list = [_volume(f"v{i}", kind) for i, kind in enumerate(c.some(ALLOWED_VOLUME_TYPES, 2))]
    _set(spec, volumes=volume_list or None, securityContext=pod_context or None)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss"}, "spec": copy.deepcopy(spec)}


def _context(container: Json) -> Json:
    context: Json = container.setdefault("securityContext", {})
    return context


def _pod_context(spec: Json) -> Json:
    context: Json = spec.setdefault("securityContext", {})
    return context


LINUX_POD_FIELDS = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "sysctls", "runAsUser", "runAsGroup")
LINUX_CONTAINER_FIELDS = (
    *("seLinuxOptions", "seccompProfile", "appArmorProfile", "capabilities", "privileged"),
    *("allowPrivilegeEscalation", "procMount", "runAsUser", "runAsGroup", "readOnlyRootFilesystem"),
)


def _strip_linux(spec: Json) -> None:
    """Leave out what a Windows pod may not set (pkg/apis/core/validation/validation.go, validateWindows)."""
    for key in ("hostUsers", "hostPID", "hostIPC"):
        spec.pop(key, None)
    for key in (*LINUX_POD_FIELDS, "fsGroup"):
        spec.get("securityContext", {}).pop(key, None)
    for each in _all_containers(spec):
        for key in LINUX_CONTAINER_FIELDS:
            _context(each).pop(key, None)


def _host_ports_follow(spec: Json) -> None:
    """With hostNetwork, validation wants each hostPort to equal its containerPort."""
    for each in _all_containers(spec):
        for port in each.get("ports", []):
            port["hostPort"] = port["containerPort"]


def _host_namespaces_follow(spec: Json) -> None:
    """What validation refuses beside a host namespace just set: a user namespace, namespaced sysctls of it,
    host ports other than the container ports."""
    spec.pop("hostUsers", None)
    for each in _all_containers(spec):
        if each.get("securityContext", {}).get("procMount") == "Unmasked":
            del each["securityContext"]["procMount"]  # needs the user namespace
    context = spec.get("securityContext", {})
    kept = [s for s in context.pop("sysctls", []) if sysctl_fits(s["name"], **_host_flags(spec))]
    _set(context, sysctls=kept or None)
    if spec.get("hostNetwork"):
        _host_ports_follow(spec)


def _host_flags(spec: Json) -> dict[str, bool]:
    return {"host_network": spec.get("hostNetwork") is True, "host_ipc": spec.get("hostIPC") is True}


def _any_container(c: Chooser, pod: Json) -> Json:
    return c.one(_all_containers(pod["spec"]))


def _flip_host_namespace(c: Chooser, pod: Json) -> None:
    spec = pod["spec"]
    key = c.one(("hostNetwork", "hostPID", "hostIPC"))
    spec[key] = True
    _host_namespaces_follow(spec)


def _flip_privileged(c: Chooser, pod: Json) -> None:
    context = _context(_any_container(c, pod))
    context["privileged"] = True
    context.pop("allowPrivilegeEscalation", None)  # validation refuses privileged with it false


def _flip_capability_added(c: Chooser, pod: Json) -> None:
    capabilities = _context(_any_container(c, pod)).setdefault("capabilities", {})
    added = c.one([name for name in CAPABILITIES if name != "NET_BIND_SERVICE"])
    capabilities["add"] = list(dict.fromkeys([*capabilities.get("add", []), added]))


def _flip_drop(c: Chooser, pod: Json) -> None:
    context = _context(_any_container(c, pod))
    drop = c.one((None, [], ["all"], ["NET_RAW"], ["CAP_ALL"]))
    if drop is None:
        context.pop("capabilities", None)
    else:
        context.setdefault("capabilities", {})["drop"] = drop


def _flip_volume(c: Chooser, pod: Json) -> None:
    pod["spec"].setdefault("volumes", []).append(_volume("flipped", c.one(RESTRICTED_VOLUME_TYPES)))


def _flip_host_port(c: Chooser, pod: Json) -> None:
    chosen = c.one(pod["spec"]["containers"])
    host_port = 7000 if pod["spec"].get("hostNetwork") else c.one((7000, 1))
    chosen.setdefault("ports", []).append({"containerPort": 7000, "hostPort": host_port})


def _flip_apparmor(c: Chooser, pod: Json) -> None:
    spec = pod["spec"]
    where = c.one(("pod", "container", "annotation"))
    chosen = _any_container(c, pod)
    if where == "pod":
        _pod_context(spec)["appArmorProfile"] = {"type": "Unconfined"}
        for each in _all_containers(spec):
            _context(each).pop("appArmorProfile", None)
    elif where == "container":
        _context(chosen)["appArmorProfile"] = {"type": "Unconfined"}
    else:
        _context(chosen).pop("appArmorProfile", None)
        _pod_context(spec).pop("appArmorProfile", None)
        pod["metadata"].setdefault("annotations", {})[APPARMOR_ANNOTATION + chosen["name"]] = "unconfined"


def _flip_selinux(c: Chooser, pod: Json) -> None:
    options = {c.one(("type", "user", "role")): c.one(("spc_t", "system_u", "sysadm_r"))}
    if c.flag():
        _pod_context(pod["spec"])["seLinuxOptions"] = options
    else:
        _context(_any_container(c, pod))["seLinuxOptions"] = options


def _flip_user_namespace(c: Chooser, pod: Json) -> None:
    """hostUsers=false relaxes restricted from v1.35; procMount Unmasked needs it to pass validation."""
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        pod["spec"].pop(key, None)
    _pod_context(pod["spec"]).pop("windowsOptions", None)
    for each in _all_containers(pod["spec"]):
        _context(each).pop("windowsOptions", None)  # hostProcess needs hostNetwork
    pod["spec"]["hostUsers"] = False
    if c.flag():
        _context(_any_container(c, pod))["procMount"] = "Unmasked"


def _flip_seccomp(c: Chooser, pod: Json) -> None:
    spec = pod["spec"]
    where = c.one(("pod", "container", "unset", "annotation"))
    chosen = _any_container(c, pod)
    if where == "pod":
        _pod_context(spec)["seccompProfile"] = {"type": "Unconfined"}
    elif where == "container":
        _context(chosen)["seccompProfile"] = {"type": "Unconfined"}
    elif where == "unset":
        _pod_context(spec).pop("seccompProfile", None)
        _context(chosen).pop("seccompProfile", None)
    else:  # what v1.0 to v1.18 read instead of the fields
        key = c.one((SECCOMP_POD_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION + chosen["name"]))
        pod["metadata"].setdefault("annotations", {})[key] = "unconfined"
        (_pod_context(spec) if key == SECCOMP_POD_ANNOTATION else _context(chosen)).pop("seccompProfile", None)


def _flip_sysctl(c: Chooser, pod: Json) -> None:
    sysctl_list = _pod_context(pod["spec"]).setdefault("sysctls", [])
    taken = {s["name"] for s in sysctl_list}
    fitting = [name for name in SYSCTLS if name not in taken and sysctl_fits(name, **_host_flags(pod["spec"]))]
    sysctl_list.append({"name": c.one(fitting), "value": "1"})


def _flip_windows(c: Chooser, pod: Json) -> None:
    """A Windows pod: restricted exempts it from three controls from v1.25."""
    pod["spec"]["os"] = {"name": "windows"}
    _strip_linux(pod["spec"])


def _flip_host_process(c: Chooser, pod: Json) -> None:
    spec = pod["spec"]
    if (spec.get("os") or {}).get("name") == "linux" or c.flag():
        spec["os"] = {"name": "windows"}
        _strip_linux(spec)
    spec["hostNetwork"] = True
    _host_namespaces_follow(spec)
    if c.flag():
        _pod_context(spec)["windowsOptions"] = {"hostProcess": True}
    else:
        for each in _all_containers(spec):
            _context(each)["windowsOptions"] = {"hostProcess": True}


def _flip_run_as_non_root(c: Chooser, pod: Json) -> None:
    spec = pod["spec"]
    chosen = _any_container(c, pod)
    how = c.one(("pod false", "container false", "unset"))
    if how == "pod false":
        _pod_context(spec)["runAsNonRoot"] = False
    elif how == "container false":
        _context(chosen)["runAsNonRoot"] = False
    else:
        _pod_context(spec).pop("runAsNonRoot", None)
        _context(chosen).pop("runAsNonRoot", None)


def _flip_run_as_user(c: Chooser, pod: Json) -> None:
    (_pod_context(pod["spec"]) if c.flag() else _context(_any_container(c, pod)))["runAsUser"] = 0


def _flip_privilege_escalation(c: Chooser, pod: Json) -> None:
    context = _context(_any_container(c, pod))
    if c.flag():
        context["allowPrivilegeEscalation"] = True
    else:
        context.pop("allowPrivilegeEscalation", None)


def _flip_probe_host(c: Chooser, pod: Json) -> None:
    chosen = c.one(pod["spec"]["containers"])
    kind = c.one(("httpGet", "tcpSocket"))
    action: Json = {"port": 8080, "host": c.one(HOSTS[1:])}
    if kind == "httpGet":
        action["path"] = "/"
    where = c.one(("livenessProbe", "readinessProbe", "startupProbe", "postStart", "preStop"))
    if where in ("postStart", "preStop"):
        chosen.setdefault("lifecycle", {})[where] = {kind: action}
    else:
        chosen[where] = {kind: action}


Flip = Callable[[Chooser, Json], None]
FLIPS: tuple[Flip, ...] = (
    _flip_host_namespace,
    _flip_privileged,
    _flip_capability_added,
    _flip_drop,
    _flip_volume,
    _flip_host_port,
    _flip_apparmor,
    _flip_selinux,
    _flip_user_namespace,
    _flip_seccomp,
    _flip_sysctl,
    _flip_windows,
    _flip_host_process,
    _flip_run_as_non_root,
    _flip_run_as_user,
    _flip_privilege_escalation,
    _flip_probe_host,
)


def flipped_pod(c: Chooser) -> Json:
    """A compliant pod with one field flipped (now and then two, or none): each control's boundary alone."""
    pod = compliant_pod(c)
    for flip in c.some(FLIPS, 2, min_size=c.one((1, 1, 1, 1, 1, 2, 0))):
        flip(c, pod)
    if (pod["spec"].get("os") or {}).get("name") == "windows":
        _strip_linux(pod["spec"])  # a second flip may have set a Linux field
    return agree(Shape.of(pod), pod)


# -- cases -------------------------------------------------------------------------------------------------------


def any_pod(c: Chooser) -> Json:
    return random_pod(c) if c.flag() else flipped_pod(c)


def metadata_changes(c: Chooser, names: Sequence[str]) -> Json:
    """New labels and annotations for a stored pod: seccomp annotations may change on update (AppArmor ones
    may not), and v1.0 to v1.18 read them, but the admission judges no update that leaves the images alone."""
    changes: Json = {}
    if c.flag():
        changes["labels"] = {"app": c.one(("web", "api")), "touched": "yes"}
    keys = (SECCOMP_POD_ANNOTATION, SECCOMP_CONTAINER_ANNOTATION + names[0], "example.com/team")
    return _set(changes, annotations={key: c.one(SECCOMP_ANNOTATION_VALUES) for key in c.some(keys, 2)} or None)


def update(c: Chooser) -> Json:
    """An update of a stored pod: ephemeral containers added; labels or annotations changed; images changed
    (and maybe annotations with them)."""
    pod = any_pod(c)
    kind = c.one(UPDATE_KINDS)
    names = [each["name"] for each in _all_containers(pod["spec"])]
    if kind == "metadata":
        return {"kind": kind, "pod": pod, **metadata_changes(c, names)}
    if kind == "image":
        changes = metadata_changes(c, names) if c.flag() else {}
        changed = c.some(names, 2, min_size=1)
        return {"kind": kind, "pod": pod, **changes, "images": dict.fromkeys(changed, "registry.k8s.io/pause:3.8")}
    shape = Shape.of(pod)
    added = [container(c, name, shape, None, "ephemeral") for name in c.some(EPHEMERAL_NAMES, 2, min_size=1)]
    if c.flag():
        added[0]["targetContainerName"] = pod["spec"]["containers"][0]["name"]
    return {"kind": kind, "pod": agree(shape, pod, added), "ephemeralContainers": added}


@st.composite
def cases(draw: st.DrawFn) -> Json:
    """Creates mostly; one case in four is an update."""
    c = Chooser(draw)
    return {"kind": "create", "pod": any_pod(c)} if c.index(4) else update(c)
