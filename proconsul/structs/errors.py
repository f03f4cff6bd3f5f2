"""Errors that cross layers, each with the HTTP status Consul gives it."""

from __future__ import annotations


class ConsulError(Exception):
    """An error whose message is shown to the client verbatim, as one line."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ConsulError):
    """The request itself is wrong (400)."""

    status = 400


class Unauthorized(ConsulError):
    """ACL endpoints while ACLs are disabled (401)."""

    status = 401


class NotFound(ConsulError):
    """The named object does not exist (404)."""

    status = 404


class TooLarge(ConsulError):
    """The request body or value is over a limit (413)."""

    status = 413


ERR_NO_PATH_TO_DC = "No path to datacenter"
ERR_NO_LEADER = "No cluster leader"
ERR_ACL_DISABLED = "ACL support disabled"
ERR_CONFLICTING_CONSISTENCY = "Cannot specify ?stale with ?consistent, conflicting semantics."
ERR_SERVER_LEAVING = "Server is leaving the cluster"
ERR_NO_SERVERS = "No known Consul servers"
