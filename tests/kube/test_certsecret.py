"""The webhook certificate Secret on a real API server: race-free creation, renewal, foreign Secrets."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import kubernetes.client
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from jspolicy.controller.certsecret import CertificateSecret
from jspolicy.controlplane.plane import ControlPlane
from jspolicy.service import certs
from tests.kube.livecluster import client, new_namespace

SANS = ["jspolicy.x.svc", "127.0.0.1"]


def secret_data(api: kubernetes.client.ApiClient, namespace: str) -> dict[str, bytes]:
    secret = kubernetes.client.CoreV1Api(api).read_namespaced_secret("jspolicy-webhook-cert", namespace)
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def put_secret(api: kubernetes.client.ApiClient, namespace: str, data: dict[str, bytes]) -> None:
    kubernetes.client.CoreV1Api(api).create_namespaced_secret(namespace, {
        "metadata": {"name": "jspolicy-webhook-cert"}, "type": "kubernetes.io/tls",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()}})  # fmt: skip


PEM = serialization.Encoding.PEM
PRIVATE = (serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def material(ca: x509.Certificate, ca_key: Any, leaf: x509.Certificate, key: Any) -> dict[str, bytes]:
    """What our own Secret holds."""
    return {"ca.crt": ca.public_bytes(PEM), "ca.key": ca_key.private_bytes(PEM, *PRIVATE),
            "tls.crt": leaf.public_bytes(PEM), "tls.key": key.private_bytes(PEM, *PRIVATE)}  # fmt: skip


def leaf_expiry(pem: bytes) -> dt.datetime:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def test_replicas_racing_at_startup_all_serve_the_one_certificate(control_plane: ControlPlane, tmp_path: Path) -> None:
    api = client(control_plane)
    namespace = new_namespace(api, "cert")
    secrets = [CertificateSecret(client(control_plane), namespace, "jspolicy-webhook-cert", tmp_path / str(i), SANS)
               for i in range(6)]  # fmt: skip
    barrier = threading.Barrier(len(secrets))

    def start(secret: CertificateSecret) -> None:
        barrier.wait()
        secret.sync()

    threads = [threading.Thread(target=start, args=(s,)) for s in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = secret_data(api, namespace)
    assert set(stored) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    for i in range(len(secrets)):
        served = {name: (tmp_path / str(i) / name).read_bytes() for name in ("ca.crt", "tls.crt", "tls.key")}
        assert served == {name: stored[name] for name in served}
        assert not (tmp_path / str(i) / "ca.key").exists()  # the CA key stays in the Secret
    assert certs.current_sans(tmp_path / "0") == SANS


def test_an_expiring_serving_certificate_is_renewed_with_the_same_ca(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    api = client(control_plane)
    namespace = new_namespace(api, "cert")
    now = dt.datetime.now(dt.UTC)
    ca, ca_key = certs.make_ca(now)
    leaf, key = certs.make_leaf(ca, ca_key, SANS, now - certs.LEAF_VALIDITY + dt.timedelta(days=2))
    put_secret(api, namespace, material(ca, ca_key, leaf, key))
    secret = CertificateSecret(api, namespace, "jspolicy-webhook-cert", tmp_path, SANS)
    assert secret.sync()
    stored = secret_data(api, namespace)
    assert stored["ca.crt"] == ca.public_bytes(PEM)  # caBundles stay valid
    assert leaf_expiry(stored["tls.crt"]) - now > dt.timedelta(days=60)
    assert (tmp_path / "tls.crt").read_bytes() == stored["tls.crt"]
    assert not secret.sync()  # nothing left to do: no write, files unchanged


def test_foreign_secrets_are_served_as_they_are_but_jspolicys_own_is_replaced(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    api = client(control_plane)
    now = dt.datetime.now(dt.UTC)
    ca, ca_key = certs.make_ca(now)
    leaf, key = certs.make_leaf(ca, ca_key, SANS, now)
    managed = {k: v for k, v in material(ca, ca_key, leaf, key).items() if k != "ca.key"}
    cert_manager = new_namespace(api, "cert")
    put_secret(api, cert_manager, managed)
    CertificateSecret(api, cert_manager, "jspolicy-webhook-cert", tmp_path / "a", SANS).sync()
    assert secret_data(api, cert_manager) == managed
    # jsPolicy's own Secret: one self-signed certificate as CA and leaf, no ca.key.
    legacy = new_namespace(api, "cert")
    own = material(ca, ca_key, ca, ca_key)
    put_secret(api, legacy, {"ca.crt": own["ca.crt"], "tls.crt": own["tls.crt"], "tls.key": own["tls.key"]})
    CertificateSecret(api, legacy, "jspolicy-webhook-cert", tmp_path / "b", SANS).sync()
    replaced = secret_data(api, legacy)
    assert "ca.key" in replaced and replaced["ca.crt"] != replaced["tls.crt"]


def test_a_new_ca_is_published_together_with_the_previous_one(control_plane: ControlPlane, tmp_path: Path) -> None:
    api = client(control_plane)
    namespace = new_namespace(api, "cert")
    now = dt.datetime.now(dt.UTC)
    old_ca, old_key = certs.make_ca(now - certs.CA_VALIDITY + dt.timedelta(days=10))  # 10 days left: renewed
    leaf, key = certs.make_leaf(old_ca, old_key, SANS, now)
    put_secret(api, namespace, material(old_ca, old_key, leaf, key))
    CertificateSecret(api, namespace, "jspolicy-webhook-cert", tmp_path, SANS).sync()
    bundle = x509.load_pem_x509_certificates(secret_data(api, namespace)["ca.crt"])
    assert len(bundle) == 2 and bundle[1] == old_ca  # replicas still serving old leaves stay trusted
    new_leaf = x509.load_pem_x509_certificate(secret_data(api, namespace)["tls.crt"])
    assert new_leaf.issuer == bundle[0].subject and bundle[0].not_valid_after_utc - now > dt.timedelta(days=3000)
