"""The CA health assessment: expiry of roots, intermediates and held leaves, and the
warnings given before anything expires."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proconsul.agent.connect.ca_health import HeldLeaf, assess
from proconsul.structs.connect import CARoot, IssuedCert

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)
H = datetime.timedelta(hours=1)
DAY = 24 * H
LEAF_TTL = 72 * H


def pem_cert(name: str, not_before: datetime.datetime, not_after: datetime.datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def root(name: str, life_left: datetime.timedelta, life: datetime.timedelta = 3650 * DAY,
         active: bool = True, intermediates: list[str] | None = None) -> CARoot:
    not_after = NOW + life_left
    return CARoot(ID=name, Name=name, NotBefore=not_after - life, NotAfter=not_after,
                  Active=active, IntermediateCerts=intermediates)


def leaf(service: str, age: datetime.timedelta, life: datetime.timedelta = LEAF_TTL) -> HeldLeaf:
    valid_after = NOW - age
    cert = IssuedCert(SerialNumber="0a", Service=service, ValidAfter=valid_after,
                      ValidBefore=valid_after + life)
    return HeldLeaf(cert, valid_after + life * 0.75)


def test_a_fresh_ca_and_leaf_are_healthy():
    report = assess(NOW, [root("r1", 3000 * DAY)], LEAF_TTL, [leaf("web", 10 * H)])
    assert report.Healthy and report.Warnings == []
    assert report.LeafCertTTL == "72h0m0s"
    [leaf_row] = report.Leaves
    assert (leaf_row.Service, leaf_row.SerialNumber, leaf_row.TimeLeft) == ("web", "0a",
                                                                          "62h0m0s")
    assert leaf_row.RenewAt == NOW - 10 * H + LEAF_TTL * 0.75
    assert report.Roots[0].Active is True


def test_roots_warn_under_ten_percent_of_life_or_a_day_and_are_critical_once_expired():
    roots = [root("old", 300 * DAY, active=False), root("short", 20 * H, life=1000 * DAY),
             root("gone", -H, active=False)]
    report = assess(NOW, roots, LEAF_TTL, [])
    assert [(w.Severity, w.Subject) for w in report.Warnings] == [
        ("WARN", "root old"), ("WARN", "root short"), ("CRITICAL", "root short"),
        ("CRITICAL", "root gone")]
    assert report.Warnings[2].Message.startswith("the active root expires at ")
    assert not report.Healthy and report.Roots[2].TimeLeft == "expired"


def test_intermediates_and_overdue_or_expired_leaves_warn():
    cross = pem_cert("cross", NOW - 6 * DAY, NOW + 12 * H)
    report = assess(NOW, [root("r1", 3000 * DAY, intermediates=[cross])], LEAF_TTL,
                    [leaf("api", 66 * H), leaf("db", 80 * H), leaf("web", 30 * H)])
    assert [(w.Severity, w.Subject) for w in report.Warnings] == [
        ("WARN", "intermediate CN=cross of root r1"),
        ("WARN", "leaf api (serial 0a)"),
        ("CRITICAL", "leaf db (serial 0a)")]
    assert report.Intermediates[0].TimeLeft == "12h0m0s"
    assert "was not renewed" in report.Warnings[1].Message
