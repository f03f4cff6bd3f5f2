"""Handlers and child commands run the way Consul runs them (``$SHELL -c`` or argv)."""

from __future__ import annotations

import os
import subprocess
from typing import Any


def spawn(args: list[str], shell: bool, env: dict[str, str], **kw: Any) -> subprocess.Popen:
    """Start ``args``: joined and run by ``$SHELL -c`` (default ``/bin/sh``), or as argv."""
    argv = [os.environ.get("SHELL") or "/bin/sh", "-c", " ".join(args)] if shell else args
    return subprocess.Popen(argv, env={**os.environ, **env}, **kw)
