"""Consul's DNS interface: names in the domain answered from the catalog, others recursed."""
