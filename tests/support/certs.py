"""A throwaway CA for TLS tests: ``ca.pem``, and server and client PEMs (cert + key)."""

from __future__ import annotations

from pathlib import Path

from proconsul.lib.pki import CLIENT_AUTH, SERVER_AUTH, KeyPair, new_ca, new_leaf


def write_test_pki(out: Path, server_name: str, server_ips: tuple[str, ...] = ("127.0.0.1",),
                   client_name: str = "client.dc1.consul") -> Path:
    """Write ``ca.pem``, ``server.pem`` (for ``server_name`` and ``server_ips``) and
    ``client.pem`` into ``out``; the leaf PEMs hold the certificate then its key."""
    ca = new_ca("Proconsul Test CA", days=1)
    (out / "ca.pem").write_bytes(ca.cert_pem)
    usages = [SERVER_AUTH, CLIENT_AUTH]
    leaves = {"server": new_leaf(ca, server_name, 1, [server_name], list(server_ips), usages),
              "client": new_leaf(ca, client_name, 1, [client_name], [], usages)}
    for name, leaf in leaves.items():
        (out / f"{name}.pem").write_bytes(leaf.cert_pem + leaf.key_pem)
    return out


def server_tls_hcl(ca: KeyPair, base: Path, dc: str, names: list[str],
                   ips: list[str] | tuple[str, ...] = ()) -> str:
    """Write ``base/<dc>.pem``, a server certificate of ``ca`` (whose ``ca.pem`` is in
    ``base``) for ``server.<dc>.consul``, ``names``, ``localhost`` and ``ips``, then its
    key; the ``tls`` block of an agent of ``dc`` that uses them."""
    pem = base / f"{dc}.pem"
    leaf = new_leaf(ca, f"server.{dc}.consul", 1, [f"server.{dc}.consul", *names, "localhost"],
                    list(ips), [SERVER_AUTH, CLIENT_AUTH])
    pem.write_bytes(leaf.cert_pem + leaf.key_pem)
    return (f'tls {{ defaults {{ ca_file = "{base / "ca.pem"}", cert_file = "{pem}", '
            f'key_file = "{pem}" }} }}\n')
