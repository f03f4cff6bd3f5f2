"""The pure troubleshoot checks: certificates (expired, foreign trust domain) and Envoy data."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proconsul.cli import troubleshoot_checks as checks

NOW = datetime.datetime(2026, 12, 2, 6, 0, tzinfo=datetime.UTC)
DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


def pem(not_after: datetime.datetime, spiffe: str = "") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(7)
               .not_valid_before(not_after - datetime.timedelta(days=3))
               .not_valid_after(not_after))
    if spiffe:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(spiffe)]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


LATER = NOW + datetime.timedelta(days=1)
ROOTS = {"TrustDomain": DOMAIN, "Roots": [{"Active": True, "RootCert": pem(LATER)}]}


def leaf(domain: str = DOMAIN, not_after: datetime.datetime = LATER) -> str:
    return pem(not_after, f"spiffe://{domain}/ns/default/dc/dc1/svc/web")


def test_a_valid_leaf_in_the_trust_domain_passes():
    [finding] = checks.certificates("web", ROOTS, leaf(), NOW)
    assert finding.ok and f"trust domain {DOMAIN}" in finding.message


def test_an_expired_leaf_is_named_with_its_expiry():
    [finding] = checks.certificates("web", ROOTS, leaf(not_after=NOW), NOW)
    assert not finding.ok
    assert finding.message == "web's leaf certificate expired at 2026-12-02T06:00:00Z"


def test_a_leaf_from_another_trust_domain_is_refused():
    [finding] = checks.certificates("web", ROOTS, leaf("other.consul"), NOW)
    assert not finding.ok
    assert finding.message == (f"web's leaf is for trust domain other.consul, the CA's is "
                               f"{DOMAIN}: peers refuse it")


def test_an_expired_root_and_no_active_root():
    roots = {"TrustDomain": DOMAIN, "Roots": [{"Active": True, "RootCert": pem(NOW)}]}
    findings = checks.certificates("web", roots, leaf(), NOW)
    assert [f.ok for f in findings] == [False]
    assert findings[0].message.startswith("the active CA root expired at")
    [none] = checks.certificates("web", {"Roots": []}, leaf(), NOW)
    assert none.message == "the CA has no active root"


def test_envoy_certificates_expired_and_missing():
    def held(expiry: str) -> dict:
        return {"certificates": [{"cert_chain": [{"serial_number": "7",
                                                  "expiration_time": expiry}]}]}
    assert checks.envoy_certificates(held("2026-12-03T00:00:00Z"), NOW).ok
    expired = checks.envoy_certificates(held("2026-12-01T00:00:00Z"), NOW)
    assert expired.message == ("Envoy holds 1 expired certificate(s) (serial 7, expired "
                               "2026-12-01T00:00:00Z)")
    assert not checks.envoy_certificates({"certificates": []}, NOW).ok


def test_rejected_updates_sums_every_nacked_type():
    finding = checks.rejected_updates({"cluster_manager.cds.update_rejected": "2",
                                       "listener_manager.lds.update_rejected": "1",
                                       "cluster.x.update_rejected": "0"})
    assert finding.message == ("Envoy rejected 3 config update(s) (NACK: cluster_manager.cds."
                               "update_rejected=2, listener_manager.lds.update_rejected=1)")


def test_render_shows_the_fix_under_a_failure():
    assert checks.Finding(False, "broken", "mend it").render() == "✗ broken\n  -> mend it"
    assert checks.Finding(True, "fine").render() == "✓ fine"


def test_a_rejected_upstream_listener_shows_envoys_reason():
    dump = {"configs": [{"dynamic_listeners": [
        {"name": "api:127.0.0.1:9191", "error_state": {"details": "cannot bind: in use"}}]}]}
    finding = checks.upstream_listener(dump, "api")
    assert finding.message == ("Envoy rejected the listener api:127.0.0.1:9191: "
                               "cannot bind: in use")
    ok = {"configs": [{"dynamic_listeners": [
        {"name": "api:127.0.0.1:9191", "active_state": {"version_info": "1"}}]}]}
    assert checks.upstream_listener(ok, "api").message == "Envoy listens for api on " \
        "127.0.0.1:9191"
