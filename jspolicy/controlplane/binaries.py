"""kube-apiserver, etcd, kubectl and helm for tests and ``jspolicy dev``, built from the Go module proxy.

No package source reachable here ships a kube-apiserver, so it is compiled from
``k8s.io/kubernetes`` through a small wrapper module (committed in ``gomod/``, pinned
by go.sum) that replaces every staging module with its published ``v0.Y.Z``. The
binaries are cached outside the repository by version, so only the first build on
a machine pays for it. ``KUBEBUILDER_ASSETS`` (the envtest convention) points at
existing binaries instead.

helm's go.mod has no replace directives, so it is a plain ``go install
helm.sh/helm/v3/cmd/helm@<version>`` (checked against the checksum database), built
only when a test asks for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"  # what k8s.io/kubernetes v1.36.3 pins for go.etcd.io/etcd/client/v3
HELM_VERSION = "v3.22.0"  # latest helm v3 on the Go module proxy (Nov 2026)
HELM_KUBERNETES_MINOR = "37"  # helm v3.22.0 requires k8s.io/client-go v0.37.0; its Makefile stamps 1.37

_STAMPED = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


class BuildError(RuntimeError):
    """A binary is neither available nor buildable (the message carries go's error output)."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path


def cache_root() -> Path:
    base = os.environ.get("JSPOLICY_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jspolicy"
    )
    return Path(base)


def cache_dir() -> Path:
    """Where the kube binaries of this version are kept (``bin/`` inside)."""
    return cache_root() / "kube-bins" / f"{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}"


def helm_cache_dir() -> Path:
    return cache_root() / "helm" / HELM_VERSION


def locate() -> Binaries | None:
    """Binaries that exist already: ``KUBEBUILDER_ASSETS`` first, then the cache."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        found = Binaries(Path(assets) / "kube-apiserver", Path(assets) / "etcd", _kubectl(Path(assets)))
        missing = [str(p) for p in (found.kube_apiserver, found.etcd) if not p.is_file()]
        if missing:
            raise BuildError(f"KUBEBUILDER_ASSETS={assets} lacks {', '.join(missing)}")
        return found
    cached = cache_dir() / "bin"
    found = Binaries(cached / "kube-apiserver", cached / "etcd", cached / "kubectl")
    return found if all(p.is_file() for p in (found.kube_apiserver, found.etcd, found.kubectl)) else None


def _kubectl(directory: Path) -> Path:
    """envtest's assets have no kubectl: take ours from the cache, else the one on PATH."""
    beside = directory / "kubectl"
    if beside.is_file():
        return beside
    cached = cache_dir() / "bin" / "kubectl"
    if cached.is_file():
        return cached
    on_path = shutil.which("kubectl")
    if on_path is None:
        raise BuildError(f"no kubectl in {directory}, in {cached.parent} or on PATH")
    return Path(on_path)


def ensure(log: bool = True) -> Binaries:
    """The binaries, building whatever is missing (first time on a machine: tens of minutes on 2 cores)."""
    found = locate()
    if found is not None:
        return found
    _need_go("kube-apiserver", "KUBEBUILDER_ASSETS")
    target = cache_dir() / "bin"
    with locked(cache_dir()), tempfile.TemporaryDirectory(prefix="jspolicy-kube-src-") as work:
        for module in ("kubernetes", "etcd"):
            _unpack(module, Path(work) / module)
        ldflags = _kubernetes_ldflags()
        _build(Path(work) / "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", target / "kube-apiserver",
               ldflags, log)  # fmt: skip
        _build(Path(work) / "kubernetes", "k8s.io/kubernetes/cmd/kubectl", target / "kubectl", ldflags, log)
        _build(Path(work) / "etcd", "go.etcd.io/etcd/server/v3", target / "etcd",
               f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={ETCD_VERSION}", log)  # fmt: skip
    found = locate()
    if found is None:
        raise BuildError(f"the build finished but {target} is incomplete")
    return found


def ensure_helm(log: bool = True) -> Path:
    """helm v3: ``KUBEBUILDER_ASSETS/helm`` if there is one, else built once into the cache (a few minutes)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / "helm").is_file():
        return Path(assets) / "helm"
    target = helm_cache_dir() / "bin" / "helm"
    if target.is_file():
        return target
    _need_go("helm", "KUBEBUILDER_ASSETS (with a helm in it)")
    with locked(helm_cache_dir()):
        if target.is_file():  # built by another process while we waited for the lock
            return target
        package = f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"
        if log:
            print(f"building helm {HELM_VERSION} from the Go module proxy (first time here)", file=sys.stderr)
        started = time.monotonic()
        ldflags = " ".join(
            ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
             "-X helm.sh/helm/v3/internal/version.gitTreeState=clean"]
            + [f"-X helm.sh/helm/v3/pkg/{p}.k8sVersion{part}={value}" for p in ("lint/rules", "chartutil")
               for part, value in (("Major", "1"), ("Minor", HELM_KUBERNETES_MINOR))]
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="jspolicy-helm-") as work:
            env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": work, "GOFLAGS": ""}
            # Outside any module, so a go.work or go.mod around the current directory cannot interfere.
            result = subprocess.run(["go", "install", "-trimpath", "-ldflags", ldflags, package], cwd=work, env=env,
                                    capture_output=True, text=True, check=False)  # fmt: skip
            if result.returncode != 0:
                raise BuildError(f"building {package} failed:\n{result.stderr[-4000:]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            shutil.move(str(Path(work) / "helm"), partial)
            partial.replace(target)  # a half-written binary never looks finished
        if log:
            print(f"built helm in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


def _need_go(what: str, alternative: str) -> None:
    if shutil.which("go") is None:
        raise BuildError(f"building {what} needs Go (https://go.dev/dl) or {alternative}")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One build at a time per cache directory (pytest and ``jspolicy dev`` may both ask at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _unpack(module: str, destination: Path) -> None:
    """Copy the committed wrapper module (go.mod, go.sum, tools.go) out of the package."""
    destination.mkdir(parents=True)
    for name in ("go.mod", "go.sum", "tools.go"):
        packaged = resources.files("jspolicy.controlplane") / "gomod" / module / name
        if not packaged.is_file():
            raise BuildError(f"the installed package lacks gomod/{module}/{name}")
        (destination / name).write_bytes(packaged.read_bytes())


def _kubernetes_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for package in _STAMPED:
        flags += [f"-X {package}.gitVersion={KUBERNETES_VERSION}", f"-X {package}.gitMajor={major}",
                  f"-X {package}.gitMinor={minor}", f"-X {package}.gitTreeState=clean",
                  f"-X {package}.buildDate={built}"]  # fmt: skip
    return " ".join(flags)


def _build(module: Path, package: str, output: Path, ldflags: str, log: bool) -> None:
    if output.is_file():
        return
    if log:
        print(f"building {output.name} from the Go module proxy (first time on this machine)", file=sys.stderr)
    started = time.monotonic()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    command = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), package]
    # -mod=mod: the committed go.sum pins every hash; go may still rewrite the throwaway go.mod copy.
    result = subprocess.run(command, cwd=module, env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise BuildError(f"building {package} failed:\n{result.stderr[-4000:]}")
    partial.replace(output)  # a half-written binary never looks finished
    if log:
        print(f"built {output.name} in {time.monotonic() - started:.0f} s", file=sys.stderr)


def main() -> None:
    """``python -m jspolicy.controlplane.binaries [--helm]``: build (or find) the binaries and print where they are."""
    try:
        found = ensure()
        paths = [found.kube_apiserver, found.etcd, found.kubectl]
        if "--helm" in sys.argv[1:]:
            paths.append(ensure_helm())
    except BuildError as error:
        sys.exit(f"error: {error}")
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
