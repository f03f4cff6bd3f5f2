"""The gRPC channel a dialing cluster opens to one of its peer's servers: TLS trusting
the peer's CA roots (from the token, then the peering) and checking the name its
servers' peering certificate carries."""

from __future__ import annotations

import grpc


def peer_channel(address: str, ca_pems: list[str], server_name: str) -> grpc.aio.Channel:
    """A secure channel to ``address`` (use it as an async context manager)."""
    roots = "".join(p if p.endswith("\n") else p + "\n" for p in ca_pems)
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.encode() or None)
    options = [("grpc.ssl_target_name_override", server_name),
               ("grpc.default_authority", server_name)] if server_name else []
    return grpc.aio.secure_channel(address, credentials, options=options)
