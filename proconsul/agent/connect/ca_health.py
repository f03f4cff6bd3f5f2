"""How healthy the Connect CA looks from this agent (beyond Consul).

A pure assessment: given the roots (with their intermediates), the leaf TTL
and the leaves this agent holds, say when each expires and warn before
anything does. Thresholds: a root or intermediate warns with less than
10 % of its life or 24 hours left; a leaf warns once it is past the latest
point it should have been renewed (90 % of its life); anything past its
NotAfter is critical. Also critical: an active root that expires before a
leaf signed now would, since every leaf then outlives its chain.
"""

from __future__ import annotations

import datetime

import msgspec
from cryptography import x509

from proconsul.lib.duration import format_duration
from proconsul.structs.base import Record
from proconsul.structs.connect import CARoot, IssuedCert

__all__ = ["CAHealth", "HeldLeaf", "assess"]

WARN, CRITICAL = "WARN", "CRITICAL"
SOON_FRACTION = 0.1
SOON_ABSOLUTE = datetime.timedelta(hours=24)


class CertHealth(Record):
    """One certificate's validity and time left."""

    Kind: str                  # root | intermediate | leaf
    Name: str
    NotBefore: datetime.datetime
    NotAfter: datetime.datetime
    TimeLeft: str
    Active: bool | msgspec.UnsetType = msgspec.UNSET
    RootID: str | msgspec.UnsetType = msgspec.UNSET
    Service: str | msgspec.UnsetType = msgspec.UNSET
    SerialNumber: str | msgspec.UnsetType = msgspec.UNSET
    RenewAt: datetime.datetime | msgspec.UnsetType = msgspec.UNSET


class CAWarning(Record):
    """Something that has expired, or will, or would break the next rotation."""

    Severity: str
    Subject: str
    Message: str


class CAHealth(Record):
    """The report of ``GET /v1/connect/ca/health``."""

    Now: datetime.datetime
    Healthy: bool
    LeafCertTTL: str
    Roots: list[CertHealth]
    Intermediates: list[CertHealth]
    Leaves: list[CertHealth]
    Warnings: list[CAWarning]


class HeldLeaf(msgspec.Struct, frozen=True):
    """A leaf this agent caches, and when it plans to replace it."""

    cert: IssuedCert
    renew_at: datetime.datetime


def assess(now: datetime.datetime, roots: list[CARoot], leaf_ttl: datetime.timedelta,
           leaves: list[HeldLeaf]) -> CAHealth:
    """The health report at ``now``."""
    warnings: list[CAWarning] = []

    def warn(severity: str, subject: str, message: str) -> None:
        warnings.append(CAWarning(Severity=severity, Subject=subject, Message=message))

    root_rows, intermediate_rows = [], []
    for root in roots:
        row = CertHealth(Kind="root", Name=root.Name, NotBefore=root.NotBefore,
                         NotAfter=root.NotAfter, TimeLeft=_left(now, root.NotAfter),
                         Active=root.Active, RootID=root.ID)
        root_rows.append(row)
        _check_ca(now, row, f"root {root.Name}", warn)
        if root.Active and not _expired(now, root.NotAfter) and \
                root.NotAfter < now + leaf_ttl:
            warn(CRITICAL, f"root {root.Name}",
                 f"the active root expires at {_stamp(root.NotAfter)}, before a leaf signed now "
                 f"(leaf TTL {_span(leaf_ttl)}): leaves will outlive their root; rotate the CA")
        for pem in root.IntermediateCerts or ():
            cert = x509.load_pem_x509_certificate(pem.encode())
            name = cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"
            row = CertHealth(Kind="intermediate", Name=name,
                             NotBefore=cert.not_valid_before_utc,
                             NotAfter=cert.not_valid_after_utc,
                             TimeLeft=_left(now, cert.not_valid_after_utc), RootID=root.ID)
            intermediate_rows.append(row)
            _check_ca(now, row, f"intermediate {name} of root {root.Name}", warn)
    leaf_rows = []
    for held in sorted(leaves, key=lambda h: str(h.cert.Service or "")):
        cert = held.cert
        service = str(cert.Service or "")
        row = CertHealth(Kind="leaf", Name=service, NotBefore=cert.ValidAfter,
                         NotAfter=cert.ValidBefore, TimeLeft=_left(now, cert.ValidBefore),
                         Service=service, SerialNumber=cert.SerialNumber,
                         RenewAt=held.renew_at)
        leaf_rows.append(row)
        subject = f"leaf {service} (serial {cert.SerialNumber})"
        life = cert.ValidBefore - cert.ValidAfter
        if _expired(now, cert.ValidBefore):
            warn(CRITICAL, subject, f"expired at {_stamp(cert.ValidBefore)}")
        elif cert.ValidBefore - now < life * SOON_FRACTION:
            warn(WARN, subject, f"expires in {row.TimeLeft} and was not renewed (renewal was "
                                f"due at {_stamp(held.renew_at)})")
    return CAHealth(Now=now, Healthy=not warnings, LeafCertTTL=_span(leaf_ttl),
                    Roots=root_rows, Intermediates=intermediate_rows, Leaves=leaf_rows,
                    Warnings=warnings)


def _check_ca(now: datetime.datetime, row: CertHealth, subject: str, warn) -> None:
    if _expired(now, row.NotAfter):
        warn(CRITICAL, subject, f"expired at {_stamp(row.NotAfter)}")
        return
    left = row.NotAfter - now
    if left < SOON_ABSOLUTE or left < (row.NotAfter - row.NotBefore) * SOON_FRACTION:
        warn(WARN, subject, f"expires in {row.TimeLeft} (at {_stamp(row.NotAfter)})")


def _expired(now: datetime.datetime, not_after: datetime.datetime) -> bool:
    return not_after <= now


def _left(now: datetime.datetime, not_after: datetime.datetime) -> str:
    left = not_after - now
    return "expired" if left <= datetime.timedelta(0) else _span(left)


def _span(delta: datetime.timedelta) -> str:
    """Whole seconds as Go's Duration.String ("71h59m59s")."""
    return format_duration(int(delta.total_seconds()) * 1_000_000_000)


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
