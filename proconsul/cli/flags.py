"""Go-style command-line flags: ``-name=value``, ``-name value``, ``--name``, bools."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proconsul.api.session import parse_duration


class FlagError(Exception):
    """A command line that does not parse; the message says what is wrong."""


class HelpRequested(FlagError):
    """``-h``/``-help`` was given: print the command's help and exit 0."""


@dataclass
class Flag:
    name: str
    parse: Callable[[str], Any]
    default: Any
    usage: str
    is_bool: bool = False
    repeated: bool = False


def parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


class FlagSet:
    """The flags of one command, parsed the way Go's ``flag`` package does."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._flags: dict[str, Flag] = {}
        self.given: set[str] = set()

    def string(self, name: str, default: str, usage: str) -> None:
        self._flags[name] = Flag(name, str, default, usage)

    def integer(self, name: str, default: int, usage: str) -> None:
        self._flags[name] = Flag(name, int, default, usage)

    def strings(self, name: str, usage: str) -> None:
        """A flag that may be given many times; its value is the list of them."""
        self._flags[name] = Flag(name, str, [], usage, repeated=True)

    def boolean(self, name: str, default: bool, usage: str) -> None:
        self._flags[name] = Flag(name, parse_bool, default, usage, is_bool=True)

    def duration(self, name: str, default: float, usage: str) -> None:
        """A Go duration (``1s``, ``1m30s``); the value is in seconds."""
        self._flags[name] = Flag(name, parse_duration, default, usage)

    def names(self) -> set[str]:
        return set(self._flags)

    def usage(self, names: set[str] | None = None) -> str:
        """Help lines for all flags, or only for ``names``."""
        lines = []
        for flag in sorted(self._flags.values(), key=lambda f: f.name):
            if names is not None and flag.name not in names:
                continue
            text, placeholder = flag.usage, "value"
            named = re.search(r"`([^`]*)`", text)
            if named:
                placeholder = named.group(1)
                text = text.replace(f"`{placeholder}`", placeholder, 1)
            kind = "" if flag.is_bool else f"=<{placeholder}>"
            lines.append(f"  -{flag.name}{kind}\n" + textwrap.fill(
                text, 80, initial_indent="     ", subsequent_indent="     "))
        return "\n".join(lines)

    def parse(self, args: list[str]) -> tuple[dict[str, Any], list[str]]:
        """Return (values by flag name, remaining positional arguments)."""
        values = {f.name: list(f.default) if f.repeated else f.default
                  for f in self._flags.values()}
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                i += 1
                break
            if not arg.startswith("-") or arg == "-":
                break
            name, has_value, value = arg.lstrip("-").partition("=")
            if name in ("h", "help"):
                raise HelpRequested("help requested")
            flag = self._flags.get(name)
            if flag is None:
                raise FlagError(f"flag provided but not defined: -{name}")
            if not has_value:
                if flag.is_bool:
                    value = "true"
                else:
                    i += 1
                    if i >= len(args):
                        raise FlagError(f"flag needs an argument: -{name}")
                    value = args[i]
            try:
                parsed = flag.parse(value)
            except ValueError:
                raise FlagError(f'invalid value "{value}" for flag -{name}') from None
            self.given.add(name)
            if flag.repeated:
                values[name].append(parsed)
            else:
                values[name] = parsed
            i += 1
        return values, args[i:]
