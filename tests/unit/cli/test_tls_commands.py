"""``proconsul tls ca create`` / ``tls cert create``: files, names, chains and errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from proconsul.cli.tls_commands import CA_CREATE, CERT_CREATE


def load(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (san.get_values_for_type(x509.DNSName),
            [str(ip) for ip in san.get_values_for_type(x509.IPAddress)])


def usages(cert: x509.Certificate) -> list:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_and_certificates_as_consul_names_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert CA_CREATE([]) == 0
    assert capsys.readouterr().out == ("==> Saved consul-agent-ca.pem\n"
                                       "==> Saved consul-agent-ca-key.pem\n")
    assert stat.S_IMODE((tmp_path / "consul-agent-ca-key.pem").stat().st_mode) == 0o600
    ca = load("consul-agent-ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    assert CERT_CREATE(["-server", "-node", "n1", "-additional-ipaddress", "10.0.0.1"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" in out and out.endswith(
        "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
        "==> Saved dc1-server-consul-0.pem\n==> Saved dc1-server-consul-0-key.pem\n")
    server = load("dc1-server-consul-0.pem")
    server.verify_directly_issued_by(ca)
    assert names(server) == (["server.dc1.consul", "n1.server.dc1.consul", "localhost"],
                             ["127.0.0.1", "10.0.0.1"])
    assert usages(server) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]

    assert CERT_CREATE(["-server"]) == 0  # the next free index
    assert (tmp_path / "dc1-server-consul-1.pem").exists()
    assert CERT_CREATE(["-client", "-dc", "east", "-days", "30"]) == 0
    client = load("east-client-consul-0.pem")
    assert names(client)[0] == ["client.east.consul", "localhost"]
    lifetime = client.not_valid_after_utc - client.not_valid_before_utc
    assert 30 <= lifetime.days <= 31
    assert CERT_CREATE(["-cli"]) == 0
    cli = load("dc1-cli-consul-0.pem")
    assert names(cli) == (["cli.client.dc1.consul", "localhost"], [])
    assert usages(cli) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_name_constrained_ca_for_another_domain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CA_CREATE(["-domain", "example.com", "-name-constraint",
                      "-additional-name-constraint", "ui.example.org",
                      "-cluster-id", "1234"]) == 0
    ca = load("example.com-agent-ca.pem")
    permitted = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    assert [n.value for n in permitted.permitted_subtrees] == [
        "example.com", "localhost", "ui.example.org"]
    uri = ca.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uri.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://1234.example.com"]
    assert CERT_CREATE(["-server", "-domain", "example.com"]) == 0
    load("dc1-server-example.com-0.pem").verify_directly_issued_by(ca)


@pytest.mark.parametrize(("args", "message"), [
    ([], "exactly one of -server, -client or -cli"),
    (["-server", "-client"], "exactly one of -server, -client or -cli"),
    (["-client", "-node", "n1"], "-node requires -server"),
    (["-server", "-days", "0"], "-days must be a positive number"),
    (["-server", "-ca", "missing.pem"], "cannot read the CA: missing.pem"),
    (["-server", "-additional-ipaddress", "not-an-ip"], "cannot create the certificate"),
])
def test_cert_create_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert CA_CREATE([]) == 0
    capsys.readouterr()
    assert CERT_CREATE(args) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("dc1-*"))


def test_ca_create_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert CA_CREATE([]) == 0
    before = (tmp_path / "consul-agent-ca-key.pem").read_bytes()
    assert CA_CREATE([]) == 1
    assert "consul-agent-ca.pem already exists." in capsys.readouterr().err
    assert (tmp_path / "consul-agent-ca-key.pem").read_bytes() == before


def test_help_states_the_defaults_of_dc_and_domain(capsys):
    assert CERT_CREATE(["-h"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Defaults to dc1." in text and "Defaults to consul." in text
    assert CA_CREATE(["-h"]) == 0
    assert "Defaults to consul." in " ".join(capsys.readouterr().out.split())
