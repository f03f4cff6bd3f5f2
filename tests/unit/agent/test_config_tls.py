"""HTTPS settings: tls.defaults / tls.https over the deprecated top-level keys, their errors,
and the server TLS context built from them."""

from __future__ import annotations

import ssl

import pytest

from proconsul.agent.config.builder import build
from proconsul.agent.config.runtime import TLSSettings
from proconsul.agent.config.validate import ConfigError
from proconsul.agent.tls import client_context, server_context, server_hostname
from proconsul.structs.errors import ConsulError
from tests.support.certs import write_test_pki

CERT = {"cert_file": "/c.pem", "key_file": "/k.pem"}


def https(tree: dict):
    return build({"data_dir": "/d", **tree})


def test_https_is_off_by_default_and_listens_on_client_addr():
    config = https({"client_addr": "10.0.0.5"})
    assert config.https_port == -1 and config.https_addr == "10.0.0.5"
    assert config.https_tls.tls_min_version == "TLSv1_2" and not config.https_tls.verify_incoming
    assert config.https_handshake_timeout == 5.0


def test_https_block_overrides_defaults_which_override_legacy_keys():
    config = https({
        "ports": {"https": 8501}, "addresses": {"https": "0.0.0.0"},
        "ca_file": "/legacy-ca.pem", "cert_file": "/legacy.pem", "key_file": "/legacy.key",
        "tls_min_version": "tls13",
        "tls": {"defaults": {"ca_file": "/ca.pem", "verify_incoming": True},
                "https": {"cert_file": "/https.pem", "key_file": "/https.key",
                          "verify_incoming": False}},
        "limits": {"https_handshake_timeout": "2s"},
    })
    tls = config.https_tls
    assert (config.https_port, config.https_addr) == (8501, "0.0.0.0")
    assert (tls.ca_file, tls.cert_file, tls.key_file) == ("/ca.pem", "/https.pem", "/https.key")
    assert tls.verify_incoming is False and tls.tls_min_version == "TLSv1_3"
    assert config.https_handshake_timeout == 2.0


def test_legacy_verify_incoming_https_turns_client_certificates_on():
    config = https({"ports": {"https": 8501}, "ca_file": "/ca.pem", **CERT,
                    "verify_incoming_https": True})
    assert config.https_tls.verify_incoming


@pytest.mark.parametrize(("tree", "message"), [
    ({"ports": {"https": 8501}, "tls": {"https": {**CERT, "verify_incoming": True}}},
     "verify_incoming needs ca_file or ca_path"),
    ({"tls": {"defaults": {"tls_min_version": "TLSv9"}}}, "unknown version 'TLSv9'"),
    ({"tls": {"https": {"tls_cipher_suites": "TLS_RSA_WITH_RC4_128_SHA"}}},
     "unsupported TLS_RSA_WITH_RC4_128_SHA"),
    ({"tls": {"https": {"tls_min_version": "TLSv1_3",
                        "tls_cipher_suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}},
     "cannot be set with tls_min_version TLSv1_3"),
])
def test_bad_https_settings_are_config_errors(tree, message):
    with pytest.raises(ConfigError) as info:
        https(tree)
    assert message in str(info.value)


def test_verify_incoming_without_a_ca_is_fine_while_https_is_off():
    assert https({"verify_incoming": True}).https_tls.verify_incoming


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext,
               name: str = "server.dc1.consul") -> ssl.SSLObject:
    """Run a TLS handshake in memory; the client's side, or the first SSLError."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {c: False, s: False}
    for _ in range(20):
        for side in (c, s):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return c
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return write_test_pki(tmp_path_factory.mktemp("pki"), "server.dc1.consul")


def _settings(pki, **kw) -> TLSSettings:
    return TLSSettings(ca_file=str(pki / "ca.pem"), cert_file=str(pki / "server.pem"),
                       key_file=str(pki / "server.pem"), **kw)


def test_https_context_applies_cipher_suites_and_client_verification(pki):
    client = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    suite = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
    server = server_context(_settings(pki, tls_cipher_suites=suite), "HTTPS")
    assert _handshake(server, client).cipher()[0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    strict = server_context(_settings(pki, verify_incoming=True), "HTTPS")
    with pytest.raises(ssl.SSLError):
        _handshake(strict, client)
    client.load_cert_chain(str(pki / "client.pem"))
    assert _handshake(strict, client).version() == "TLSv1.2"


def test_https_context_names_the_file_it_cannot_load(pki, tmp_path):
    with pytest.raises(ConsulError, match="cannot load the CA .*nope.pem"):
        server_context(TLSSettings(ca_file=str(tmp_path / "nope.pem"),
                                   cert_file=str(pki / "server.pem"),
                                   key_file=str(pki / "server.pem")), "HTTPS")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConsulError, match="cannot load the HTTPS certificate .*junk.pem"):
        server_context(TLSSettings(cert_file=str(tmp_path / "junk.pem"),
                                   key_file=str(tmp_path / "junk.pem")), "HTTPS")


def test_internal_rpc_block_and_legacy_keys():
    config = https({"ca_file": "/ca.pem", **CERT, "verify_incoming_rpc": True, "server": True,
                    "tls": {"internal_rpc": {"verify_server_hostname": True}}})
    rpc = config.rpc_tls
    assert rpc.verify_incoming and rpc.verify_server_hostname
    assert rpc.verify_outgoing  # implied by verify_server_hostname, as in Consul
    assert not config.https_tls.verify_incoming  # verify_incoming_rpc is the RPC port's only


@pytest.mark.parametrize(("tree", "message"), [
    ({"verify_outgoing": True}, "verify_outgoing needs ca_file or ca_path"),
    ({"server": True, "tls": {"internal_rpc": {"verify_incoming": True, "ca_file": "/ca"}}},
     "verify_incoming needs cert_file, key_file and ca_file or ca_path on a server"),
    ({"cert_file": "/c.pem"}, "cert_file and key_file must be set together"),
])
def test_bad_rpc_settings_are_config_errors(tree, message):
    with pytest.raises(ConfigError) as info:
        https(tree)
    assert message in str(info.value)


def test_rpc_client_context_checks_the_server_name_only_when_asked(pki):
    server = server_context(_settings(pki), "RPC")
    dc2 = server_hostname("dc2", "consul.")
    assert dc2 == "server.dc2.consul"
    loose = client_context(_settings(pki, verify_outgoing=True))
    assert _handshake(server, loose, dc2)  # the chain is checked, the name is not
    strict = client_context(_settings(pki, verify_outgoing=True, verify_server_hostname=True))
    assert _handshake(server, strict, "server.dc1.consul")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, strict, dc2)
    stranger = ssl.create_default_context()  # does not trust the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, stranger)


def test_ca_path_is_a_directory_of_plain_pem_files(pki, tmp_path):
    cas = tmp_path / "cas"
    cas.mkdir()
    other = write_test_pki(tmp_path, "server.dc2.consul")  # an unrelated CA beside ours
    (cas / "other-ca.pem").write_bytes((other / "ca.pem").read_bytes())
    (cas / "our-ca.pem").write_bytes((pki / "ca.pem").read_bytes())
    client = client_context(TLSSettings(ca_path=str(cas), verify_outgoing=True))
    server = server_context(_settings(pki), "RPC")
    assert _handshake(server, client)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConsulError, match="holds no files"):
        client_context(TLSSettings(ca_path=str(tmp_path / "empty")))
    with pytest.raises(ConsulError, match="cannot read the CA directory"):
        client_context(TLSSettings(ca_path=str(tmp_path / "missing")))
