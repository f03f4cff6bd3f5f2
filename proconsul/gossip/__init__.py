"""Gossip: HashiCorp memberlist and serf, wire-compatible, as sans-IO cores plus an asyncio driver.

- ``msgpack``, ``structs``: go-msgpack's dialect and Go-struct mapping.
- ``wire``, ``lzw``, ``keyring``: memberlist messages and packet/stream layering.
- ``broadcast``, ``suspicion``, ``timers``: queue, Lifeguard pieces, virtual timers.
- ``memberlist``: SWIM failure detector and membership (sans-IO).
- ``serf_wire``, ``serf``, ``snapshot``, ``vivaldi``: serf on top (sans-IO).
- ``transport``, ``driver``: sockets, real clock, event callbacks.

This package imports nothing above ``proconsul.structs``/``proconsul.lib``.
"""
