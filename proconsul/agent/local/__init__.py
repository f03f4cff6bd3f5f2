"""The agent's own services and checks, and anti-entropy that keeps the catalog in step."""
