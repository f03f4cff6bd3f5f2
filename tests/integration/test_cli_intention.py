"""``proconsul intention`` against a real agent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli_process import run_cli


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def test_create_get_list_check_match_delete(agent, unique: str, tmp_path: Path):
    web, db = f"{unique}-web", f"{unique}-db"
    created = run_cli(agent, "intention", "create", "-meta", "old=1", web, db)
    assert (created.returncode, out(created)) == (0, f"Created: {web} => {db} (allow)\n")
    duplicate = run_cli(agent, "intention", "create", "-deny", web, db)
    assert duplicate.returncode == 1
    assert err(duplicate).startswith(f'Error creating intention "{web} => {db} (deny)": ')
    # -replace keeps nothing of the old intention (its Meta goes), as Consul documents
    replaced = run_cli(agent, "intention", "create", "-deny", "-replace", "-meta", "owner=me",
                       web, db)
    assert replaced.returncode == 0, err(replaced)

    got = out(run_cli(agent, "intention", "get", web, db)).splitlines()
    assert got[0].split() == ["Source:", web] and got[1].split() == ["Destination:", db]
    assert got[2].split() == ["Action:", "deny"]
    ixn_id = got[3].split()[1]
    assert got[4].split() == ["Meta[owner]:", "me"] and got[5].startswith("Created At:")
    assert out(run_cli(agent, "intention", "get", ixn_id)).splitlines() == got

    listed = out(run_cli(agent, "intention", "list")).splitlines()
    assert listed[0].split() == ["ID", "Source", "Action", "Destination", "Precedence"]
    assert [ixn_id, web, "deny", db, "9"] in [line.split() for line in listed[1:]]

    denied = run_cli(agent, "intention", "check", web, db)
    assert (denied.returncode, out(denied)) == (2, "Denied\n")
    allowed = run_cli(agent, "intention", "check", "someone", db)
    assert (allowed.returncode, out(allowed)) == (0, "Allowed\n")
    matched = run_cli(agent, "intention", "match", "-source", web)
    assert f"{web} => {db} (deny)" in out(matched).splitlines()

    file = tmp_path / "ixn.json"
    file.write_text(json.dumps({"SourceName": "*", "DestinationName": db, "Action": "allow",
                                "SourceType": "consul"}))
    assert out(run_cli(agent, "intention", "create", "-file", str(file))) == \
        f"Created: * => {db} (allow)\n"
    assert out(run_cli(agent, "intention", "match", db)).splitlines() == [
        f"{web} => {db} (deny)", f"* => {db} (allow)"]

    assert out(run_cli(agent, "intention", "delete", ixn_id)) == "Intention deleted.\n"
    assert out(run_cli(agent, "intention", "delete", "*", db)) == "Intention deleted.\n"
    missing = run_cli(agent, "intention", "get", web, db)
    assert (missing.returncode, err(missing)) == (
        1, f'Intention not found with source "{web}" and destination "{db}"\n')
    assert err(run_cli(agent, "intention", "create", "a")) == \
        "Error: Must specify two arguments: source and destination\n"
