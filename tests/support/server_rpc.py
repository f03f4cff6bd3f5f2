"""One msgpack-RPC call on an agent's server port, as another server or a tool would send it."""

from __future__ import annotations

import contextlib
import socket

import msgspec


def rpc(host: str, port: int, method: str, args: dict) -> tuple[dict, object]:
    """The reply header and body (None when the header carries an error)."""
    message = (b"\x00" + msgspec.msgpack.encode({"Seq": 1, "ServiceMethod": method})
               + msgspec.msgpack.encode(args))
    values: list = []
    data = b""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(message)
        while chunk := sock.recv(65536):
            data += chunk
            while data and len(values) < 2:
                end = next((n for n in range(1, len(data) + 1) if _decodes(data[:n])), 0)
                if not end:
                    break
                values.append(msgspec.msgpack.decode(data[:end]))
                data = data[end:]
            if len(values) == 2 or (values and values[0].get("Error")):
                return values[0], values[1] if len(values) == 2 else None
    raise AssertionError("connection closed before a reply")


def _decodes(data: bytes) -> bool:
    with contextlib.suppress(msgspec.DecodeError):
        msgspec.msgpack.decode(data)
        return True
    return False


def make_token(host: str, port: int, management: str, name: str, rules: str) -> str:
    """The SecretID of a new token whose one policy ``name`` holds ``rules``."""
    header, _ = rpc(host, port, "ACL.PolicySet", {"Policy": {"Name": name, "Rules": rules},
                                                   "Token": management})
    assert not header["Error"], header["Error"]
    header, token = rpc(host, port, "ACL.TokenSet", {
        "ACLToken": {"Policies": [{"Name": name}]}, "Create": True, "Token": management})
    assert not header["Error"], header["Error"]
    return token["SecretID"]
