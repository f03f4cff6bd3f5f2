"""Cluster peering on the servers: the replication stream between peered clusters."""
