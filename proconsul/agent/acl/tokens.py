"""The agent's token slots (default, agent, agent_recovery, ...) and their persistence.

Slots start from ``acl.tokens``; ``PUT /v1/agent/token/<slot>`` changes them and,
with ``acl.enable_token_persistence``, writes ``<data_dir>/acl-tokens.json``,
whose values win over the config at the next start (as Consul's token store).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from proconsul.agent.config.runtime import ACLTokens

log = logging.getLogger(__name__)

PERSISTED_FILE = "acl-tokens.json"

# URL slot name (current and deprecated) -> slot
SLOT_NAMES = {
    "default": "default", "acl_token": "default",
    "agent": "agent", "acl_agent_token": "agent",
    "agent_recovery": "agent_recovery", "agent_master": "agent_recovery",
    "acl_agent_master_token": "agent_recovery",
    "replication": "replication", "acl_replication_token": "replication",
    "config_file_service_registration": "config_file_service_registration",
    "dns": "dns", "dns_token": "dns",
}
PERSISTED_SLOTS = ("default", "agent", "agent_recovery", "replication",
                   "config_file_service_registration", "dns")


class TokenStore:
    """Current token of each slot; ``agent`` falls back to ``default`` as in Consul."""

    def __init__(self, configured: ACLTokens, data_dir: str = "", persist: bool = False) -> None:
        self._slots = {slot: getattr(configured, slot) for slot in PERSISTED_SLOTS}
        self.slots: Mapping[str, str] = self._slots  # the live slots, to read without a call
        self._from_api: set[str] = set()
        self._path = Path(data_dir, PERSISTED_FILE) if data_dir and persist else None
        if self._path is not None:
            self._load()

    def get(self, slot: str) -> str:
        return self._slots.get(slot, "")

    @property
    def default(self) -> str:
        return self._slots["default"]

    @property
    def agent(self) -> str:
        return self._slots["agent"] or self._slots["default"]

    def is_agent_recovery(self, secret: str) -> bool:
        recovery = self._slots["agent_recovery"]
        return bool(recovery) and secret == recovery

    def set(self, slot: str, secret: str) -> None:
        """Set ``slot`` and persist the slots if persistence is on (OSError if it fails)."""
        self._slots[slot] = secret
        self._from_api.add(slot)
        if self._path is not None:
            data = {name: value for name, value in self._slots.items() if value}
            tmp = self._path.with_suffix(".tmp")
            with open(tmp, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)

    def reload(self, configured: ACLTokens) -> None:
        """Take the config's tokens, except in slots set through the API (as Consul)."""
        for slot in PERSISTED_SLOTS:
            if slot not in self._from_api:
                self._slots[slot] = getattr(configured, slot)

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            log.error("acl: failed to load persisted tokens from %s: %s", self._path, err)
            return
        for slot in PERSISTED_SLOTS:
            value = data.get(slot) if isinstance(data, dict) else None
            if isinstance(value, str) and value:
                if self._slots[slot]:
                    log.warning("acl: %s token from %s overrides the one in the config",
                                slot, PERSISTED_FILE)
                self._slots[slot] = value
                self._from_api.add(slot)
