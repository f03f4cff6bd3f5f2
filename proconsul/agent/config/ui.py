"""Checks of the web UI's settings (``ui_config``, ``ui_dir``) made when config is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ui_problems(tree: dict[str, Any]) -> list[str]:
    """A UI directory must hold the app's ``index.html``."""
    directory = tree.get("ui_config", {}).get("dir") or tree.get("ui_dir")
    if directory and not (Path(directory) / "index.html").is_file():
        return [f"ui_config.dir: no index.html in {directory}"]
    return []
