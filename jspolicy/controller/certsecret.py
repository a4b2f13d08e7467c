"""The webhook certificate shared by every replica through a Secret (like jsPolicy's, improved: docs/cluster.md).

The Secret ``jspolicy-webhook-cert`` (type kubernetes.io/tls) holds ``ca.crt``,
``tls.crt``, ``tls.key`` and ``ca.key``. Any replica may create or renew it; every
write carries the resourceVersion it read (create: AlreadyExists), so replicas
racing at startup end up serving the one certificate that won. The files a replica
serves are written from the Secret into its certificate directory, where the
workers pick changes up without dropping a request. A Secret without ``ca.key``
(cert-manager, a hand-made one) is served as it is and never overwritten; jsPolicy's
own self-signed one (ca.crt equal to tls.crt) is replaced by a CA-signed pair.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jspolicy.service import certs

log = logging.getLogger(__name__)

_FILES = (certs.CA_CERT, certs.TLS_CERT, certs.TLS_KEY)
_ATTEMPTS = 5
TIMEOUT = 15.0  # seconds per API call: a hung call must not stall the supervisor's checks


class CertificateSecret:
    def __init__(
        self, api_client: client.ApiClient, namespace: str, name: str, cert_dir: Path, sans: Iterable[str]
    ) -> None:
        self._api = client.CoreV1Api(api_client)
        self.namespace, self.name, self.cert_dir, self.sans = namespace, name, cert_dir, list(sans)

    def sync(self) -> bool:
        """Make the Secret hold a good certificate, then serve it; True when the served files changed."""
        for _ in range(_ATTEMPTS):
            secret = self._read()
            data = _decoded(secret)
            if secret is not None and _externally_managed(secret, data):
                return self._serve(data)
            wanted = _renewed(data, self.sans)
            if wanted == data:
                return self._serve(data)
            if self._write(secret, wanted):
                log.info("%s the webhook certificate in Secret %s/%s",
                         "created" if secret is None else "renewed", self.namespace, self.name)  # fmt: skip
                return self._serve(wanted)
        raise certs.CertificateError(f"Secret {self.namespace}/{self.name} kept changing; will retry")

    def ca_bundle(self) -> bytes:
        return (self.cert_dir / certs.CA_CERT).read_bytes()

    def _read(self) -> client.V1Secret | None:
        try:
            return self._api.read_namespaced_secret(self.name, self.namespace, _request_timeout=TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _write(self, secret: client.V1Secret | None, data: Mapping[str, bytes]) -> bool:
        """Create or replace (at the resourceVersion read); False when another replica got there first."""
        encoded: dict[str, bytes | str] = {key: base64.b64encode(value).decode("ascii") for key, value in data.items()}
        try:
            if secret is None:
                body = client.V1Secret(
                    metadata=client.V1ObjectMeta(
                        name=self.name, namespace=self.namespace, labels={"app.kubernetes.io/managed-by": "jspolicy"}
                    ),
                    type="kubernetes.io/tls",
                    data=encoded,
                )
                self._api.create_namespaced_secret(self.namespace, body, _request_timeout=TIMEOUT)
            elif secret.type != "kubernetes.io/tls":  # the type is immutable: replace the object
                self._api.delete_namespaced_secret(
                    self.name,
                    self.namespace,
                    _request_timeout=TIMEOUT,
                    body=client.V1DeleteOptions(
                        preconditions=client.V1Preconditions(
                            resource_version=secret.metadata.resource_version if secret.metadata else None
                        )
                    ),
                )
                return False
            else:
                secret.data = encoded
                self._api.replace_namespaced_secret(self.name, self.namespace, secret, _request_timeout=TIMEOUT)
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    def _serve(self, data: Mapping[str, bytes]) -> bool:
        """Write the served files; the key before the certificate, as the workers expect."""
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        changed = False
        for name in (certs.CA_CERT, certs.TLS_KEY, certs.TLS_CERT):
            path = self.cert_dir / name
            content = data[name]
            if not path.exists() or path.read_bytes() != content:
                certs.write_atomically(path, content, 0o600 if name == certs.TLS_KEY else 0o644)
                changed = True
        return changed


def _decoded(secret: client.V1Secret | None) -> dict[str, bytes]:
    if secret is None or not secret.data:
        return {}
    return {key: base64.b64decode(value) for key, value in secret.data.items() if key in (*_FILES, certs.CA_KEY)}


def _externally_managed(secret: client.V1Secret, data: Mapping[str, bytes]) -> bool:
    """A complete pair without our CA key: cert-manager's (also a self-signed one) or anyone's but jsPolicy's
    self-signed leaf, which we replace."""
    if certs.CA_KEY in data or not all(name in data for name in _FILES):
        return False
    annotations = (secret.metadata.annotations if secret.metadata else None) or {}
    if any(key.startswith("cert-manager.io/") for key in annotations):
        return True
    return data[certs.CA_CERT] != data[certs.TLS_CERT]


def _renewed(data: Mapping[str, bytes], sans: list[str]) -> dict[str, bytes]:
    """What the Secret should hold: ``data`` itself when still good, else a renewal (same CA if valid)."""
    with tempfile.TemporaryDirectory(prefix="jspolicy-cert-") as work:
        directory = Path(work)
        if certs.CA_KEY in data:  # only our own material is renewed in place; anything else starts over
            for name, content in data.items():
                (directory / name).write_bytes(content)
        certs.ensure(directory, sans)
        renewed = {name: (directory / name).read_bytes() for name in (*_FILES, certs.CA_KEY)}
    previous = _current_ca(data.get(certs.CA_CERT, b""))
    if previous is not None and previous not in renewed[certs.CA_CERT]:
        # A new CA: webhooks trust both until every replica serves a leaf of the new one.
        renewed[certs.CA_CERT] += previous
    return renewed


def _current_ca(bundle: bytes) -> bytes | None:
    """The first certificate of a ca.crt bundle, as PEM, if it is still valid (older ones are dropped)."""
    try:
        first = x509.load_pem_x509_certificates(bundle)[0]
    except (ValueError, IndexError):
        return None
    if first.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        return None
    return first.public_bytes(serialization.Encoding.PEM)
