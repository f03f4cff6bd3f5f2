"""Connect on the servers: the CA (``ca``) and, later, intentions and config entries."""
