"""``/v1/kv``: Consul's ``api.KV``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from proconsul.api.client import decode
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions


@dataclass
class KVPair:
    key: str
    value: bytes = b""
    flags: int = 0
    create_index: int = 0
    modify_index: int = 0
    lock_index: int = 0
    session: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KVPair:
        value = data.get("Value")
        return cls(key=data["Key"], value=base64.b64decode(value) if value else b"",
                   flags=data.get("Flags", 0), create_index=data.get("CreateIndex", 0),
                   modify_index=data.get("ModifyIndex", 0), lock_index=data.get("LockIndex", 0),
                   session=data.get("Session", ""))

    def to_json(self) -> dict[str, Any]:
        """The pair as Go's ``api.KVPair`` marshals it."""
        return {"Key": self.key, "CreateIndex": self.create_index,
                "ModifyIndex": self.modify_index, "LockIndex": self.lock_index,
                "Flags": self.flags,
                "Value": base64.b64encode(self.value).decode() if self.value else None,
                "Session": self.session}


class KV:
    def __init__(self, client) -> None:
        self.c = client

    def _get(self, key: str, q: QueryOptions | None,
             params: list[tuple[str, str]]) -> tuple[Any, QueryMeta]:
        reply, meta = self.c.query_raw(f"/v1/kv/{key}", q, params, ok=(200, 404))
        if reply.status == 404:
            return None, meta
        return decode(reply.body), meta

    def get(self, key: str, q: QueryOptions | None = None) -> tuple[KVPair | None, QueryMeta]:
        entries, meta = self._get(key, q, [])
        return (KVPair.from_json(entries[0]) if entries else None), meta

    def list(self, prefix: str, q: QueryOptions | None = None) -> tuple[list[KVPair], QueryMeta]:
        entries, meta = self._get(prefix.lstrip("/"), q, [("recurse", "")])
        return [KVPair.from_json(e) for e in entries or []], meta

    def keys(self, prefix: str, separator: str = "",
             q: QueryOptions | None = None) -> tuple[list[str], QueryMeta]:
        params = [("keys", "")] + ([("separator", separator)] if separator else [])
        keys, meta = self._get(prefix.lstrip("/"), q, params)
        return keys or [], meta

    def _put(self, pair: KVPair, params: list[tuple[str, str]],
             w: WriteOptions | None) -> tuple[bool, WriteMeta]:
        if pair.key.startswith("/"):
            raise ValueError(f"Invalid key. Key must not begin with a '/': {pair.key}")
        if pair.flags:
            params = [("flags", str(pair.flags)), *params]
        result, meta = self.c.write("PUT", f"/v1/kv/{pair.key}", w=w, params=params,
                                    raw_body=pair.value)
        return result is True, meta

    def put(self, pair: KVPair, w: WriteOptions | None = None) -> WriteMeta:
        return self._put(pair, [], w)[1]

    def cas(self, pair: KVPair, w: WriteOptions | None = None) -> tuple[bool, WriteMeta]:
        return self._put(pair, [("cas", str(pair.modify_index))], w)

    def acquire(self, pair: KVPair, w: WriteOptions | None = None) -> tuple[bool, WriteMeta]:
        return self._put(pair, [("acquire", pair.session)], w)

    def release(self, pair: KVPair, w: WriteOptions | None = None) -> tuple[bool, WriteMeta]:
        return self._put(pair, [("release", pair.session)], w)

    def _delete(self, key: str, params: list[tuple[str, str]],
                w: WriteOptions | None) -> tuple[bool, WriteMeta]:
        result, meta = self.c.write("DELETE", f"/v1/kv/{key}", w=w, params=params)
        return result is True, meta

    def delete(self, key: str, w: WriteOptions | None = None) -> WriteMeta:
        return self._delete(key, [], w)[1]

    def delete_cas(self, pair: KVPair, w: WriteOptions | None = None) -> tuple[bool, WriteMeta]:
        return self._delete(pair.key, [("cas", str(pair.modify_index))], w)

    def delete_tree(self, prefix: str, w: WriteOptions | None = None) -> WriteMeta:
        return self._delete(prefix, [("recurse", "")], w)[1]

