"""Unix socket listeners (``addresses.http = "unix:///path"``) and their ``unix_sockets``
ownership and mode, as Consul sets them up."""

from __future__ import annotations

import logging
import os
import pwd
import stat
from typing import Any

from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent")

PREFIX = "unix://"


def socket_path(address: str) -> str | None:
    """The file of a ``unix:///path`` address; None for a host address."""
    return address[len(PREFIX):] if address.startswith(PREFIX) else None


def replace_stale(path: str) -> None:
    """Remove what is left at ``path`` (a socket from an earlier run), as Consul does."""
    if os.path.lexists(path):
        log.warning("Replacing socket: path=%s", path)
        try:
            os.remove(path)
        except OSError as err:
            raise ConsulError(f"error removing socket file: {err.strerror or err}") from None


def apply_permissions(path: str, settings: dict[str, Any]) -> None:
    """``unix_sockets { user, group, mode }``: user by name or ID, group by ID, octal mode."""
    user, group, mode = (str(settings.get(k) or "") for k in ("user", "group", "mode"))
    try:
        uid, gid = -1, -1
        if user:
            if user.isdigit():
                uid = int(user)
            else:
                try:
                    uid = pwd.getpwnam(user).pw_uid
                except KeyError:
                    raise ValueError(f"failed to look up user {user}") from None
        if group:
            if not group.isdigit():
                raise ValueError(f"invalid group specified: {group}")
            gid = int(group)
        if uid != -1 or gid != -1:
            try:
                os.chown(path, uid, gid)
            except OSError as err:
                raise ValueError(f"failed setting ownership to {uid}:{gid} on {path!r}: "
                                 f"{err.strerror}") from None
        if mode:
            try:
                bits = int(mode, 8)
            except ValueError:
                raise ValueError(f"invalid mode specified: {mode}") from None
            try:
                os.chmod(path, stat.S_IMODE(bits))
            except OSError as err:
                raise ValueError(f"failed setting permissions to {mode} on {path!r}: "
                                 f"{err.strerror}") from None
    except ValueError as err:
        raise ConsulError(f"Failed setting up socket: {err}") from None


def remove(path: str) -> None:
    """Remove the socket file on shutdown, if it is still ours (a socket)."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.remove(path)
    except OSError:
        pass
