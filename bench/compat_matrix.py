"""Generate docs/compatibility.md: where Proconsul stands against Consul 1.22.

    python bench/compat_matrix.py            # rewrite docs/compatibility.md
    python bench/compat_matrix.py --check    # exit 1 if the checked-in file is stale

Nothing here is typed by hand except Consul's side (bench/compat/*.txt) and the
reasons an endpoint or command is only partly there (bench/compat/partial.txt):

- HTTP: each Consul endpoint is resolved against the agent's own route table
  (``api_router()``, as the agent builds it; no agent is started); "tested" means some test
  source under tests/ names the endpoint's path.
- CLI: each Consul command against the ``proconsul`` command registry.
- Config: every key of the agent's config schema (which accepts all of Consul's)
  against the keys the agent acts on, and the settings it refuses as unsafe.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from proconsul.agent.config import schema, support  # noqa: E402
from proconsul.agent.http.server import api_router  # noqa: E402
from proconsul.cli.main import COMMANDS  # noqa: E402
from proconsul.lib import httpserver as web  # noqa: E402

DATA = ROOT / "bench" / "compat"
OUTPUT = ROOT / "docs" / "compatibility.md"
COMMAND = "python bench/compat_matrix.py"
CONSUL_VERSION = "1.22"
SUPPORTED, PARTIAL, MISSING = "supported", "partial", "not yet"


@dataclass(frozen=True)
class Endpoint:
    section: str
    method: str
    path: str  # Consul's docs spelling, parameters as ":name"

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def sample(self) -> str:
        """A concrete path of this shape, to resolve against the router."""
        return re.sub(r":[a-z_]+", "x", self.path)

    def literal_start(self) -> str:
        """The path up to its first parameter, as a test would spell it."""
        return self.path.split(":", 1)[0]


def read_lines(name: str) -> list[str]:
    """Non-empty lines of a data file; ``#`` lines are comments except ``# section``."""
    lines = (DATA / name).read_text().splitlines()
    return [line.strip() for line in lines
            if line.strip() and (not line.startswith("#") or line.startswith("# section "))]


def consul_endpoints() -> list[Endpoint]:
    endpoints, section = [], ""
    for line in read_lines("consul_http_endpoints.txt"):
        if line.startswith("# section "):
            section = line.removeprefix("# section ")
        else:
            method, path = line.split()
            endpoints.append(Endpoint(section, method, path))
    return endpoints


def partial_notes() -> dict[str, str]:
    """``kind target`` -> what is missing, from bench/compat/partial.txt."""
    notes = {}
    for line in read_lines("partial.txt"):
        target, _, why = line.partition(" | ")
        notes[target.strip()] = why.strip()
    return notes


def routed(router: web.Router, method: str, path: str) -> str | None:
    """The route pattern serving ``method path``, or None."""
    try:
        _, _, resource = router.resolve(method, path)
    except (web.NotFound, web.MethodNotAllowed):
        return None
    return resource.canonical


def test_sources() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "tests").rglob("*.py")))


def status_of(found: bool, note: str | None) -> str:
    if not found:
        return MISSING
    return PARTIAL if note else SUPPORTED


# ---------------------------------------------------------------- the three tables

def http_rows(notes: dict[str, str]) -> tuple[list[tuple[Endpoint, str, str, str]], list[str]]:
    """(endpoint, status, tested, note) per Consul endpoint; and Proconsul-only routes."""
    router, tests = api_router(), test_sources()
    rows, used = [], set()
    for ep in consul_endpoints():
        pattern = routed(router, ep.method, ep.sample())
        if pattern is not None:
            used.add((ep.method, pattern))
        note = notes.pop(f"http {ep.key}", None)
        status = status_of(pattern is not None, note)
        tested = ("yes" if ep.literal_start() in tests else "no") if pattern else ""
        rows.append((ep, status, tested, note or ""))
    extra = sorted(f"{method} {pattern}" for method, pattern in router.routes()
                   if (method, pattern) not in used and method != "HEAD")
    return rows, extra


def cli_rows(notes: dict[str, str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    consul = read_lines("consul_cli_commands.txt")
    rows = []
    for command in consul:
        note = notes.pop(f"cli {command}", None)
        rows.append((command, status_of(command in COMMANDS, note), note or ""))
    extra = sorted(set(COMMANDS) - set(consul))
    return rows, extra


_PROBE = {schema.BOOL: True, schema.STR: "x", schema.STR_LIST: ["x"], schema.INT: 1}


def config_keys(spec: dict[str, Any] = schema.CONFIG, prefix: str = "") -> list[tuple[str, Any]]:
    """Every dotted key of the schema; repeated blocks and free maps are one key each."""
    keys = []
    for name, sub in sorted(spec.items()):
        if isinstance(sub, dict):
            keys.extend(config_keys(sub, f"{prefix}{name}."))
        else:
            keys.append((f"{prefix}{name}", sub))
    return keys


def nested(path: str, value: Any) -> dict[str, Any]:
    tree: dict[str, Any] = value
    for part in reversed(path.split(".")):
        tree = {part: tree}
    return tree


def _acted_on(path: str) -> bool:
    """The key, or a block holding it, is one the agent acts on."""
    parts = path.split(".")
    return any(".".join(parts[:i]) in support.SUPPORTED for i in range(1, len(parts) + 1))


def config_rows() -> list[tuple[str, str, str]]:
    rows = []
    for path, kind in config_keys():
        if _acted_on(path):
            rows.append((path, SUPPORTED, ""))
            continue
        probe = _PROBE.get(kind) if isinstance(kind, str) else None
        refused = probe is not None and support.unsafe(nested(path, probe))
        neutral = support.NEUTRAL.get(path)
        if refused:
            note = "start-up and reload stop with \"not supported yet\" when it is set"
        elif neutral:
            shown = " or ".join(str(v).lower() for v in neutral)
            note = f"no warning when set to {shown}: that is what Proconsul does"
        else:
            note = "a warning names it at start-up and reload"
        rows.append((path, "refused" if refused else "accepted, no effect", note))
    return rows


# ---------------------------------------------------------------- the page

def _counts(statuses: list[str], order: tuple[str, ...]) -> str:
    return ", ".join(f"{statuses.count(s)} {s}" for s in order)


def render() -> str:
    notes = partial_notes()
    http, http_extra = http_rows(notes)
    cli, cli_extra = cli_rows(notes)
    config = config_rows()
    if notes:
        raise SystemExit(f"bench/compat/partial.txt names what Consul does not have: "
                         f"{', '.join(sorted(notes))}")
    http_status = [s for _, s, _, _ in http]
    out = [
        f"# Compatibility with Consul {CONSUL_VERSION}",
        "",
        f"<!-- Generated by `{COMMAND}`; do not edit. "
        "tests/unit/test_docs_compat.py fails when this file is stale. -->",
        "",
        "Generated from the code: Consul's HTTP endpoints are resolved against the agent's",
        "route table, Consul's commands looked up in the `proconsul` command registry, and",
        "every config key checked against the keys the agent acts on. Consul's side is",
        "listed in `bench/compat/`; the only hand-kept text is what a *partial* entry",
        "lacks (`bench/compat/partial.txt`). Behaviour follows Consul's documentation",
        "wherever an entry is marked supported; [beyond-consul.md](beyond-consul.md)",
        "lists where Proconsul deliberately differs.",
        "",
        "| | supported | partial | not yet | total |",
        "|---|---:|---:|---:|---:|",
        _summary_row("HTTP endpoints", http_status),
        _summary_row("CLI commands", [s for _, s, _ in cli]),
        "",
        f"Config keys: {len(config)} accepted; "
        + _counts([s for _, s, _ in config], (SUPPORTED, "accepted, no effect", "refused"))
        + ".",
        "",
        "## HTTP API",
        "",
        "*Tested*: a test under `tests/` names the path (a text scan of the test sources).",
    ]
    section = None
    for ep, status, tested, note in http:
        if ep.section != section:
            section = ep.section
            out += ["", f"### {section}", "", "| Method | Path | Status | Tested | Missing |",
                    "|---|---|---|---|---|"]
        out.append(f"| {ep.method} | `{ep.path}` | {status} | {tested} | {note} |")
    if http_extra:
        out += ["", "### Routes beyond Consul's list", "",
                "Routes of the agent's table that none of the endpoints above resolves to.", ""]
        out += [f"- `{route}`" for route in http_extra]
    out += ["", "## CLI", "", "| Command | Status | Missing |", "|---|---|---|"]
    out += [f"| `consul {command}` | {status} | {note} |" for command, status, note in cli]
    if cli_extra:
        out += ["", "Proconsul-only commands: " + ", ".join(f"`{c}`" for c in cli_extra) + "."]
    out += ["", "## Agent configuration keys", "",
            "Every key of Consul's agent configuration is accepted, in JSON and HCL files.",
            "*supported*: the agent acts on it. *accepted, no effect*: stored, and a warning",
            "names it. *refused*: ignoring it would leave the agent less protected than",
            "asked, so a value that turns it on stops start-up. A block listed as one key",
            "(`service`, `check`, `watches`, ...) is supported or not as a whole.",
            "", "| Key | Status | Notes |", "|---|---|---|"]
    out += [f"| `{key}` | {status} | {note} |" for key, status, note in config]
    return "\n".join(out) + "\n"


def _summary_row(name: str, statuses: list[str]) -> str:
    counts = " | ".join(str(statuses.count(s)) for s in (SUPPORTED, PARTIAL, MISSING))
    return f"| {name} | {counts} | {len(statuses)} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/compatibility.md is not what the code gives")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"docs/compatibility.md is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
