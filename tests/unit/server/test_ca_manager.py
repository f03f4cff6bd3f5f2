"""The leader's CA on an in-process server: initialisation, signing, serials, rate
limiting, rotation with cross-signing, pruning, and the Roots blocking query."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest
from cryptography import x509

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr
from proconsul.server.connect import ca_manager
from proconsul.server.connect.ca_manager import SERIAL_BLOCK
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.connect import CAConfiguration, CARequest, CASignRequest
from proconsul.structs.errors import BadRequest, TooManyRequests, remote_error_class
from proconsul.structs.requests import DCSpecificRequest


@pytest.fixture
async def server():
    srv = Server(ServerConfig(connect_enabled=True))
    srv.start()
    await srv.ca.initialize()
    yield srv
    await srv.stop()


def csr_for(server: Server, service: str = "web", trust_domain: str = "") -> str:
    roots = server.store
    td = trust_domain or f"{roots.ca_config.ClusterID}.consul"
    return make_leaf_csr(LeafRequest(datacenter="dc1", service=service), td)[0]


async def sign(server: Server, service: str = "web", **kw):
    return await server.rpc("ConnectCA.Sign", CASignRequest(CSR=csr_for(server, service, **kw)))


async def set_config(server: Server, **config) -> None:
    await server.rpc("ConnectCA.ConfigurationSet", CARequest(
        Op="set-config", Config=CAConfiguration(Provider="consul", Config=config)))


async def test_initialize_makes_one_root_once(server):
    config = server.store.ca_config
    assert str(uuid.UUID(config.ClusterID)) == config.ClusterID
    assert config.Config["LeafCertTTL"] == "72h"
    [root] = server.store.ca_roots
    assert root.Active and root.ExternalTrustDomain == config.ClusterID
    assert [s.PrivateKey.startswith("-----BEGIN") for s in
            server.store.ca_provider_states.values()] == [True]
    await server.ca.initialize()
    assert server.store.ca_roots == [root]
    reply = await server.rpc("ConnectCA.Roots", DCSpecificRequest())
    assert reply.TrustDomain == f"{config.ClusterID}.consul" and reply.ActiveRootID == root.ID
    assert reply.Roots[0].SigningKey is not None and not reply.Roots[0].SigningKey


async def test_signed_leaves_chain_to_the_root_and_serials_never_repeat(server):
    root = x509.load_pem_x509_certificate(server.store.ca_roots[0].RootCert.encode())
    serials = set()
    for i in range(SERIAL_BLOCK + 10):  # crosses a serial block
        leaf = await sign(server, f"svc{i % 3}")
        serials.add(leaf.SerialNumber)
    cert = x509.load_pem_x509_certificate(leaf.CertPEM.encode())
    cert.verify_directly_issued_by(root)
    assert len(serials) == SERIAL_BLOCK + 10
    assert leaf.PrivateKeyPEM is not None and not isinstance(leaf.PrivateKeyPEM, str)


async def test_csr_of_another_trust_domain_is_a_400(server):
    with pytest.raises(BadRequest, match="SPIFFE ID in CSR from a different trust domain"):
        await sign(server, trust_domain="11111111-2222-3333-4444-555555555555.consul")
    with pytest.raises(BadRequest):
        await server.rpc("ConnectCA.Sign", CASignRequest(CSR="not a csr"))


async def test_csr_rate_limit_answers_429(server):
    await set_config(server, LeafCertTTL="72h", CSRMaxPerSecond=1)
    await sign(server)  # takes the one token; the next comes a second later
    with pytest.raises(TooManyRequests, match="^Rate limit reached, try again later$"):
        await sign(server)


async def test_rotation_cross_signs_wakes_roots_readers_and_prunes_later(server, monkeypatch):
    old_index, [old_root] = server.store.ca_roots_read(None)
    old_leaf = await sign(server)
    waiter = asyncio.ensure_future(server.rpc("ConnectCA.Roots", DCSpecificRequest(
        MinQueryIndex=old_index)))
    await set_config(server, PrivateKeyType="ec", PrivateKeyBits=384)
    woken = await asyncio.wait_for(waiter, 5)
    assert woken.ActiveRootID != old_root.ID and woken.Index > old_index
    old, new = server.store.ca_roots
    assert (old.ID, old.Active, new.Active) == (old_root.ID, False, True)
    assert new.PrivateKeyBits == 384 and len(new.IntermediateCerts) == 1
    cross = x509.load_pem_x509_certificate(new.IntermediateCerts[0].encode())
    cross.verify_directly_issued_by(x509.load_pem_x509_certificate(old.RootCert.encode()))
    new_leaf = await sign(server)
    assert new_leaf.CertPEM.endswith(new.IntermediateCerts[0])
    assert old_leaf.SerialNumber != new_leaf.SerialNumber

    rotated_at = old.RotatedOutAt
    monkeypatch.setattr(ca_manager, "_now", lambda: rotated_at + datetime.timedelta(hours=100))
    await server.ca.prune()
    assert len(server.store.ca_roots) == 2  # not yet two leaf lifetimes (2 x 72h)
    monkeypatch.setattr(ca_manager, "_now", lambda: rotated_at + datetime.timedelta(hours=145))
    await server.ca.prune()
    assert [r.ID for r in server.store.ca_roots] == [new.ID]


async def test_same_key_settings_change_only_the_config(server):
    [root] = server.store.ca_roots
    await set_config(server, LeafCertTTL="24h")
    assert server.store.ca_roots == [root]
    got = await server.rpc("ConnectCA.ConfigurationGet", DCSpecificRequest())
    assert got.Config == {"LeafCertTTL": "24h"} and got.ClusterID is not None


async def test_bad_configurations_are_refused_with_consuls_messages(server):
    with pytest.raises(BadRequest, match="RSA key length must be 2048 or 4096 bits"):
        await set_config(server, PrivateKeyType="rsa", PrivateKeyBits=1024)
    with pytest.raises(BadRequest, match="unknown CA provider 'vault'"):
        await server.rpc("ConnectCA.ConfigurationSet", CARequest(
            Op="set-config", Config=CAConfiguration(Provider="vault")))
    with pytest.raises(BadRequest, match="^Provider State is read-only"):
        await server.rpc("ConnectCA.ConfigurationSet", CARequest(
            Op="set-config", Config=CAConfiguration(Provider="consul", State={"k": "v"})))


async def test_connect_disabled_says_so():
    srv = Server(ServerConfig())
    srv.start()
    try:
        with pytest.raises(Exception, match="^Connect must be enabled in order to use this "
                                            "endpoint$"):
            await srv.rpc("ConnectCA.Roots", DCSpecificRequest())
    finally:
        await srv.stop()


@pytest.mark.parametrize(("text", "cls"), [
    ("Rate limit reached, try again later", TooManyRequests),
    ("CSR SAN contains an invalid number of URIs: 0", BadRequest),
    ("SPIFFE ID in CSR from a different datacenter: dc2, we are dc1", BadRequest),
    ("leaf cert TTL must be greater or equal than 1h0m0s", BadRequest),
    ("unknown CA provider 'vault'", BadRequest),
])
def test_ca_errors_keep_their_status_across_the_rpc(text, cls):
    assert remote_error_class(text) is cls
