"""The proxy's current TLS identity: the proxied service's leaf and the CA roots.

Each change (a renewed leaf, rotated roots) builds fresh contexts; a new
connection takes whichever contexts are current when it starts, so
established connections keep the ones they were made with.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from proconsul.agent.proxy.tls import Contexts, Leaf, build_contexts

log = logging.getLogger("proxy")


class Identity:
    """Holds the leaf, the roots and the contexts built from them."""

    def __init__(self) -> None:
        self.leaf: Leaf | None = None
        self.roots: tuple[str, ...] = ()
        self.trust_domain = ""
        self.contexts: Contexts | None = None
        self._ready = asyncio.Event()

    def set_leaf(self, leaf: Leaf) -> None:
        if leaf != self.leaf:
            self.leaf = leaf
            self._rebuild(f"leaf certificate for {leaf.service} is serial {leaf.serial} "
                          f"(valid until {leaf.valid_before})")

    def set_roots(self, roots: tuple[str, ...], trust_domain: str) -> None:
        self.trust_domain = trust_domain
        if roots != self.roots:
            self.roots = roots
            self._rebuild(f"trusting {len(roots)} CA root(s) of {trust_domain}")

    def _rebuild(self, what: str) -> None:
        if self.leaf is None or not self.roots:
            return
        try:
            self.contexts = build_contexts(self.leaf, self.roots)
        except (ssl.SSLError, OSError, ValueError) as err:
            log.error("TLS material unusable, keeping the previous one: %s", err)
            return
        log.info("TLS updated: %s", what)
        self._ready.set()

    async def ready(self, timeout: float) -> Contexts | None:
        """The current contexts, waiting up to ``timeout`` s for the first ones."""
        if self.contexts is None:
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return self.contexts
