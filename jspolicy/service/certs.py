"""Webhook TLS: a CA and a serving certificate it signs, kept in a directory.

jsPolicy used one self-signed certificate as both CA and leaf, valid ten years,
never rotated. Here the CA signs a separate serving certificate (what the API
server's caBundle trusts is the CA), the leaf is renewed well before it
expires, and files are replaced atomically so a running server can reload them.
File names are jsPolicy's: ``ca.crt``, ``tls.crt``, ``tls.key`` (plus
``ca.key``, needed to sign renewals).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=90)
RENEW_BEFORE = dt.timedelta(days=30)


def default_sans(service: str = "jspolicy", namespace: str = "jspolicy") -> list[str]:
    """The names the API server and local clients use to reach the webhook."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        "localhost",
        "127.0.0.1",
        "::1",
    ]


@dataclass(frozen=True)
class Bundle:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    not_after: dt.datetime


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _names(sans: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in dict.fromkeys(sans):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def _key_usage(*enabled: str) -> x509.KeyUsage:
    """A KeyUsage with only ``enabled`` set (the constructor wants all nine flags)."""
    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{flag: flag in enabled for flag in flags})


def make_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jspolicy"),
            x509.NameAttribute(NameOID.COMMON_NAME, "jspolicy webhook CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage("digital_signature", "key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, sans: Iterable[str], now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = _names(sans)
    common = next((n.value for n in names if isinstance(n, x509.DNSName)), "jspolicy")
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jspolicy"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_VALIDITY, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature"),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        ca = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return ca, key


def current_sans(directory: Path) -> list[str]:
    """The names on the serving certificate in ``directory`` (none when there is none)."""
    try:
        leaf = x509.load_pem_x509_certificate((directory / TLS_CERT).read_bytes())
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return [*names.get_values_for_type(x509.DNSName), *(str(ip) for ip in names.get_values_for_type(x509.IPAddress))]


def needs_renewal(directory: Path, sans: Iterable[str], now: dt.datetime) -> bool:
    """The leaf is missing, unreadable, expiring within RENEW_BEFORE, or lacks a wanted name."""
    try:
        leaf = x509.load_pem_x509_certificate((directory / TLS_CERT).read_bytes())
        (directory / TLS_KEY).read_bytes()
    except (OSError, ValueError):
        return True
    if leaf.not_valid_after_utc - now < RENEW_BEFORE:
        return True
    try:
        present = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return True
    return not set(_names(sans)) <= set(present)


def externally_managed(directory: Path) -> bool:
    """A serving pair is present without our ``ca.key``: someone else (cert-manager, a mounted
    Secret, jsPolicy's own certificate) owns it, so it is served as it is and never overwritten."""
    try:
        leaf = x509.load_pem_x509_certificate((directory / TLS_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / TLS_KEY).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    return not (directory / CA_KEY).exists() and leaf.public_key() == key.public_key()


class CertificateError(Exception):
    """The certificate directory cannot be created, read or written."""


def ensure(directory: Path, sans: Iterable[str], now: dt.datetime | None = None) -> Bundle:
    """Create or renew what is needed in ``directory``; reuse what is still good."""
    try:
        return _ensure(directory, sans, now)
    except OSError as error:
        raise CertificateError(f"cannot prepare the serving certificate in {directory}: {error}") from None


def _ensure(directory: Path, sans: Iterable[str], now: dt.datetime | None) -> Bundle:
    now = now or dt.datetime.now(dt.UTC)
    sans = list(sans)
    if externally_managed(directory):
        return _bundle(directory, ca_file=CA_CERT if (directory / CA_CERT).exists() else TLS_CERT)
    directory.mkdir(parents=True, exist_ok=True)
    loaded = _load(directory)
    if loaded is None or loaded[0].not_valid_after_utc - now < RENEW_BEFORE:
        ca, ca_key = make_ca(now)
        write_atomically(directory / CA_KEY, _key_pem(ca_key), 0o600)
        write_atomically(directory / CA_CERT, ca.public_bytes(serialization.Encoding.PEM), 0o644)
        renew = True
    else:
        ca, ca_key = loaded
        renew = needs_renewal(directory, sans, now)
    if renew:
        leaf, key = make_leaf(ca, ca_key, sans, now)
        # Key first, then the certificate: a reader that sees the new certificate finds its key.
        write_atomically(directory / TLS_KEY, _key_pem(key), 0o600)
        write_atomically(directory / TLS_CERT, leaf.public_bytes(serialization.Encoding.PEM), 0o644)
    return _bundle(directory, ca_file=CA_CERT)


def _bundle(directory: Path, *, ca_file: str) -> Bundle:
    leaf = x509.load_pem_x509_certificate((directory / TLS_CERT).read_bytes())
    return Bundle(
        ca_pem=(directory / ca_file).read_bytes(),
        cert_pem=(directory / TLS_CERT).read_bytes(),
        key_pem=(directory / TLS_KEY).read_bytes(),
        not_after=leaf.not_valid_after_utc,
    )
