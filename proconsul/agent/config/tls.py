"""The HTTPS listener's TLS settings from Consul's keys: ``tls.defaults`` and ``tls.https``
blocks over the deprecated top-level ``ca_file``, ``verify_incoming``, ... keys."""

from __future__ import annotations

from typing import Any

from proconsul.agent.config.runtime import TLSSettings

__all__ = ["CIPHER_SUITES", "TLS_VERSIONS", "https_settings"]

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
           "tls_min_version", "tls_cipher_suites")


def https_settings(tree: dict[str, Any], https_port: int) -> tuple[TLSSettings, list[str]]:
    """The merged settings, and what is wrong with them (empty when nothing is)."""
    values: dict[str, Any] = {k: tree[k] for k in _FIELDS if k in tree}
    if tree.get("verify_incoming_https"):
        values["verify_incoming"] = True
    tls = tree.get("tls", {})
    for block in (tls.get("defaults", {}), tls.get("https", {})):
        values.update((k, block[k]) for k in _FIELDS if k in block)
    version = values.get("tls_min_version", "TLSv1_2")
    values["tls_min_version"] = LEGACY_TLS_VERSIONS.get(version, version)
    settings = TLSSettings(**values)
    return settings, _problems(settings, https_port)


def _problems(s: TLSSettings, https_port: int) -> list[str]:
    problems = []
    if https_port > 0 and not (s.cert_file and s.key_file):
        problems.append("ports.https needs a certificate: set cert_file and key_file in "
                        "tls.https or tls.defaults")
    if https_port > 0 and s.verify_incoming and not (s.ca_file or s.ca_path):
        problems.append("tls.https verify_incoming needs ca_file or ca_path to check client "
                        "certificates against")
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
