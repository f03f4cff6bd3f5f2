"""Connect on the agents: leaf certificate requests and their refresh schedule."""
