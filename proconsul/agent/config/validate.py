"""Check a parsed config tree against the schema; normalise it on the way.

Errors name the source and the dotted key. Inside service and check
definitions keys are matched the way Consul decodes them: case-insensitively
and with or without underscores (``EnableTagOverride`` = ``enable_tag_override``).
"""

from __future__ import annotations

from typing import Any

from proconsul.agent.config.schema import (
    ANY,
    BOOL,
    CHECK,
    CHECK_ALIASES,
    DURATION,
    FLOAT,
    INT,
    SERVICE,
    SERVICE_ALIASES,
    STR,
    STR_LIST,
    STR_MAP,
    Blocks,
    MapOf,
)
from proconsul.lib.duration import DurationError, parse_duration


class ConfigError(ValueError):
    """One or more problems in the configuration, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _fold(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


class Validator:
    """Walks one source's tree; collects every problem instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}" if path
                             else f"{self.source}: {message}")

    def block(self, value: Any, spec: dict[str, Any], path: str, translate: bool) -> dict:
        if not isinstance(value, dict):
            self.problem(path, f"expected a block, got {_kind(value)}")
            return {}
        translate = translate or spec is SERVICE or spec is CHECK
        folded = {_fold(k): k for k in spec} if translate else None
        aliases = {**SERVICE_ALIASES} if spec is SERVICE else \
            {**CHECK_ALIASES} if spec is CHECK else {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key
            if key not in spec and folded is not None:
                name = aliases.get(_fold(key)) or aliases.get(key.lower()) or \
                    folded.get(_fold(key), key)
            where = f"{path}.{name}" if path else name
            if name not in spec:
                self.problem("", f'invalid config key "{where}"')
                continue
            if item is None:  # JSON null: absent, as Go decodes it into a nil pointer/slice
                continue
            out[name] = self.value(item, spec[name], where, translate)
        return out

    def value(self, value: Any, spec: Any, path: str, translate: bool = False) -> Any:
        if isinstance(spec, dict):
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                merged: dict = {}
                for part in value:  # a repeated block (``ports {} ports {}``) merges
                    merged.update(part)
                value = merged
            return self.block(value, spec, path, translate)
        if isinstance(spec, Blocks):
            items = value if isinstance(value, list) else [value]
            return [self.block(item, spec.spec, f"{path}[{i}]", translate)
                    for i, item in enumerate(items)]
        if isinstance(spec, MapOf):
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                merged: dict = {}
                for part in value:
                    merged.update(part)
                value = merged
            if not isinstance(value, dict):
                self.problem(path, f"expected a block, got {_kind(value)}")
                return {}
            return {k: self.value(v, spec.spec, f"{path}.{k}", translate)
                    for k, v in value.items()}
        return self.leaf(value, spec, path)

    def leaf(self, value: Any, spec: str, path: str) -> Any:
        ok = True
        if spec == ANY:
            return value
        if spec == STR:
            ok = isinstance(value, str)
        elif spec == BOOL:
            if isinstance(value, str) and value in ("true", "false"):
                value = value == "true"
            ok = isinstance(value, bool)
        elif spec == INT:
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif spec == FLOAT:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif spec == DURATION:
            if isinstance(value, str):
                try:
                    parse_duration(value)
                except DurationError as err:
                    self.problem(path, str(err))
                    return None
            else:
                ok = False
        elif spec == STR_LIST:
            if isinstance(value, str):
                value = [value]
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif spec == STR_MAP:
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                value = {k: v for part in value for k, v in part.items()}
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        if not ok:
            self.problem(path, f"expected {spec}, got {_kind(value)}")
            return None
        return value


def _kind(value: Any) -> str:
    return {dict: "a block", list: "a list", str: "a string", bool: "a bool",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
