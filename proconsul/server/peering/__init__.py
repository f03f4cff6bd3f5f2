"""Cluster peering's control plane on the servers: checking requests and tokens, the
token's TLS materials, the ExchangeSecret handshake (both sides) and the leader's
removal of peerings marked for deletion."""
