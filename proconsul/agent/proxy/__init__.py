"""The built-in Connect proxy (``proconsul connect proxy``): mTLS public listener,
upstream listeners, configured and kept current through the local agent's HTTP API."""
