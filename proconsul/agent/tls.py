"""TLS contexts from an interface's settings: the HTTPS listener's and the server port's
incoming side (Consul's ``IncomingHTTPSConfig`` / ``IncomingRPCConfig``) and the RPC
outgoing side (``OutgoingRPCConfig``)."""

from __future__ import annotations

import ssl

import msgspec

from proconsul.agent.config.runtime import TLSSettings
from proconsul.agent.config.tls import CIPHER_SUITES
from proconsul.lib.pki import ca_files
from proconsul.rpc.mux import ALPN_PROTOCOLS
from proconsul.structs.errors import ConsulError

__all__ = ["ContextSwitch", "client_context", "native_tls_context", "policy", "server_context",
           "server_hostname", "server_names"]

_VERSIONS = {"TLSv1_0": ssl.TLSVersion.TLSv1, "TLSv1_1": ssl.TLSVersion.TLSv1_1,
             "TLSv1_2": ssl.TLSVersion.TLSv1_2, "TLSv1_3": ssl.TLSVersion.TLSv1_3}


def server_context(settings: TLSSettings, what: str,
                   alpn: list[str] | None = None) -> ssl.SSLContext:
    """Our certificate, the minimum version and suites, and with ``verify_incoming`` a
    client certificate signed by the CA. ``what`` names the listener in errors."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, settings)
    _load_identity(context, settings, what)
    context.verify_mode = ssl.CERT_REQUIRED if settings.verify_incoming else ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def native_tls_context(settings: TLSSettings) -> ssl.SSLContext | None:
    """The server port's context for native TLS (servers of other DCs, through mesh
    gateways): offers Consul's ALPN names and always requires a client certificate
    signed by the CA, whatever ``verify_incoming`` says (Consul's IncomingALPNRPCConfig).
    None unless the agent can do mutual TLS (a certificate and a CA)."""
    if not (settings.cert_file and settings.has_ca):
        return None
    return server_context(msgspec.structs.replace(settings, verify_incoming=True), "RPC",
                          list(ALPN_PROTOCOLS))


def server_names(datacenter: str, domain: str, node: str) -> frozenset[str]:
    """The SNI names a gateway routes to this server: ``server.<dc>.<domain>`` and
    ``<node>.server.<dc>.<domain>``."""
    name = server_hostname(datacenter, domain)
    return frozenset({name, f"{node}.{name}"})


def client_context(settings: TLSSettings) -> ssl.SSLContext:
    """Checks the server's chain against the CA (and its name with
    ``verify_server_hostname``); presents our certificate, if any, to servers that ask."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, settings)
    context.check_hostname = settings.verify_server_hostname
    if settings.cert_file:
        _load_identity(context, settings, "RPC")
    else:
        _load_ca(context, settings)
    return context


class ContextSwitch:
    """A listener's TLS context whose certificate and trusted CAs can be replaced while it
    listens: the context the listener was created with hands every new handshake to the
    newest one (OpenSSL's server-name hook), so new connections use the new files and open
    ones keep theirs. Verification mode, versions and suites stay the listener's own."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.listening = context
        self.current = context
        context.sni_callback = self._on_client_hello

    def _on_client_hello(self, ssl_object, server_name, context: ssl.SSLContext) -> None:
        if self.current is not context:
            ssl_object.context = self.current


def policy(settings: TLSSettings) -> tuple:
    """What a reload cannot change without a restart: everything but the files' paths."""
    return (bool(settings.cert_file), settings.verify_incoming, settings.verify_outgoing,
            settings.verify_server_hostname, settings.tls_min_version,
            settings.tls_cipher_suites)


def server_hostname(datacenter: str, domain: str) -> str:
    """The name a server certificate carries: ``server.<datacenter>.<domain>``."""
    return f"server.{datacenter}.{domain.rstrip('.')}"


def _context(protocol: int, settings: TLSSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = _VERSIONS[settings.tls_min_version]
    suites = [CIPHER_SUITES[name.strip()] for name in settings.tls_cipher_suites.split(",")
              if name.strip()]
    try:
        if suites:
            context.set_ciphers(":".join(suites))
    except ssl.SSLError:
        raise ConsulError("tls_cipher_suites: this OpenSSL offers none of "
                          f"{settings.tls_cipher_suites}") from None
    return context


def _load_identity(context: ssl.SSLContext, settings: TLSSettings, what: str) -> None:
    try:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConsulError(f"cannot load the {what} certificate {settings.cert_file} with key "
                          f"{settings.key_file}: {_reason(err)}") from None
    _load_ca(context, settings)


def _load_ca(context: ssl.SSLContext, settings: TLSSettings) -> None:
    try:
        files = ca_files(settings.ca_file, settings.ca_path)
    except OSError as err:
        raise ConsulError(f"cannot read the CA directory {settings.ca_path}: "
                          f"{_reason(err)}") from None
    except ValueError as err:
        raise ConsulError(str(err)) from None
    for path in files:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as err:
            raise ConsulError(f"cannot load the CA {path}: {_reason(err)}") from None


def _reason(err: OSError | ssl.SSLError) -> str:
    return err.strerror or getattr(err, "reason", None) or str(err)
