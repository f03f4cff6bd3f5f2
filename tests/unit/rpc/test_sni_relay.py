"""The test gateway's ClientHello reader: the SNI and ALPN names of a real hello."""

from __future__ import annotations

import ssl

import pytest

from tests.support.sni_relay import HelloError, parse_client_hello


def client_hello(server_name: str, alpn: list[str]) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_sni_and_alpn_are_read_once_the_hello_is_complete():
    hello = client_hello("s1.server.dc2.consul", ["consul/wan-gossip/packet"])
    assert parse_client_hello(hello[:3]) is None
    assert parse_client_hello(hello[:-1]) is None
    assert parse_client_hello(hello) == ("s1.server.dc2.consul", ["consul/wan-gossip/packet"])


def test_what_is_not_a_hello_is_refused():
    with pytest.raises(HelloError, match="not a TLS handshake record"):
        parse_client_hello(b"\x00\x01\x02\x03\x04\x05")
