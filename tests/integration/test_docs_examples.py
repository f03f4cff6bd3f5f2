"""Every shell example in docs/ and README.md marked as tested runs against a real dev agent.

A page's tested blocks run in order in one shell working directory, against one
``proconsul agent -dev`` started for the page (conventions: docs/README.md). The
examples say ``127.0.0.1:8500`` and ``-p 8600``; the agent here listens on a
loopback address and ports of its own, so those are rewritten in the block and its
expected output, and ``CONSUL_HTTP_ADDR`` points the ``proconsul`` CLI at it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.agent_process import AgentProcess, start_agent

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TEST_MARK = "<!-- test -->"
OUTPUT_MARK = "<!-- output -->"
CONFIG_MARK = "<!-- agent-config -->"
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Example:
    """One tested shell block: where it opens, what it runs, what its output must hold."""

    page: str
    line: int
    script: str
    expected: list[str] = field(default_factory=list)


def _fenced(lines: list[str], start: int, page: str) -> tuple[str, str, int]:
    """(language, body, index after the closing fence) of the block opening at ``start``."""
    opening = _FENCE.match(lines[start]) if start < len(lines) else None
    if opening is None:
        raise ValueError(f"{page}:{start + 1}: a marker must be followed by a fenced block")
    for end in range(start + 1, len(lines)):
        if lines[end].rstrip() == "```":
            return opening[1], "\n".join(lines[start + 1:end]), end + 1
    raise ValueError(f"{page}:{start + 1}: fenced block never closed")


def examples(text: str, page: str) -> list[Example]:
    """The tested blocks of a Markdown page, each with the output block marked after it."""
    lines = text.splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        mark = lines[i].strip()
        if mark == TEST_MARK:
            start = i + 1
            language, body, i = _fenced(lines, start, page)
            if language not in ("sh", "shell", "bash"):
                raise ValueError(f"{page}:{start + 1}: {TEST_MARK} marks a ```{language} "
                                 "block, not a shell one")
            found.append(Example(page, start + 1, body))
        elif mark == OUTPUT_MARK:
            if not found:
                raise ValueError(f"{page}:{i + 1}: {OUTPUT_MARK} before any tested block")
            _, body, i = _fenced(lines, i + 1, page)
            found[-1].expected += [ln.strip() for ln in body.splitlines()
                                   if ln.strip() and ln.strip() != "..."]
        else:
            i += 1
    return found


def agent_config(text: str, page: str) -> tuple[str, str] | None:
    """(file extension, contents) of the page's config block for its dev agent, if any:
    the ``json`` or ``hcl`` block right after the page's one ``CONFIG_MARK`` line."""
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines) if line.strip() == CONFIG_MARK]
    if not marks:
        return None
    if len(marks) > 1:
        raise ValueError(f"{page}:{marks[1] + 1}: a page has one {CONFIG_MARK} at most")
    language, body, _ = _fenced(lines, marks[0] + 1, page)
    if language not in ("json", "hcl"):
        raise ValueError(f"{page}:{marks[0] + 2}: {CONFIG_MARK} marks a ```{language} "
                         "block, not a json or hcl one")
    return language, body


_DEFAULTS = re.compile(r"127\.0\.0\.1:8500|-p 8600\b|\b127\.0\.0\.1\b(?!\.)")


def localize(text: str, agent: AgentProcess) -> str:
    """The documented default addresses, turned into this agent's (in one pass, so an
    address put in is never rewritten again)."""
    replace = {"127.0.0.1:8500": f"{agent.host}:{agent.port}",
               "-p 8600": f"-p {agent.dns_port}", "127.0.0.1": agent.host}
    return _DEFAULTS.sub(lambda m: replace[m[0]], text)


def _words(line: str) -> str:
    return " ".join(line.split())


def missing_lines(expected: list[str], output: str) -> list[str]:
    """Expected lines not found, in order, among the output's lines; runs of blanks
    compare equal (table columns are as wide as their contents)."""
    got = [_words(ln) for ln in output.splitlines()]
    missing, pos = [], 0
    for want in expected:
        try:
            pos = got.index(_words(want), pos) + 1
        except ValueError:
            missing.append(want)
    return missing


def run_examples(found: list[Example], agent: AgentProcess, workdir: Path) -> None:
    """Run each example; fail naming the page, the line and what went wrong."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    env["CONSUL_HTTP_ADDR"] = f"{agent.host}:{agent.port}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for example in found:
        script = localize(example.script, agent)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=60)
        where = f"{example.page}:{example.line}"
        if done.returncode != 0:
            pytest.fail(f"{where}: example exited {done.returncode}\n--- script\n{script}\n"
                        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}")
        missing = missing_lines([localize(e, agent) for e in example.expected], done.stdout)
        if missing:
            pytest.fail(f"{where}: output lacks {missing}\n--- script\n{script}\n"
                        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}")


def _pages() -> list[Path]:
    """docs/ and the repository's README, the pages a newcomer reads first."""
    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    return [p for p in pages if TEST_MARK in p.read_text()]


def _need_tools() -> None:
    for tool in ("curl", "dig"):
        if shutil.which(tool) is None:
            pytest.fail(f"the docs examples need `{tool}` on PATH (Debian: apt-get install "
                        "curl dnsutils; .ci/run installs them)")


@pytest.fixture
def dev_agent():
    _need_tools()
    agent = start_agent()
    yield agent
    agent.stop()


def test_default_addresses_become_the_agents() -> None:
    agent = AgentProcess("127.0.0.112", 20001, None, dns_port=20002)
    text = "curl 127.0.0.1:8500/v1 && dig @127.0.0.1 -p 8600 x; echo 127.0.0.10 -p 86000"
    assert localize(text, agent) == ("curl 127.0.0.112:20001/v1 && dig @127.0.0.112 -p 20002 x; "
                                     "echo 127.0.0.10 -p 86000")


def test_getting_started_is_tested() -> None:
    """The walk-through a new user follows is the page whose examples must run."""
    found = examples((DOCS / "getting-started.md").read_text(), "getting-started.md")
    assert len(found) >= 5
    assert any(e.expected for e in found)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_examples_run(page: Path, tmp_path: Path) -> None:
    _need_tools()
    text = page.read_text()
    name = str(page.relative_to(ROOT))
    found, config = examples(text, name), agent_config(text, name)
    extra: list[str] = []
    if config is not None:
        config_file = tmp_path / f"agent-config.{config[0]}"
        config_file.write_text(config[1])
        extra = ["-config-file", str(config_file)]
    workdir = tmp_path / "work"
    workdir.mkdir()
    agent = start_agent(*extra)
    try:
        run_examples(found, agent, workdir)
    finally:
        agent.stop()


def test_a_page_config_block_configures_its_agent() -> None:
    text = f"intro\n{CONFIG_MARK}\n```hcl\nacl {{ enabled = true }}\n```\n"
    assert agent_config(text, "p.md") == ("hcl", "acl { enabled = true }")
    assert agent_config("no config", "p.md") is None
    with pytest.raises(ValueError, match="p.md:2: .* not a json or hcl one"):
        agent_config(f"{CONFIG_MARK}\n```sh\ntrue\n```\n", "p.md")


BROKEN = f"""
{TEST_MARK}
```sh
proconsul kv put docs/greeting hello
```
{OUTPUT_MARK}
```text
Success! Data written to: docs/greeting
```

{TEST_MARK}
```sh
proconsul kv get docs/greeting
```
{OUTPUT_MARK}
```text
goodbye
```
"""


def test_a_broken_example_fails(dev_agent: AgentProcess, tmp_path: Path) -> None:
    found = examples(BROKEN, "broken.md")
    assert [e.line for e in found] == [3, 12]
    with pytest.raises(pytest.fail.Exception, match=r"broken.md:12: output lacks \['goodbye'\]"):
        run_examples(found, dev_agent, tmp_path)
    found = examples(f"{TEST_MARK}\n```sh\nproconsul kv get docs/absent\n```\n", "absent.md")
    with pytest.raises(pytest.fail.Exception, match="absent.md:2: example exited 1"):
        run_examples(found, dev_agent, tmp_path)


def _proconsul(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proconsul", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def config_blocks(text: str) -> list[str]:
    """The ``hcl`` blocks of a page."""
    return [m[1] for m in re.finditer(r"^```hcl\n(.*?)^```$", text, re.S | re.M)]


def test_deploy_config_files_validate(tmp_path: Path) -> None:
    """deploy.md's server and client files, and each fragment beside the server's,
    pass ``proconsul validate`` once its placeholders are real (key, TLS files)."""
    tls = tmp_path / "tls"
    tls.mkdir()
    for args in (["tls", "ca", "create"], ["tls", "cert", "create", "-server"],
                 ["tls", "cert", "create", "-client"]):
        assert _proconsul(*args, cwd=tls).returncode == 0
    key = _proconsul("keygen", cwd=tmp_path).stdout.strip()
    blocks = config_blocks((DOCS / "deploy.md").read_text())
    agents = [b for b in blocks if "data_dir" in b]
    assert len(agents) == 2, "deploy.md shows a server and a client file"

    def real(block: str) -> str:
        text = re.sub(r'"<the (key from proconsul keygen|same key)>"', f'"{key}"', block)
        return (text.replace("/etc/proconsul.d/tls/", f"{tls}/")
                .replace("/opt/proconsul-data", str(tmp_path / "data")))

    for n, block in enumerate(blocks):
        folder = tmp_path / f"config-{n}"
        folder.mkdir()
        (folder / "block.hcl").write_text(real(block))
        if block not in agents:  # a fragment goes beside the server's file
            (folder / "proconsul.hcl").write_text(real(agents[0]))
        done = _proconsul("validate", str(folder), cwd=tmp_path)
        assert done.returncode == 0 and "Configuration is valid!" in done.stdout, (
            f"deploy.md hcl block {n + 1}:\n{block}\n--- stdout\n{done.stdout}"
            f"--- stderr\n{done.stderr}")


def test_wan_federation_config_files_validate(tmp_path: Path) -> None:
    """wan-federation.md's primary and secondary files (and dc3's, made from dc2's as
    the page says) pass ``proconsul validate`` with the certificates the page makes."""
    for args in (["tls", "ca", "create"],
                 *(["tls", "cert", "create", "-server", "-dc", dc, "-node", f"{dc}-s1"]
                   for dc in ("dc1", "dc2", "dc3"))):
        assert _proconsul(*args, cwd=tmp_path).returncode == 0
    blocks = config_blocks((DOCS / "wan-federation.md").read_text())
    assert len(blocks) == 2, "wan-federation.md shows the primary's and a secondary's file"
    assert "primary_gateways" not in blocks[0] and "primary_gateways" in blocks[1]
    dc3 = blocks[1].replace("dc2", "dc3").replace("127.0.2.", "127.0.3.")
    for n, block in enumerate([*blocks, dc3]):
        assert "enable_mesh_gateway_wan_federation = true" in block
        config = tmp_path / f"server-{n}.hcl"
        config.write_text(block.replace("/etc/proconsul.d/tls/", f"{tmp_path}/")
                          .replace("/opt/proconsul-data", str(tmp_path / f"data-{n}")))
        done = _proconsul("validate", str(config), cwd=tmp_path)
        assert done.returncode == 0 and "Configuration is valid!" in done.stdout, (
            f"wan-federation.md config {n + 1}:\n{block}\n--- stdout\n{done.stdout}"
            f"--- stderr\n{done.stderr}")
