"""The agent's ACL side: its token slots and token resolution for its own requests."""
