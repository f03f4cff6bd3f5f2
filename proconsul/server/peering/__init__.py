"""Cluster peering on the servers: the control plane (checking requests and tokens, the
token's TLS materials, the ExchangeSecret handshake on both sides, the leader's removal
of peerings marked for deletion) and the replication stream (:mod:`.stream`)."""
