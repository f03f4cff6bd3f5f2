"""Agent configuration: Consul's config files and flags, merged, validated and built."""

from proconsul.agent.config.runtime import AgentConfig, DNSConfig, SOAConfig

__all__ = ["AgentConfig", "DNSConfig", "SOAConfig"]
