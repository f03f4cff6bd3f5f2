"""What a CA configuration change does to the roots (Consul's primary root update),
as a pure function: the CA manager commits the result in one raft write
(set-roots-config) or, when the root did not change, as a plain set-config.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from proconsul.lib.connect_pki import load_cert
from proconsul.server.connect.ca.provider import Provider, ProviderError
from proconsul.server.connect.ca.roots import new_ca_root, rotate_roots
from proconsul.structs.connect import CAConsulProviderState, CARoot

__all__ = ["ERR_NO_CROSS_SIGNING", "RootUpdate", "initial_root", "primary_root_update"]

ERR_NO_CROSS_SIGNING = (
    "The current CA Provider does not support cross-signing. You can try again with "
    "ForceWithoutCrossSigningSet but this may cause disruption - see documentation for more.")


@dataclass(frozen=True)
class RootUpdate:
    """The outcome of a configuration change in the primary datacenter.

    ``roots`` is None when the active root stays the same (only the config
    changes); otherwise it is the whole new roots list to store with the config."""

    active_root: CARoot
    provider_state: CAConsulProviderState
    roots: list[CARoot] | None


def initial_root(provider: Provider, provider_name: str, cluster_id: str, serial: int,
                 now: datetime.datetime) -> tuple[CARoot, CAConsulProviderState]:
    """The first root of a primary datacenter and the provider state to store with it."""
    pem, state = provider.generate_ca_chain(serial, now)
    return new_ca_root(pem, provider_name, cluster_id), state


def primary_root_update(*, old_provider: Provider, roots: list[CARoot],
                        new_provider: Provider, provider_name: str, cluster_id: str,
                        force_without_cross_signing: bool, serials: Iterator[int],
                        now: datetime.datetime) -> RootUpdate:
    """Apply a new provider (or new key) in the primary: generate its root and, if it
    differs from the active one, cross-sign it with the old root (unless forced
    without) and rotate. ``serials`` yields the serial numbers to use (at most two)."""
    pem, state = new_provider.generate_ca_chain(next(serials), now)
    new_root = new_ca_root(pem, provider_name, cluster_id)
    active = next((r for r in roots if r.Active), None)
    if active is not None and active.ID == new_root.ID:
        return RootUpdate(active_root=new_root, provider_state=state, roots=None)
    cross_signed = ""
    if active is not None:
        can_cross_sign = old_provider.supports_cross_signing()
        if not can_cross_sign and not force_without_cross_signing:
            raise ProviderError(ERR_NO_CROSS_SIGNING)
        if can_cross_sign and not force_without_cross_signing:
            cross_signed = old_provider.cross_sign_ca(load_cert(pem), next(serials), now)
    new_roots = rotate_roots(roots, new_root, now, cross_signed)
    return RootUpdate(active_root=new_roots[-1], provider_state=state, roots=new_roots)
