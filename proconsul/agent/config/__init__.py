"""Agent configuration: Consul's config files and flags, merged, validated and built."""

from proconsul.agent.config.runtime import AgentConfig

__all__ = ["AgentConfig"]
