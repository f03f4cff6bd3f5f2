"""A cap on the connections one client address holds open at once."""

from __future__ import annotations


class ConnLimit:
    """Open connections per client IP, at most ``limit`` each (0: no cap).

    One instance may be shared by several listeners (HTTP and HTTPS), so the
    cap is per client across them, as Consul's ``limits.http_max_conns_per_client``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def acquire(self, ip: str) -> bool:
        """Count one more connection from ``ip``; False (and nothing counted) if over the cap."""
        count = self.open.get(ip, 0)
        if self.limit and count >= self.limit:
            return False
        self.open[ip] = count + 1
        return True

    def release(self, ip: str) -> None:
        count = self.open.get(ip, 0) - 1
        if count > 0:
            self.open[ip] = count
        else:
            self.open.pop(ip, None)
