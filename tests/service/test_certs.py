"""Webhook certificates: a CA, a serving certificate it signs, renewal, and file permissions."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from jspolicy.service import certs

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def load(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / name).read_bytes())


def test_the_serving_certificate_is_signed_by_a_separate_ca(tmp_path: Path) -> None:
    certs.ensure(tmp_path, [*certs.default_sans(), "webhook.example.com", "10.0.0.7"], NOW)
    ca, leaf = load(tmp_path, certs.CA_CERT), load(tmp_path, certs.TLS_CERT)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.issuer == ca.subject and leaf.subject != ca.subject
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"jspolicy.jspolicy.svc", "localhost", "webhook.example.com"} <= set(names.get_values_for_type(x509.DNSName))
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1", "10.0.0.7"}
    assert leaf.not_valid_after_utc - NOW <= certs.LEAF_VALIDITY


def test_keys_are_private_files(tmp_path: Path) -> None:
    certs.ensure(tmp_path, certs.default_sans(), NOW)
    for name in (certs.CA_KEY, certs.TLS_KEY):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_valid_certificate_is_reused(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, certs.default_sans(), NOW)
    again = certs.ensure(tmp_path, certs.default_sans(), NOW + dt.timedelta(days=10))
    assert again == first


def test_the_leaf_is_renewed_before_it_expires_and_the_ca_is_kept(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, certs.default_sans(), NOW)
    later = NOW + certs.LEAF_VALIDITY - certs.RENEW_BEFORE + dt.timedelta(hours=1)
    assert certs.needs_renewal(tmp_path, certs.default_sans(), later)
    renewed = certs.ensure(tmp_path, certs.default_sans(), later)
    assert renewed.ca_pem == first.ca_pem and renewed.cert_pem != first.cert_pem
    assert renewed.not_after > first.not_after
    load(tmp_path, certs.TLS_CERT).verify_directly_issued_by(load(tmp_path, certs.CA_CERT))


def test_a_missing_name_or_a_broken_file_means_renewal(tmp_path: Path) -> None:
    certs.ensure(tmp_path, certs.default_sans(), NOW)
    assert certs.needs_renewal(tmp_path, [*certs.default_sans(), "new.example.com"], NOW)
    (tmp_path / certs.TLS_CERT).write_text("garbage")
    assert certs.needs_renewal(tmp_path, certs.default_sans(), NOW)
    certs.ensure(tmp_path, certs.default_sans(), NOW)
    assert not certs.needs_renewal(tmp_path, certs.default_sans(), NOW)


def test_current_sans_lists_the_names_on_the_serving_certificate(tmp_path: Path) -> None:
    assert certs.current_sans(tmp_path) == []
    certs.ensure(tmp_path, ["webhook.example.com", "10.0.0.7"], NOW)
    assert set(certs.current_sans(tmp_path)) == {"webhook.example.com", "10.0.0.7"}


def test_a_pair_without_our_ca_key_is_served_as_it_is_and_never_overwritten(tmp_path: Path) -> None:
    certs.ensure(tmp_path, certs.default_sans(), NOW)
    (tmp_path / certs.CA_KEY).unlink()  # like a cert-manager Secret: ca.crt, tls.crt, tls.key
    before = {name: (tmp_path / name).read_bytes() for name in (certs.CA_CERT, certs.TLS_CERT, certs.TLS_KEY)}
    assert certs.externally_managed(tmp_path)
    bundle = certs.ensure(tmp_path, [*certs.default_sans(), "wanted.example.com"], NOW + certs.LEAF_VALIDITY)
    assert bundle.ca_pem == before[certs.CA_CERT] and bundle.cert_pem == before[certs.TLS_CERT]
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    (tmp_path / certs.CA_CERT).unlink()  # jsPolicy's self-signed certificate is its own CA
    assert certs.ensure(tmp_path, certs.default_sans(), NOW).ca_pem == before[certs.TLS_CERT]


def test_a_serving_pair_that_does_not_match_is_not_external(tmp_path: Path) -> None:
    certs.ensure(tmp_path, certs.default_sans(), NOW)
    (tmp_path / certs.CA_KEY).unlink()
    (tmp_path / certs.TLS_KEY).write_bytes((tmp_path / certs.TLS_KEY).read_bytes()[:40])
    assert not certs.externally_managed(tmp_path)
    certs.ensure(tmp_path, certs.default_sans(), NOW)  # regenerated: CA and a matching pair
    assert (tmp_path / certs.CA_KEY).exists() and certs.externally_managed(tmp_path) is False
