"""What peering requests and tokens must satisfy, with Consul's texts."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.lib.pki import new_ca
from proconsul.server.peering.validate import check_meta, check_peer_name, check_token
from proconsul.structs.errors import BadRequest
from proconsul.structs.peering import PeeringToken

GOOD = PeeringToken(ServerAddresses=["10.0.0.1:8503"], ServerName="server.dc1.peering.t",
                    PeerID="id")


@pytest.mark.parametrize("name", ["dc2", "A-1", "x" * 63, "9"])
def test_dns_labels_are_peer_names(name):
    check_peer_name(name)


@pytest.mark.parametrize("name", ["", "-dc", "dc-", "dc_2", "dc.2", "x" * 64])
def test_other_names_are_refused(name):
    with pytest.raises(BadRequest, match=f"^{name} is not a valid peer name: a valid DNS label"):
        check_peer_name(name)


@pytest.mark.parametrize("meta, why", [
    ({"": "v"}, "('', 'v'): Key cannot be blank"),
    ({"a b": "v"}, "('a b', 'v'): Key contains invalid characters"),
    ({"consul-x": "v"}, "Key prefix 'consul-' is reserved for internal use"),
    ({"k": "v" * 513}, "Value is too long (limit: 512 characters)"),
    ({f"k{i}": "v" for i in range(65)}, "cannot contain more than 64 key/value pairs"),
])
def test_meta_is_checked_as_consul_does(meta, why):
    check_meta({"ok": "fine"})
    with pytest.raises(BadRequest, match="^meta tags failed validation: ") as err:
        check_meta(meta)
    assert why in str(err.value)


def test_a_complete_token_passes_and_its_ca_must_parse():
    check_token(GOOD)
    check_token(PeeringToken(CA=[new_ca("t", 1).cert_pem.decode()], ServerAddresses=[
        "[::1]:8503"], ServerName="s", PeerID="p"))
    with pytest.raises(BadRequest, match="^peering token CA value is invalid$"):
        check_token(PeeringToken(CA=["junk"], ServerAddresses=["a:1"], ServerName="s",
                                 PeerID="p"))


@pytest.mark.parametrize("change, message", [
    ({"ServerAddresses": None}, "peering token server addresses value is empty"),
    ({"ServerAddresses": ["10.0.0.1"]}, "10.0.0.1 is not a valid peering server address"),
    ({"ServerAddresses": ["h:0"]}, "h:0 is not a valid peering server address"),
    ({"ServerAddresses": [":8503"]}, ":8503 is not a valid peering server address"),
    ({"ServerName": ""}, "peering token server name value is empty"),
    ({"PeerID": ""}, "peering token peer ID value is empty"),
])
def test_incomplete_tokens_are_refused(change, message):
    with pytest.raises(BadRequest, match=f"^{message}$"):
        check_token(msgspec.structs.replace(GOOD, **change))
