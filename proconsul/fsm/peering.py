"""Applying the peering raft commands (Consul's types 35-40) to the state store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proconsul.state.store import Store
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    PeeringDeleteRequest,
    PeeringSecretsWriteRequest,
    PeeringTerminateByIDRequest,
    PeeringTrustBundleDeleteRequest,
    PeeringTrustBundleWriteRequest,
    PeeringWriteRequest,
)

Handler = Callable[[int, Any], Any]


def peering_handlers(store: Store) -> dict[MessageType, Handler]:
    """The FSM handlers of the peering message types, bound to ``store``; a refused
    write raises the state store's error, which the FSM hands back to the proposer."""

    def write(index: int, req: PeeringWriteRequest) -> None:
        with store.write(index) as tx:
            store.peering_write(tx, req.Peering, req.SecretsRequest)

    def delete(index: int, req: PeeringDeleteRequest) -> None:
        with store.write(index) as tx:
            store.peering_delete(tx, req.Name, req.Partition)

    def terminate(index: int, req: PeeringTerminateByIDRequest) -> None:
        with store.write(index) as tx:
            store.peering_terminate_by_id(tx, req.ID)

    def bundle_write(index: int, req: PeeringTrustBundleWriteRequest) -> None:
        with store.write(index) as tx:
            store.peering_trust_bundle_write(tx, req.PeeringTrustBundle)

    def bundle_delete(index: int, req: PeeringTrustBundleDeleteRequest) -> None:
        with store.write(index) as tx:
            store.peering_trust_bundle_delete(tx, req.Name, req.Partition)

    def secrets_write(index: int, req: PeeringSecretsWriteRequest) -> None:
        with store.write(index) as tx:
            store.peering_secrets_write(tx, req.SecretsRequest)

    return {
        MessageType.PEERING_WRITE: write,
        MessageType.PEERING_DELETE: delete,
        MessageType.PEERING_TERMINATE_BY_ID: terminate,
        MessageType.PEERING_TRUST_BUNDLE_WRITE: bundle_write,
        MessageType.PEERING_TRUST_BUNDLE_DELETE: bundle_delete,
        MessageType.PEERING_SECRETS_WRITE: secrets_write,
    }
