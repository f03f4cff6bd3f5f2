"""``proconsul acl ...``, ``login`` and ``logout``: Consul's ACL commands."""
