"""Headless Chromium for the web UI's tests: Debian's ``/usr/bin/chromium`` driven by the
``playwright`` package's own driver (its browser downloads are never used).

Pages log JavaScript errors and failed API calls into ``BrowserPage.problems`` so a test
can assert there were none; :func:`screenshot` saves into ``tmp/artifacts/`` (gitignored).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
SIZES = {"desktop": (1280, 800), "mobile": (375, 800), "wide": (1920, 1080)}


@dataclass
class BrowserPage:
    """A page and the JavaScript errors it has seen."""

    page: Page
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 800,
             color_scheme: str = "light") -> Iterator[BrowserPage]:
    """A fresh browser profile with one page of ``width`` x ``height``."""
    profile = tempfile.mkdtemp(prefix="proconsul-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, headless=True,
                viewport={"width": width, "height": height}, color_scheme=color_scheme)
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(10_000)
                found = BrowserPage(page)
                page.on("pageerror", lambda err: found.problems.append(f"page error: {err}"))
                # the browser logs every non-2xx fetch; the app shows those itself
                page.on("console", lambda msg: found.problems.append(f"console: {msg.text}")
                        if msg.type == "error" and not msg.text.startswith(
                            "Failed to load resource") else None)
                page.on("dialog", lambda dialog: dialog.accept())
                yield found
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``tmp/artifacts/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
