"""TLS settings of the HTTPS listener and the server RPC port, from Consul's keys:
``tls.defaults`` and ``tls.https`` / ``tls.internal_rpc`` blocks over the deprecated
top-level ``ca_file``, ``verify_incoming``, ... keys."""

from __future__ import annotations

from typing import Any

from proconsul.agent.config.runtime import TLSSettings

__all__ = ["CIPHER_SUITES", "TLS_VERSIONS", "grpc_settings", "https_settings", "rpc_settings"]

TLS_VERSIONS = ("TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")
LEGACY_TLS_VERSIONS = {"tls10": "TLSv1_0", "tls11": "TLSv1_1", "tls12": "TLSv1_2",
                       "tls13": "TLSv1_3"}
# The suites Consul accepts in tls_cipher_suites (Go's names) and OpenSSL's names for them.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
}
_FIELDS = ("ca_file", "ca_path", "cert_file", "key_file", "verify_incoming",
           "verify_outgoing", "verify_server_hostname", "tls_min_version", "tls_cipher_suites")


def _merged(tree: dict[str, Any], block: str, legacy_verify_incoming: str) -> TLSSettings:
    values: dict[str, Any] = {k: tree[k] for k in _FIELDS if k in tree}
    if tree.get(legacy_verify_incoming):
        values["verify_incoming"] = True
    tls = tree.get("tls", {})
    for part in (tls.get("defaults", {}), tls.get(block, {})):
        values.update((k, part[k]) for k in _FIELDS if k in part)
    version = values.get("tls_min_version", "TLSv1_2")
    values["tls_min_version"] = LEGACY_TLS_VERSIONS.get(version, version)
    if values.get("verify_server_hostname"):  # as in Consul: it implies verify_outgoing
        values["verify_outgoing"] = True
    return TLSSettings(**values)


def https_settings(tree: dict[str, Any], https_port: int) -> tuple[TLSSettings, list[str]]:
    """The HTTPS listener's settings, and what is wrong with them (empty when nothing is).

    Without a certificate the listener stays off (the builder warns), as in Consul."""
    s = _merged(tree, "https", "verify_incoming_https")
    problems = _common_problems(s)
    if https_port > 0 and s.cert_file and s.verify_incoming and not s.has_ca:
        problems.append("tls.https verify_incoming needs ca_file or ca_path to check client "
                        "certificates against")
    return s, problems


def grpc_settings(tree: dict[str, Any]) -> tuple[TLSSettings, list[str]]:
    """The gRPC TLS listener's settings (``tls.grpc`` over ``tls.defaults``)."""
    s = _merged(tree, "grpc", "")
    problems = _common_problems(s)
    if s.cert_file and s.verify_incoming and not s.has_ca:
        problems.append("tls.grpc verify_incoming needs ca_file or ca_path to check client "
                        "certificates against")
    return s, problems


def rpc_settings(tree: dict[str, Any], server: bool) -> tuple[TLSSettings, list[str]]:
    """The server port's settings (incoming on servers, outgoing on every agent)."""
    s = _merged(tree, "internal_rpc", "verify_incoming_rpc")
    problems = _common_problems(s)
    if s.verify_outgoing and not s.has_ca:
        problems.append("tls.internal_rpc verify_outgoing needs ca_file or ca_path to check "
                        "server certificates against")
    if server and s.verify_incoming and not (s.cert_file and s.key_file and s.has_ca):
        problems.append("tls.internal_rpc verify_incoming needs cert_file, key_file and "
                        "ca_file or ca_path on a server")
    if bool(s.cert_file) != bool(s.key_file):
        problems.append("cert_file and key_file must be set together")
    return s, problems


def _common_problems(s: TLSSettings) -> list[str]:
    problems = []
    if s.tls_min_version not in TLS_VERSIONS:
        problems.append(f"tls_min_version: unknown version {s.tls_min_version!r}; use one of "
                        f"{', '.join(TLS_VERSIONS)}")
    suites = [name.strip() for name in s.tls_cipher_suites.split(",") if name.strip()]
    unknown = [name for name in suites if name not in CIPHER_SUITES]
    if unknown:
        problems.append(f"tls_cipher_suites: unsupported {', '.join(unknown)}; supported: "
                        f"{', '.join(CIPHER_SUITES)}")
    if suites and s.tls_min_version == "TLSv1_3":
        problems.append("tls_cipher_suites cannot be set with tls_min_version TLSv1_3: "
                        "TLS 1.3 suites are not configurable")
    return problems
