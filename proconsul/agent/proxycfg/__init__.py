"""proxycfg: per-proxy configuration snapshots built from shared watches on the agent cache."""
