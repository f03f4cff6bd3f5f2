"""``proconsul kv`` against a real agent, compared with Consul's documented outputs."""

import json

from tests.support.cli_process import run_cli


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def test_put_get_detailed_and_delete(agent, unique):
    put = run_cli(agent, "kv", "put", "-flags=42", f"{unique}/redis/maxconns", "5")
    assert put.returncode == 0 and out(put) == f"Success! Data written to: {unique}/redis/maxconns\n"
    assert out(run_cli(agent, "kv", "get", f"/{unique}/redis/maxconns")) == "5\n"
    detailed = out(run_cli(agent, "kv", "get", "-detailed", f"{unique}/redis/maxconns"))
    lines = detailed.splitlines()
    assert [line.split()[0] for line in lines] == ["CreateIndex", "Flags", "Key", "LockIndex",
                                                   "ModifyIndex", "Session", "Value"]
    assert lines[1] == "Flags            42" and lines[5] == "Session          -"
    assert lines[6] == "Value            5"
    deleted = run_cli(agent, "kv", "delete", f"{unique}/redis/maxconns")
    assert out(deleted) == f"Success! Deleted key: {unique}/redis/maxconns\n"
    missing = run_cli(agent, "kv", "get", f"{unique}/redis/maxconns")
    assert missing.returncode == 1
    assert err(missing) == f"Error! No key exists at: {unique}/redis/maxconns\n"


def test_values_from_stdin_file_and_base64(agent, unique, tmp_path):
    source = tmp_path / "license.lic"
    source.write_bytes(b"from a file")
    assert run_cli(agent, "kv", "put", f"{unique}/f", f"@{source}").returncode == 0
    assert run_cli(agent, "kv", "put", f"{unique}/s", "-", stdin=b"abcd1234").returncode == 0
    assert run_cli(agent, "kv", "put", "-base64", f"{unique}/b", "aGk=").returncode == 0
    listing = out(run_cli(agent, "kv", "get", "-recurse", unique))
    assert listing == f"{unique}/b:hi\n{unique}/f:from a file\n{unique}/s:abcd1234\n"
    assert out(run_cli(agent, "kv", "get", "-base64", f"{unique}/b")) == "hi\n"
    assert out(run_cli(agent, "kv", "get", "-keys", "-separator=/", f"{unique}/")) == \
        f"{unique}/b\n{unique}/f\n{unique}/s\n"


def test_cas_and_lock_flags(agent, unique):
    key = f"{unique}/cas"
    run_cli(agent, "kv", "put", key, "1")
    index = json.loads(agent.get(f"/v1/kv/{key}").body)[0]["ModifyIndex"]
    stale = run_cli(agent, "kv", "put", "-cas", f"-modify-index={index + 100}", key, "2")
    assert stale.returncode == 1 and err(stale) == f"Error! Did not write to {key}: CAS failed\n"
    assert run_cli(agent, "kv", "put", "-cas", f"-modify-index={index}", key, "2").returncode == 0
    no_index = run_cli(agent, "kv", "put", "-cas", key, "3")
    assert no_index.returncode == 1 and err(no_index) == "Must specify -modify-index with -cas!\n"
    no_session = run_cli(agent, "kv", "put", "-acquire", key)
    assert err(no_session) == "Error! Missing -session (required with -acquire and -release)\n"
    session = agent.put("/v1/session/create", {}).json()["ID"]
    acquired = run_cli(agent, "kv", "put", "-acquire", f"-session={session}", key, "v")
    assert out(acquired) == f"Success! Lock acquired on: {key}\n"
    assert f"Session          {session}" in out(run_cli(agent, "kv", "get", "-detailed", key))
    released = run_cli(agent, "kv", "put", "-release", f"-session={session}", key)
    assert out(released) == f"Success! Lock released on: {key}\n"


def test_export_import_round_trip(agent, unique):
    for i in range(3):
        run_cli(agent, "kv", "put", f"-flags={i}", f"{unique}/src/k{i}", f"v{i}")
    exported = run_cli(agent, "kv", "export", f"{unique}/src")
    entries = json.loads(out(exported))
    assert entries[1] == {"key": f"{unique}/src/k1", "flags": 1, "value": "djE="}
    assert out(exported).startswith('[\n\t{\n\t\t"key": ')
    assert err(exported) == ""  # no progress bar when stderr is not a terminal
    imported = run_cli(agent, "kv", "import", "-prefix=copy/", "-", stdin=exported.stdout)
    assert out(imported).splitlines() == [f"Imported: copy/{unique}/src/k{i}" for i in range(3)]
    again = json.loads(out(run_cli(agent, "kv", "export", f"copy/{unique}/src")))
    assert [(e["flags"], e["value"]) for e in again] == [(e["flags"], e["value"])
                                                         for e in entries]
    tree = run_cli(agent, "kv", "delete", "-recurse", f"copy/{unique}")
    assert out(tree) == f"Success! Deleted keys with prefix: copy/{unique}\n"
    assert run_cli(agent, "kv", "get", "-recurse", f"copy/{unique}").stdout == b""


def test_usage_errors_and_help(agent):
    assert run_cli(agent, "kv", "get").returncode == 1
    bad_flag = run_cli(agent, "kv", "get", "-nope", "x")
    assert bad_flag.returncode == 1
    assert err(bad_flag).startswith("flag provided but not defined: -nope\n")
    helped = run_cli(agent, "kv", "put", "-h")
    assert helped.returncode == 0
    assert out(helped).startswith("Usage: proconsul kv put [options] KEY [DATA]")
    assert "-modify-index=<value>" in out(helped) and "-http-addr=<address>" in out(helped)
    too_many = run_cli(agent, "kv", "get", "a", "b")
    assert err(too_many) == "Too many arguments (expected 1, got 2)\n"
    assert run_cli(agent, "kv").returncode == 1
    delete_both = run_cli(agent, "kv", "delete", "-cas", "-modify-index=1", "-recurse", "x")
    assert err(delete_both) == "Cannot specify both -cas and -recurse!\n"
