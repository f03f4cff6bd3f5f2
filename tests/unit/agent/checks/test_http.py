"""HTTP checks against a real aiohttp server on 127.0.0.1 (plain and TLS)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from proconsul.agent.checks import CheckDefinition, make_runner

from .conftest import SERVER_NAME, free_port


def make_app(release: asyncio.Event) -> web.Application:
    async def ok(request):
        return web.Response(text="ok body")

    async def warn(request):
        return web.Response(status=429, text="slow down")

    async def fail(request):
        return web.Response(status=500, text="broken")

    async def redirect(request):
        raise web.HTTPFound("/ok")

    async def echo(request):
        body = await request.text()
        headers = {name: request.headers.getall(name) for name in request.headers}
        return web.json_response({"method": request.method, "headers": headers, "body": body})

    async def big(request):
        return web.Response(text="a" * 5000 + "b" * 100)

    async def slow(request):
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_get("/warn", warn)
    app.router.add_get("/fail", fail)
    app.router.add_get("/redirect", redirect)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    return app


@pytest.fixture
async def server(cert):
    release = asyncio.Event()
    runner = web.AppRunner(make_app(release), shutdown_timeout=0.1)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=cert.server_context())
    await plain.start()
    await tls.start()
    ports = [site._server.sockets[0].getsockname()[1] for site in (plain, tls)]
    yield {"http": f"http://127.0.0.1:{ports[0]}", "https": f"https://127.0.0.1:{ports[1]}"}
    release.set()
    await runner.cleanup()


async def probe(rec, url, **fields):
    fields.setdefault("Interval", "10s")
    ca_file = fields.pop("_ca", None)
    runner = make_runner(CheckDefinition(CheckID="web", HTTP=url, **fields), rec,
                         enable_script_checks=False, ca_file=ca_file)
    try:
        await runner.probe()
    finally:
        await runner.stop()
    return rec.last


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/ok", "passing", "200 OK Output: ok body"),
    ("/warn", "warning", "429 Too Many Requests Output: slow down"),
    ("/fail", "critical", "500 Internal Server Error Output: broken"),
    ("/missing", "critical", "404 Not Found Output: 404: Not Found"),
])
async def test_status_codes(rec, server, path, status, text):
    url = server["http"] + path
    assert await probe(rec, url) == (status, f"HTTP GET {url}: {text}")


async def test_redirects_are_followed_unless_disabled(rec, server):
    url = server["http"] + "/redirect"
    assert await probe(rec, url) == ("passing", f"HTTP GET {url}: 200 OK Output: ok body")
    status, output = await probe(rec, url, DisableRedirects=True)
    assert status == "critical"
    assert output.startswith(f"HTTP GET {url}: 302 Found Output: ")


async def test_method_headers_and_body_are_sent(rec, server):
    url = server["http"] + "/echo"
    status, output = await probe(rec, url, Method="PUT", Body='{"k": 1}',
                                 Header={"X-Multi": ["one", "two"], "X-Single": ["s"]})
    assert status == "passing"
    prefix = f"HTTP PUT {url}: 200 OK Output: "
    assert output.startswith(prefix)
    echoed = json.loads(output[len(prefix):])
    assert echoed["method"] == "PUT"
    assert echoed["body"] == '{"k": 1}'
    assert echoed["headers"]["X-Multi"] == ["one", "two"]
    assert echoed["headers"]["X-Single"] == ["s"]
    assert echoed["headers"]["User-Agent"] == ["Consul Health Check"]
    assert echoed["headers"]["Accept"] == ["text/plain, text/*, */*"]


async def test_user_headers_override_defaults(rec, server):
    url = server["http"] + "/echo"
    _, output = await probe(rec, url, Header={"User-Agent": ["mine"], "Accept": ["x/y"],
                                              "Host": ["virtual.example"]})
    echoed = json.loads(output.split(" Output: ", 1)[1])
    assert echoed["headers"]["User-Agent"] == ["mine"]
    assert echoed["headers"]["Accept"] == ["x/y"]
    assert echoed["headers"]["Host"] == ["virtual.example"]
    assert echoed["method"] == "GET"


async def test_body_output_keeps_the_tail(rec, server):
    url = server["http"] + "/big"
    status, output = await probe(rec, url, OutputMaxSize=150)
    assert status == "passing"
    assert output == f"HTTP GET {url}: 200 OK Output: " + "a" * 50 + "b" * 100


async def test_timeout_is_critical(rec, server):
    url = server["http"] + "/slow"
    status, output = await probe(rec, url, Timeout="200ms")
    assert status == "critical"
    assert output == (f'Get "{url}": context deadline exceeded '
                      "(Client.Timeout exceeded while awaiting headers)")


async def test_connection_refused_is_critical(rec):
    url = f"http://127.0.0.1:{free_port(1)}/"
    status, output = await probe(rec, url, Method="POST")
    assert status == "critical"
    assert output.startswith(f'Post "{url}": ')
    assert "connection refused" in output


async def test_tls_verification(rec, server, cert):
    url = server["https"] + "/ok"
    status, output = await probe(rec, url)
    assert status == "critical"  # self-signed, not trusted
    assert "certificate verify failed" in output
    assert await probe(rec, url, TLSSkipVerify=True) == (
        "passing", f"HTTP GET {url}: 200 OK Output: ok body")


async def test_tls_server_name_with_agent_ca(rec, server, cert):
    url = server["https"] + "/ok"
    # Trusted CA, but the certificate names check.example, not 127.0.0.1.
    status, output = await probe(rec, url, _ca=cert.cert_file)
    assert status == "critical"
    assert await probe(rec, url, _ca=cert.cert_file, TLSServerName=SERVER_NAME) == (
        "passing", f"HTTP GET {url}: 200 OK Output: ok body")


async def test_interval_loop_reuses_nothing_between_probes(rec, server):
    definition = CheckDefinition(CheckID="web", HTTP=server["http"] + "/ok", Interval="20ms")
    runner = make_runner(definition, rec, enable_script_checks=False, min_interval=0.01)
    await runner.start()
    assert (await rec.next())[0] == "passing"
    assert (await rec.next())[0] == "passing"
    await runner.stop()
    assert runner._session is None
