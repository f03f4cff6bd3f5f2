"""The peering replication stream (Consul's peerstream StreamResources): a sans-IO
session per stream (:mod:`.session`), its payloads (:mod:`.resources`), the stream
status the leader keeps (:mod:`.status`) and how an acceptor checks an Open
(:mod:`.auth`)."""
