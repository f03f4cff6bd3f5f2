"""The HTTPS listener's server-side TLS context (Consul's ``IncomingHTTPSConfig``)."""

from __future__ import annotations

import ssl

from proconsul.agent.config.runtime import TLSSettings
from proconsul.agent.config.tls import CIPHER_SUITES
from proconsul.structs.errors import ConsulError

__all__ = ["https_context"]

_VERSIONS = {"TLSv1_0": ssl.TLSVersion.TLSv1, "TLSv1_1": ssl.TLSVersion.TLSv1_1,
             "TLSv1_2": ssl.TLSVersion.TLSv1_2, "TLSv1_3": ssl.TLSVersion.TLSv1_3}


def https_context(settings: TLSSettings) -> ssl.SSLContext:
    """A server context: our certificate, the minimum version and suites, and with
    ``verify_incoming`` a client certificate signed by the CA; ConsulError if a file
    cannot be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[settings.tls_min_version]
    suites = [CIPHER_SUITES[name.strip()] for name in settings.tls_cipher_suites.split(",")
              if name.strip()]
    try:
        if suites:
            context.set_ciphers(":".join(suites))
    except ssl.SSLError:
        raise ConsulError("tls_cipher_suites: this OpenSSL offers none of "
                          f"{settings.tls_cipher_suites}") from None
    try:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConsulError(f"cannot load the HTTPS certificate {settings.cert_file} with key "
                          f"{settings.key_file}: {_reason(err)}") from None
    if settings.ca_file or settings.ca_path:
        try:
            context.load_verify_locations(cafile=settings.ca_file or None,
                                          capath=settings.ca_path or None)
        except (OSError, ssl.SSLError) as err:
            raise ConsulError(f"cannot load the CA {settings.ca_file or settings.ca_path}: "
                              f"{_reason(err)}") from None
    context.verify_mode = ssl.CERT_REQUIRED if settings.verify_incoming else ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def _reason(err: OSError | ssl.SSLError) -> str:
    return err.strerror or getattr(err, "reason", None) or str(err)
