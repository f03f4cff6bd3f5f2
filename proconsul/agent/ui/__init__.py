"""The web UI's files: shipped as package data (``assets/``) or read from ``ui_config.dir``.

Files are read once at start-up. Everything but ``index.html`` is served under a
versioned prefix, ``assets/<hash of every file>/``, so it may be cached for a
year; ``index.html`` (served for the app's own URLs too, so bookmarks work)
names that prefix and is never cached.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from importlib import resources
from pathlib import Path

INDEX = "index.html"
ASSET_PREFIX = "assets/"
LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
         ".json": "application/json", ".txt": "text/plain; charset=utf-8",
         ".png": "image/png", ".ico": "image/x-icon"}


def packaged_dir() -> Path:
    """Where the shipped assets are installed."""
    return Path(str(resources.files(__package__) / "assets"))


def normalize_content_path(path: str) -> str:
    """``ui`` -> ``/ui/``: Consul's content_path always starts and ends with a slash."""
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


class UIAssets:
    """The UI's files in memory, with what each is served as."""

    def __init__(self, root: Path, content_path: str = "/ui/", settings: dict | None = None):
        self.content_path = normalize_content_path(content_path)
        files: dict[str, bytes] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
        if INDEX not in files:
            raise FileNotFoundError(f"no {INDEX} in {root}")
        digest = hashlib.sha256()
        for name, data in files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        self.version = digest.hexdigest()[:16]
        self.asset_base = f"{self.content_path}{ASSET_PREFIX}{self.version}/"
        config = dict(settings or {}, ContentPath=self.content_path, AssetBase=self.asset_base)
        self.index = (files.pop(INDEX).decode()
                      .replace("{{ASSET_BASE}}", self.asset_base)
                      .replace("{{CONTENT_PATH}}", self.content_path)
                      .replace("{{UI_CONFIG}}", json.dumps(config).replace("<", "\\u003c"))
                      .encode())
        self.files = files

    def lookup(self, rest: str) -> tuple[bytes, str, str] | None:
        """(body, content type, cache control) for the path under content_path; the app's
        index for any path that is not an asset (the app routes it); None for a missing
        asset."""
        if not rest.startswith(ASSET_PREFIX):
            return self.index, TYPES[".html"], NO_CACHE
        version, _, name = rest[len(ASSET_PREFIX):].partition("/")
        data = self.files.get(name)
        if data is None:
            return None
        cache = LONG_CACHE if version == self.version else NO_CACHE
        suffix = Path(name).suffix
        content_type = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or \
            "application/octet-stream"
        return data, content_type, cache


def enabled(tree: dict, dev: bool) -> bool:
    """Whether a config tree turns the UI on (``ui_config.enabled``, the old ``ui``, a UI
    directory; on by default with ``-dev``)."""
    ui = tree.get("ui_config", {})
    return bool(ui.get("enabled", tree.get("ui", dev)) or ui.get("dir") or tree.get("ui_dir"))


def load(tree: dict, dev: bool, datacenter: str) -> UIAssets | None:
    """The UI to serve for a config tree (``ui_config``, the old ``ui``/``ui_dir``/
    ``ui_content_path`` keys, on by default with ``-dev``), or None when it is off."""
    if not enabled(tree, dev):
        return None
    ui = tree.get("ui_config", {})
    directory = ui.get("dir") or tree.get("ui_dir") or ""
    content_path = ui.get("content_path") or tree.get("ui_content_path") or "/ui/"
    root = Path(directory) if directory else packaged_dir()
    return UIAssets(root, content_path, {"Datacenter": datacenter})
