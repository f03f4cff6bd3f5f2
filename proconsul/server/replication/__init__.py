"""Replication from the primary datacenter: a leader routine per replicated type."""
