"""Consul's ACL core without I/O: the rules language and the authorizers it compiles to."""
