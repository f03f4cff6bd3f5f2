"""TLS client settings for checks (Consul's ``OutgoingTLSConfigForCheck``)."""

from __future__ import annotations

import ssl


def client_context(*, skip_verify: bool, ca_file: str | None = None,
                   alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client context: system roots plus ``ca_file``; no verification if ``skip_verify``."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context
