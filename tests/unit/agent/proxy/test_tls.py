"""Mesh TLS from a leaf and roots: both sides verify, identities come from URI SANs."""

from __future__ import annotations

import datetime
import ssl

import pytest

from proconsul.agent.connect.csr import LeafRequest, make_leaf_csr
from proconsul.agent.proxy.tls import (
    Leaf,
    PeerIdentityError,
    build_contexts,
    check_server_identity,
    peer_identity,
)
from tests.unit.connect.cahelpers import CA


def fresh_leaf(ca: CA, service: str) -> Leaf:
    csr_pem, key_pem = make_leaf_csr(LeafRequest(datacenter="dc1", service=service),
                                     ca.trust_domain)
    cert = ca.sign_csr(csr_pem, now=datetime.datetime.now(datetime.UTC))
    return Leaf(service, cert.CertPEM, key_pem, cert.SerialNumber)


def handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext):
    """A TLS handshake in memory; the (client, server) SSLObjects, or the error."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj in (("c", client), ("s", server)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            server.write(b"x")  # TLS 1.3: the server judges the client cert by now
            c_in.write(s_out.read())
            client.read(1)
            return client, server
    raise AssertionError("handshake did not finish")


def test_both_sides_verify_and_name_each_other():
    ca = CA()
    web, api = fresh_leaf(ca, "web"), fresh_leaf(ca, "api")
    client, server = handshake(build_contexts(web, (ca.root.RootCert,)).client,
                               build_contexts(api, (ca.root.RootCert,)).server)
    got_client, uri, serial = peer_identity(server)
    assert (got_client.service, got_client.datacenter) == ("web", "dc1")
    assert uri == f"spiffe://{ca.trust_domain}/ns/default/dc/dc1/svc/web"
    assert serial == web.serial
    got_server, _, _ = peer_identity(client)
    check_server_identity(got_server, "api", "dc1")
    with pytest.raises(PeerIdentityError, match="expected spiffe://.*/svc/db"):
        check_server_identity(got_server, "db", "dc1")
    with pytest.raises(PeerIdentityError, match="expected"):
        check_server_identity(got_server, "api", "dc2")


def test_a_leaf_of_another_ca_is_refused():
    ours, theirs = CA(), CA()
    with pytest.raises(ssl.SSLError):
        handshake(build_contexts(fresh_leaf(theirs, "web"), (theirs.root.RootCert,)).client,
                  build_contexts(fresh_leaf(ours, "api"), (ours.root.RootCert,)).server)


def test_no_roots_is_an_error_not_an_open_door():
    ca = CA()
    with pytest.raises(ssl.SSLError, match="no CA roots"):
        build_contexts(fresh_leaf(ca, "web"), ())
