"""The nemesis soak: run by hand (``python -m tests.soak.nemesis``), never collected by pytest."""
