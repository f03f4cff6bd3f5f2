"""Proconsul: HashiCorp Consul, rebuilt in Python."""

__version__ = "0.1.0"

# The Consul release whose HTTP API this build is compatible with; reported as
# Config.Version by /v1/agent/self so Consul clients negotiate features.
CONSUL_COMPAT_VERSION = "1.22.0"
