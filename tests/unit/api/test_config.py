"""Config from the CONSUL_* environment."""

import pytest

from proconsul.api import Config


def test_defaults():
    config = Config.from_env({})
    assert (config.address, config.scheme, config.token) == ("127.0.0.1:8500", "http", "")
    assert config.tls.insecure_skip_verify is False


@pytest.mark.parametrize("addr,scheme,address", [
    ("https://10.0.0.1:8501", "https", "10.0.0.1:8501"),
    ("http://h:1", "http", "h:1"),
    ("unix:///tmp/consul.sock", "http", "unix:///tmp/consul.sock"),
    ("h:2", "http", "h:2"),
])
def test_http_addr_forms(addr, scheme, address):
    config = Config.from_env({"CONSUL_HTTP_ADDR": addr})
    assert (config.scheme, config.address) == (scheme, address)


def test_tls_and_token_variables(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  from-file\n")
    config = Config.from_env({
        "CONSUL_HTTP_TOKEN": "tok", "CONSUL_HTTP_TOKEN_FILE": str(token_file),
        "CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_SSL_VERIFY": "false",
        "CONSUL_CACERT": "ca.pem", "CONSUL_CAPATH": "cadir", "CONSUL_CLIENT_CERT": "c.pem",
        "CONSUL_CLIENT_KEY": "k.pem", "CONSUL_TLS_SERVER_NAME": "server.dc1.consul",
        "CONSUL_NAMESPACE": "ns1"})
    assert config.scheme == "https" and config.tls.insecure_skip_verify is True
    assert (config.tls.ca_file, config.tls.ca_path, config.tls.cert_file, config.tls.key_file,
            config.tls.server_name) == ("ca.pem", "cadir", "c.pem", "k.pem",
                                        "server.dc1.consul")
    assert config.namespace == "ns1" and config.token == "tok"
    assert config.effective_token() == "from-file"


def test_malformed_ssl_flag_is_ignored():
    assert Config.from_env({"CONSUL_HTTP_SSL": "maybe"}).scheme == "http"
