"""Gossip keyring operations as servers carry them between datacenters
(Consul's KeyringRequest / KeyringResponse(s), RPC ``Internal.KeyringOperation``)."""

from __future__ import annotations

from proconsul.structs.base import Int, Record
from proconsul.structs.query import QueryMeta

KEYRING_LIST = "list"
KEYRING_INSTALL = "install"
KEYRING_USE = "use"
KEYRING_REMOVE = "remove"
KEYRING_OPERATIONS = (KEYRING_LIST, KEYRING_INSTALL, KEYRING_USE, KEYRING_REMOVE)


class KeyringRequest(Record):
    """One operation; ``Key`` is base64. ``Forwarded`` marks the per-datacenter leg (LAN
    pool only); ``LocalOnly`` keeps a list to this datacenter's LAN pool."""

    Operation: str = ""
    Key: str = ""
    Datacenter: str = ""
    Forwarded: bool = False
    RelayFactor: Int = 0
    LocalOnly: bool = False
    Token: str = ""


class KeyringResponse(Record):
    """One pool's answer, as ``/v1/operator/keyring`` shows it."""

    WAN: bool
    Datacenter: str
    Segment: str = ""
    Keys: dict[str, Int] = {}
    PrimaryKeys: dict[str, Int] = {}
    NumNodes: Int = 0
    NumResp: Int = 0
    NumErr: Int = 0
    Messages: dict[str, str] = {}


class KeyringResponses(QueryMeta):
    """Every pool's answer: the WAN pool's, then each datacenter's LAN pool's."""

    Responses: list[KeyringResponse] | None = None
