"""The CA of a secondary datacenter on two in-process servers (dc1 primary, dc2 whose
cross-datacenter calls reach dc1 in-process): dc2's intermediate is signed by dc1's
root, dc2 shows dc1's roots and trust domain, its leaves chain to dc1's root, and a
root rotation in dc1 gets dc2 a new intermediate while old leaves stay trusted."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cryptography import x509

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr
from proconsul.server.connect import ca_manager
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.connect import CAConfiguration, CARequest, CASignRequest
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import DCSpecificRequest


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


async def idle() -> None:
    pass


@pytest.fixture
async def dcs():
    dc1 = Server(ServerConfig(connect_enabled=True, datacenter="dc1"))
    dc2 = Server(ServerConfig(connect_enabled=True, datacenter="dc2", primary_datacenter="dc1",
                              ca_config={"LeafCertTTL": "24h"}))
    calls: list[str] = []

    async def to_dc1(datacenter, method, request):
        assert datacenter == "dc1"
        if method.startswith("ConnectCA."):  # dc2's leader routines call dc1 too, in their time
            calls.append(method)
        return await dc1.rpc(method, request)

    dc2.forwarder.forward_dc = to_dc1
    dc2.calls = calls
    dc2.ca.run = idle  # the tests step dc2's watch themselves (see follow)
    for srv in (dc1, dc2):
        srv.start()
    await dc1.ca.initialize()
    yield dc1, dc2
    for srv in (dc1, dc2):
        await srv.stop()


async def follow(dc2: Server, dc1: Server) -> None:
    """One step of dc2's watch: the primary's current roots, applied."""
    roots = await dc2.rpc("ConnectCA.Roots", DCSpecificRequest(Datacenter="dc1"))
    await dc2.ca.secondary_update(roots)


async def leaf(server: Server, service: str = "web") -> str:
    config = server.store.ca_config
    td = f"{config.ClusterID if config else 'unknown'}.consul"
    csr = make_leaf_csr(LeafRequest(datacenter=server.config.datacenter, service=service), td)[0]
    return (await server.rpc("ConnectCA.Sign", CASignRequest(CSR=csr))).CertPEM


async def test_dc2_gets_an_intermediate_from_dc1_and_its_leaves_chain_to_dc1s_root(dcs):
    dc1, dc2 = dcs
    with pytest.raises(ConsulError, match="provider is nil"):
        await leaf(dc2)  # no CA in dc2 before it has heard from dc1
    await follow(dc2, dc1)
    assert dc2.calls == ["ConnectCA.Roots", "ConnectCA.SignIntermediate"]

    roots1 = await dc1.rpc("ConnectCA.Roots", DCSpecificRequest())
    roots2 = await dc2.rpc("ConnectCA.Roots", DCSpecificRequest())
    assert roots2.TrustDomain == roots1.TrustDomain
    assert roots2.ActiveRootID == roots1.ActiveRootID
    assert [r.RootCert for r in roots2.Roots] == [r.RootCert for r in roots1.Roots]
    assert dc2.store.ca_config.ClusterID == dc1.store.ca_config.ClusterID
    assert dc2.store.ca_config.Config["LeafCertTTL"] == "24h"  # its own settings

    dc1_root = load(roots1.Roots[0].RootCert)
    certs = chain(await leaf(dc2))
    leaf_cert, intermediate = certs[0], certs[-1]
    leaf_cert.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(dc1_root)
    assert intermediate.extensions.get_extension_for_class(
        x509.BasicConstraints).value.path_length == 0
    ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert roots2.Roots[0].SigningKeyID.replace(":", "") == ski.digest.hex()
    assert leaf_cert.not_valid_after_utc - leaf_cert.not_valid_before_utc == \
        datetime.timedelta(hours=24)

    # A second look at unchanged roots changes nothing: no new intermediate, no write.
    index = dc2.store.ca_roots_read(None)[0]
    await follow(dc2, dc1)
    assert dc2.calls.count("ConnectCA.SignIntermediate") == 1
    assert dc2.store.ca_roots_read(None)[0] == index


async def test_rotation_in_dc1_gets_dc2_an_intermediate_from_the_new_root(dcs):
    dc1, dc2 = dcs
    await follow(dc2, dc1)
    old_leaf = chain(await leaf(dc2))
    index2 = dc2.store.ca_roots_read(None)[0]
    waiter = asyncio.ensure_future(dc2.rpc("ConnectCA.Roots", DCSpecificRequest(
        MinQueryIndex=index2)))
    await dc1.rpc("ConnectCA.ConfigurationSet", CARequest(Op="set-config", Config=CAConfiguration(
        Provider="consul", Config={"PrivateKeyType": "ec", "PrivateKeyBits": 384})))
    await follow(dc2, dc1)
    woken = await asyncio.wait_for(waiter, 5)  # dc2's agents see the change
    old_root, new_root = (load(r.RootCert) for r in dc1.store.ca_roots)
    assert woken.ActiveRootID == dc1.store.ca_active_root().ID
    assert [r.ID for r in woken.Roots] == [r.ID for r in dc1.store.ca_roots]
    old2, new2 = dc2.store.ca_roots
    assert not old2.Active and old2.RotatedOutAt is not None and new2.Active

    certs = chain(await leaf(dc2))
    # leaf, dc1's new root cross-signed by the old one, dc2's new intermediate
    assert len(certs) == 3
    certs[0].verify_directly_issued_by(certs[-1])
    certs[-1].verify_directly_issued_by(new_root)
    certs[1].verify_directly_issued_by(old_root)
    # The leaf issued before the rotation still chains to a root dc2 trusts.
    old_leaf[-1].verify_directly_issued_by(old_root)
    assert old2.RootCert == dc1.store.ca_roots[0].RootCert


async def test_intermediate_is_renewed_after_half_its_lifetime(dcs, monkeypatch):
    dc1, dc2 = dcs
    await follow(dc2, dc1)
    first = dc2.store.ca_active_root().IntermediateCerts[-1]
    later = load(first).not_valid_before_utc + datetime.timedelta(days=183)
    monkeypatch.setattr(ca_manager, "_now", lambda: later)
    await follow(dc2, dc1)
    renewed = dc2.store.ca_active_root().IntermediateCerts
    assert renewed[-1] != first and first not in renewed
    assert dc2.calls.count("ConnectCA.SignIntermediate") == 2


async def test_a_new_dc2_leader_signs_with_the_stored_intermediate(dcs):
    dc1, dc2 = dcs
    await follow(dc2, dc1)
    dc2.ca.provider = None  # what a server that just won the election has
    certs = chain(await leaf(dc2))
    certs[0].verify_directly_issued_by(certs[-1])


async def test_sign_intermediate_is_for_the_primary_only(dcs):
    dc1, dc2 = dcs
    await follow(dc2, dc1)
    csr = dc2.ca.provider.generate_intermediate_csr()[0]
    with pytest.raises(ConsulError, match="not the primary datacenter"):
        await dc2.ca.sign_intermediate(CASignRequest(CSR=csr))
    with pytest.raises(ConsulError, match="invalid|PEM"):
        await dc1.rpc("ConnectCA.SignIntermediate", CASignRequest(CSR="junk"))


async def test_dc2_leader_follows_dc1_once_dc1_has_a_ca():
    """dc2's leader routine watches dc1's roots: it fails while dc1 has no CA, retries,
    and then takes dc1's root as soon as there is one (its blocking query wakes)."""
    dc1 = Server(ServerConfig(connect_enabled=True, datacenter="dc1"))
    dc2 = Server(ServerConfig(connect_enabled=True, datacenter="dc2", primary_datacenter="dc1"))

    async def to_dc1(datacenter, method, request):
        return await dc1.rpc(method, request)

    dc2.forwarder.forward_dc = to_dc1
    dc1.ca.run = idle  # dc1's CA is made below, by hand
    dc1.start()
    dc2.start()
    try:
        async def until(condition):
            while not condition():
                await asyncio.sleep(0.01)

        status = dc2.ca.replication
        await asyncio.wait_for(until(lambda: status.last_error), 5)
        assert "does not have an active root" in status.last_error_message
        assert status.running and status.enabled and not status.last_success
        await dc1.ca.initialize()
        await asyncio.wait_for(until(dc2.store.ca_active_root), 5)
        assert dc2.store.ca_active_root().ID == dc1.store.ca_active_root().ID
        assert status.last_success > status.last_error and status.replicated_index > 0
        # Now it waits on dc1's roots: a rotation there reaches dc2 by itself.
        await dc1.rpc("ConnectCA.ConfigurationSet", CARequest(
            Op="set-config", Config=CAConfiguration(Provider="consul", Config={
                "PrivateKeyType": "ec", "PrivateKeyBits": 384})))
        await asyncio.wait_for(until(lambda: dc2.store.ca_active_root().ID ==
                                     dc1.store.ca_active_root().ID), 5)
    finally:
        await dc1.stop()
        await dc2.stop()
