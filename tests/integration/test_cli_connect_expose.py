"""``proconsul connect expose``: the ingress-gateway entry and the intention it writes."""

from __future__ import annotations

from tests.support.cli_process import run_cli


def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def expose(agent, *args: str):
    return run_cli(agent, "connect", "expose", *args)


def test_creates_then_extends_then_updates_the_entry_and_one_intention(agent, unique):
    gw, web, api = f"{unique}-gw", f"{unique}-web", f"{unique}-api"
    first = expose(agent, "-ingress-gateway", gw, "-service", web, "-port", "8080",
                   "-protocol", "http", "-host", "web.example.com")
    assert first.returncode == 0, err(first)
    assert out(first) == (f'Successfully updated config entry for ingress service "{gw}"\n'
                          f'Successfully set up intention for "{gw}" -> "{web}"\n')
    entry = agent.get(f"/v1/config/ingress-gateway/{gw}").json()
    assert [(lst["Port"], lst["Protocol"], [(s["Name"], s.get("Hosts")) for s in lst["Services"]])
            for lst in entry["Listeners"]] == [(8080, "http", [(web, ["web.example.com"])])]
    ixn = agent.get(f"/v1/connect/intentions/exact?source={gw}&destination={web}").json()
    assert (ixn["Action"], ixn["SourceType"]) == ("allow", "consul")

    second = expose(agent, "-ingress-gateway", gw, "-service", api, "-port", "8080",
                    "-protocol", "http")
    assert second.returncode == 0, err(second)
    again = expose(agent, "-ingress-gateway", gw, "-service", web, "-port", "8080",
                   "-protocol", "http", "-host", "www.example.com")
    assert again.returncode == 0, err(again)
    assert out(again) == (f'Updating service definition for "{web}" on listener with port 8080\n'
                          f'Successfully updated config entry for ingress service "{gw}"\n'
                          f'Intention already exists for "{gw}" -> "{web}"\n')
    entry = agent.get(f"/v1/config/ingress-gateway/{gw}").json()
    assert [(s["Name"], s.get("Hosts")) for s in entry["Listeners"][0]["Services"]] == [
        (web, ["www.example.com"]), (api, None)]

    tcp = expose(agent, "-ingress-gateway", gw, "-service", f"{unique}-db", "-port", "9090")
    assert tcp.returncode == 0, err(tcp)
    entry = agent.get(f"/v1/config/ingress-gateway/{gw}").json()
    assert [(lst["Port"], lst["Protocol"]) for lst in entry["Listeners"]] == [
        (8080, "http"), (9090, "tcp")]


def test_a_deny_intention_is_turned_into_allow(agent, unique):
    gw, web = f"{unique}-gw", f"{unique}-web"
    assert run_cli(agent, "intention", "create", "-deny", gw, web).returncode == 0
    result = expose(agent, "-ingress-gateway", gw, "-service", web, "-port", "8080")
    assert result.returncode == 0, err(result)
    assert out(result).endswith(f'Successfully set up intention for "{gw}" -> "{web}"\n')
    ixn = agent.get(f"/v1/connect/intentions/exact?source={gw}&destination={web}").json()
    assert ixn["Action"] == "allow"


def test_conflicting_protocol_changes_nothing(agent, unique):
    gw, web = f"{unique}-gw", f"{unique}-web"
    assert expose(agent, "-ingress-gateway", gw, "-service", web, "-port", "8080").returncode == 0
    before = agent.get(f"/v1/config/ingress-gateway/{gw}").json()
    clash = expose(agent, "-ingress-gateway", gw, "-service", "other", "-port", "8080",
                   "-protocol", "http")
    assert clash.returncode == 1 and out(clash) == ""
    assert err(clash) == 'Listener on port 8080 already configured with conflicting protocol "tcp"\n'
    assert agent.get(f"/v1/config/ingress-gateway/{gw}").json() == before


def test_flag_errors(agent):
    cases = [
        ((), "A service name must be given via the -service flag.\n"),
        (("-service", "web"), "An ingress gateway service must be given via the "
                              "-ingress-gateway flag.\n"),
        (("-service", "web", "-ingress-gateway", "gw"),
         "A port must be provided via the -port flag.\n"),
        (("-service", "a/b/c/d", "-ingress-gateway", "gw", "-port", "1"),
         "Invalid service name: input can contain at most two '/'\n"),
    ]
    for args, message in cases:
        result = expose(agent, *args)
        assert (result.returncode, err(result)) == (1, message), args
