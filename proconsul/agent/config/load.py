"""Read config sources (files, directories, inline HCL, flags) and merge them as Consul does."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from proconsul.agent.config.schema import CONFIG
from proconsul.agent.config.validate import ConfigError, Validator
from proconsul.lib import hcl

FORMATS = ("json", "hcl")




def parse_text(text: str, fmt: str, source: str) -> dict[str, Any]:
    """Parse one source's text as JSON or HCL into a plain tree; an empty file is empty."""
    if not text.strip():
        return {}
    try:
        tree = json.loads(text) if fmt == "json" else hcl.loads(text)
    except (ValueError, Exception) as err:  # pyhcl raises plain Exceptions on syntax errors
        raise ConfigError([f"Error parsing {source}: {err}"]) from None
    if not isinstance(tree, dict):
        raise ConfigError([f"Error parsing {source}: top level must be an object"])
    return tree


def source_files(paths: list[str], fmt: str = "") -> list[tuple[Path, str]]:
    """Files to read, in order: each file as given, each directory's files lexically."""
    files = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            for child in sorted(path.iterdir(), key=lambda p: p.name):
                suffix = child.suffix.lstrip(".")
                if child.is_file() and (suffix in FORMATS or fmt):
                    files.append((child, fmt or suffix))
        elif path.is_file():
            suffix = path.suffix.lstrip(".")
            chosen = fmt or suffix
            if chosen not in FORMATS:
                raise ConfigError([f"Error loading {path}: unknown format, use -config-format "
                                   "or a .json/.hcl extension"])
            files.append((path, chosen))
        else:
            raise ConfigError([f"Error loading {path}: {os.strerror(2)}"])
    return files


def check_tree(tree: dict[str, Any], source: str) -> dict[str, Any]:
    """Validate one source; raise ConfigError listing every problem in it."""
    validator = Validator(source)
    normalised = validator.block(tree, CONFIG, "", translate=False)
    if validator.problems:
        raise ConfigError(validator.problems)
    return normalised


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Later sources win for values; lists append; blocks merge key by key."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            out[key] = current + value
        else:
            out[key] = value
    return out


def load_sources(config_paths: list[str], inline_hcl: list[str], fmt: str = "",
                 defaults: dict[str, Any] | None = None,
                 overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, then files and directories, then ``-hcl`` snippets, then flags."""
    merged = check_tree(defaults or {}, "defaults")
    problems: list[str] = []
    sources: list[tuple[str, dict]] = []
    try:
        for path, file_fmt in source_files(config_paths, fmt):
            sources.append((str(path), parse_text(path.read_text(), file_fmt, str(path))))
        for i, text in enumerate(inline_hcl):
            sources.append((f"-hcl[{i}]", parse_text(text, "hcl", f"-hcl[{i}]")))
    except ConfigError as err:
        problems.extend(err.problems)
    if overrides:
        sources.append(("flags", overrides))
    for name, tree in sources:
        try:
            merged = merge(merged, check_tree(tree, name))
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return merged
