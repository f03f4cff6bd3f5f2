"""Ingress and terminating gateways: real Envoys started with ``connect envoy -gateway``.

Outside traffic reaches ``api`` (http listener, by Host header) and ``billing``
(tcp listener) through an ingress gateway; ``web``'s sidecar reaches a plain HTTP
server registered as an external node through a terminating gateway, which
answers with ``ext``'s leaf and applies ``ext``'s intentions.
"""

from __future__ import annotations

import http.client
import ssl

import pytest

from tests.support.agent_process import free_port, start_agent, wait_until
from tests.support.certs import write_test_pki
from tests.support.envoy import AppServer, EnvoyGroup, http_get
from tests.support.mesh import Mesh


def get_with_host(host: str, port: int, host_header: str, path: str = "/",
                  tls: ssl.SSLContext | None = None) -> tuple[int, str]:
    conn = http.client.HTTPSConnection(host, port, timeout=5, context=tls) if tls else \
        http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host_header})
        reply = conn.getresponse()
        return reply.status, reply.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return 0, ""
    finally:
        conn.close()


@pytest.fixture(scope="module")
def mesh():
    agent = start_agent()
    mesh = Mesh(agent, EnvoyGroup())
    try:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        mesh.config_entry({"Kind": "service-defaults", "Name": "api", "Protocol": "http"})
        mesh.register_app("api", "api")
        mesh.register_app("billing", "billing")
        mesh.start_sidecar("api")
        mesh.start_sidecar("billing")
        yield mesh
    finally:
        mesh.stop()


def test_ingress_gateway_routes_http_by_host_and_tcp(mesh):
    http_port, tcp_port, ready_port = (free_port(mesh.host) for _ in range(3))
    mesh.config_entry({"Kind": "ingress-gateway", "Name": "ingress", "Listeners": [
        {"Port": http_port, "Protocol": "http",
         "Services": [{"Name": "api", "Hosts": ["api.example.com"],
                       "ResponseHeaders": {"Set": {"x-via": "ingress"}}}]},
        {"Port": tcp_port, "Protocol": "tcp", "Services": [{"Name": "billing"}]}]})
    envoy = mesh.envoys.start(mesh.agent, "-gateway", "ingress", "-register",
                              "-service", "ingress", "-address", f"{mesh.host}:{ready_port}")
    registered = mesh.agent.get("/v1/agent/service/ingress").json()
    assert (registered["Kind"], registered["Service"], registered["Port"]) == (
        "ingress-gateway", "ingress", ready_port)
    wait_until(lambda: get_with_host(mesh.host, http_port, "api.example.com", "/in")
               == (200, "api /in"), 20, what="api through the ingress gateway (http)")
    assert get_with_host(mesh.host, http_port, "other.example.com")[0] == 404
    conn = http.client.HTTPConnection(mesh.host, http_port, timeout=5)
    conn.request("GET", "/", headers={"Host": "api.example.com"})
    assert conn.getresponse().getheader("x-via") == "ingress"  # the service's ResponseHeaders
    conn.close()
    wait_until(lambda: http_get(mesh.host, tcp_port, "/t") == (200, "billing /t"), 20,
               what="billing through the ingress gateway (tcp)")
    listeners = sorted(entry["name"] for cfg in envoy.config_dump()["configs"]
                       for entry in cfg.get("dynamic_listeners", ()))
    assert listeners == sorted([f"http:{mesh.host}:{http_port}",
                                f"billing:{mesh.host}:{tcp_port}"])
    # -register adds Consul's TCP check, which Envoy's ready listener on -address passes
    wait_until(lambda: [c["Status"] for c in mesh.agent.get(
        "/v1/health/checks/ingress").json()] == ["passing"], 30,
        what="the ingress gateway's TCP check to pass")


def test_ingress_default_domain_is_service_ingress(mesh):
    port = free_port(mesh.host)
    mesh.config_entry({"Kind": "ingress-gateway", "Name": "ingress2", "Listeners": [
        {"Port": port, "Protocol": "http", "Services": [{"Name": "api"}]}]})
    mesh.envoys.start(mesh.agent, "-gateway", "ingress", "-register", "-service", "ingress2",
                      "-address", f"{mesh.host}:{free_port(mesh.host)}")
    wait_until(lambda: get_with_host(mesh.host, port, "api.ingress.consul", "/d")
               == (200, "api /d"), 20, what="api by its default ingress domain")
    assert get_with_host(mesh.host, port, "web.ingress.consul")[0] == 404
    # a change of the entry reaches the running gateway: a listener comes, another goes
    tcp_port = free_port(mesh.host)
    mesh.config_entry({"Kind": "ingress-gateway", "Name": "ingress2", "Listeners": [
        {"Port": tcp_port, "Protocol": "tcp", "Services": [{"Name": "billing"}]}]})
    wait_until(lambda: http_get(mesh.host, tcp_port, "/new") == (200, "billing /new"), 10,
               what="the new listener of the updated entry")
    wait_until(lambda: get_with_host(mesh.host, port, "api.ingress.consul")[0] == 0, 10,
               what="the removed listener to close")


def test_ingress_wildcard_serves_every_mesh_service(mesh):
    port = free_port(mesh.host)
    mesh.config_entry({"Kind": "ingress-gateway", "Name": "wild", "Listeners": [
        {"Port": port, "Protocol": "http", "Services": [{"Name": "*"}]}]})
    mesh.envoys.start(mesh.agent, "-gateway", "ingress", "-register", "-service", "wild",
                      "-address", f"{mesh.host}:{free_port(mesh.host)}")
    wait_until(lambda: get_with_host(mesh.host, port, "api.ingress.consul", "/w")
               == (200, "api /w"), 20, what="api through the wildcard ingress listener")
    assert get_with_host(mesh.host, port, "nothing.ingress.consul")[0] == 404


def test_terminating_gateway_reaches_external_service_and_obeys_intentions(mesh):
    external = AppServer(mesh.host, "ext")  # a plain HTTP server outside the mesh
    mesh.apps.append(external)
    reply = mesh.agent.put("/v1/catalog/register", {
        "Node": "ext-node", "Address": mesh.host, "NodeMeta": {"external-node": "true"},
        "Service": {"Service": "ext", "Address": mesh.host, "Port": external.port}})
    assert reply.status == 200, reply.text
    mesh.config_entry({"Kind": "terminating-gateway", "Name": "tgw",
                       "Services": [{"Name": "ext"}]})
    gateway_port = free_port(mesh.host)
    envoy = mesh.envoys.start(mesh.agent, "-gateway", "terminating", "-register",
                              "-service", "tgw", "-address", f"{mesh.host}:{gateway_port}")
    mesh.web_upstream = free_port(mesh.host)
    mesh.register_app("web", "web", upstreams=[{
        "DestinationName": "ext", "LocalBindAddress": mesh.host,
        "LocalBindPort": mesh.web_upstream}])
    mesh.start_sidecar("web")
    wait_until(lambda: mesh.get("/out") == (200, "ext /out"), 40,
               what="web -> ext through the terminating gateway")
    roots = mesh.agent.get("/v1/connect/ca/roots").json()
    dump = envoy.config_dump()
    [listener] = [entry for cfg in dump["configs"] for entry in cfg.get("dynamic_listeners", ())]
    assert listener["name"] == f"default:{mesh.host}:{gateway_port}"
    [chain] = listener["active_state"]["listener"]["filter_chains"]
    assert chain["filter_chain_match"]["server_names"] == [
        f"ext.default.dc1.internal.{roots['TrustDomain']}"]
    mesh.intention("web", "ext", {"Action": "deny"})
    try:
        wait_until(lambda: mesh.get()[0] == 0, 5, what="the deny on ext to take effect")
        denied = envoy.stats("connect_authz")
        assert int(denied.get("connect_authz.rbac.denied", "0")) >= 1
    finally:
        mesh.agent.delete("/v1/connect/intentions/exact?source=web&destination=ext")
    wait_until(lambda: mesh.get()[0] == 200, 5, what="traffic after the deny is gone")


def test_ingress_tls_listener_presents_the_gateways_leaf(mesh):
    port = free_port(mesh.host)
    mesh.config_entry({"Kind": "ingress-gateway", "Name": "secure", "TLS": {"Enabled": True},
                       "Listeners": [{"Port": port, "Protocol": "http",
                                      "Services": [{"Name": "api"}]}]})
    mesh.envoys.start(mesh.agent, "-gateway", "ingress", "-register", "-service", "secure",
                      "-address", f"{mesh.host}:{free_port(mesh.host)}")
    roots = mesh.agent.get("/v1/connect/ca/roots").json()
    trust = ssl.create_default_context(cadata="\n".join(r["RootCert"] for r in roots["Roots"]))
    trust.check_hostname = False  # the leaf names the gateway by SPIFFE URI, not by DNS
    wait_until(lambda: get_with_host(mesh.host, port, "api.ingress.consul", "/s", tls=trust)
               == (200, "api /s"), 20, what="api through the TLS ingress listener")
    # the certificate is the gateway's own leaf, and plaintext gets no HTTP answer
    conn = ssl.create_connection((mesh.host, port), timeout=5)
    with trust.wrap_socket(conn) as tls:
        cert = tls.getpeercert()
    assert any(value.endswith("/svc/secure") for kind, value in cert["subjectAltName"]
               if kind == "URI"), cert
    assert get_with_host(mesh.host, port, "api.ingress.consul")[0] == 0


def test_terminating_gateway_originates_tls_with_the_links_files(mesh, tmp_path):
    pki = write_test_pki(tmp_path, "secure-ext.example.com")
    for name in ("server", "client"):  # Envoy wants the certificate and key apart
        pem = (pki / f"{name}.pem").read_text()
        cut = pem.index("-----BEGIN", pem.index("-----END"))
        (pki / f"{name}.crt").write_text(pem[:cut])
        (pki / f"{name}.key").write_text(pem[cut:])
    seen_sni: list[str] = []
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    server_tls.load_cert_chain(pki / "server.crt", pki / "server.key")
    server_tls.verify_mode = ssl.CERT_REQUIRED  # the gateway must present CertFile
    server_tls.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    external = AppServer(mesh.host, "secure-ext", tls=server_tls)
    mesh.apps.append(external)
    reply = mesh.agent.put("/v1/catalog/register", {
        "Node": "secure-ext-node", "Address": mesh.host, "NodeMeta": {"external-node": "true"},
        "Service": {"Service": "secure-ext", "Address": mesh.host, "Port": external.port}})
    assert reply.status == 200, reply.text
    mesh.config_entry({"Kind": "terminating-gateway", "Name": "tgw-tls", "Services": [{
        "Name": "secure-ext", "CAFile": str(pki / "ca.pem"), "CertFile": str(pki / "client.crt"),
        "KeyFile": str(pki / "client.key"), "SNI": "secure-ext.example.com"}]})
    mesh.envoys.start(mesh.agent, "-gateway", "terminating", "-register", "-service",
                      "tgw-tls", "-address", f"{mesh.host}:{free_port(mesh.host)}")
    upstream = free_port(mesh.host)
    mesh.register_app("web2", "web2", upstreams=[{
        "DestinationName": "secure-ext", "LocalBindAddress": mesh.host,
        "LocalBindPort": upstream}])
    mesh.start_sidecar("web2")
    wait_until(lambda: http_get(mesh.host, upstream, "/tls") == (200, "secure-ext /tls"), 40,
               what="web2 -> secure-ext over TLS from the terminating gateway")
    assert "secure-ext.example.com" in seen_sni


def test_terminating_gateway_reaches_an_instance_by_hostname(mesh):
    external = AppServer("127.0.0.1", "by-name")  # "localhost" resolves here
    mesh.apps.append(external)
    reply = mesh.agent.put("/v1/catalog/register", {
        "Node": "dns-node", "Address": "localhost", "NodeMeta": {"external-node": "true"},
        "Service": {"Service": "by-name", "Port": external.port}})
    assert reply.status == 200, reply.text
    mesh.config_entry({"Kind": "terminating-gateway", "Name": "tgw-dns",
                       "Services": [{"Name": "by-name"}]})
    envoy = mesh.envoys.start(mesh.agent, "-gateway", "terminating", "-register", "-service",
                              "tgw-dns", "-address", f"{mesh.host}:{free_port(mesh.host)}")
    upstream = free_port(mesh.host)
    mesh.register_app("web3", "web3", upstreams=[{
        "DestinationName": "by-name", "LocalBindAddress": mesh.host,
        "LocalBindPort": upstream}])
    mesh.start_sidecar("web3")
    wait_until(lambda: http_get(mesh.host, upstream, "/dns") == (200, "by-name /dns"), 40,
               what="web3 -> by-name (a hostname) through the terminating gateway")
    clusters = [c["cluster"] for cfg in envoy.config_dump()["configs"]
                for c in cfg.get("dynamic_active_clusters", ())]
    assert [c["type"] for c in clusters] == ["LOGICAL_DNS"]


def test_terminating_gateway_applies_l7_intentions_to_an_http_service(mesh):
    external = AppServer(mesh.host, "ext-http")
    mesh.apps.append(external)
    reply = mesh.agent.put("/v1/catalog/register", {
        "Node": "ext-http-node", "Address": mesh.host, "NodeMeta": {"external-node": "true"},
        "Service": {"Service": "ext-http", "Address": mesh.host, "Port": external.port}})
    assert reply.status == 200, reply.text
    mesh.config_entry({"Kind": "service-defaults", "Name": "ext-http", "Protocol": "http"})
    mesh.config_entry({"Kind": "service-intentions", "Name": "ext-http", "Sources": [
        {"Name": "web4", "Permissions": [
            {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}},
            {"Action": "allow", "HTTP": {"PathPrefix": "/"}}]}]})
    mesh.config_entry({"Kind": "terminating-gateway", "Name": "tgw-http",
                       "Services": [{"Name": "ext-http"}]})
    envoy = mesh.envoys.start(mesh.agent, "-gateway", "terminating", "-register", "-service",
                              "tgw-http", "-address", f"{mesh.host}:{free_port(mesh.host)}")
    upstream = free_port(mesh.host)
    mesh.register_app("web4", "web4", upstreams=[{
        "DestinationName": "ext-http", "LocalBindAddress": mesh.host,
        "LocalBindPort": upstream}])
    mesh.start_sidecar("web4")
    wait_until(lambda: http_get(mesh.host, upstream, "/ok") == (200, "ext-http /ok"), 40,
               what="web4 -> ext-http (http) through the terminating gateway")
    assert http_get(mesh.host, upstream, "/admin/x")[0] == 403
    stats = envoy.stats("rbac")
    assert any(k.endswith("rbac.denied") and int(v) >= 1 for k, v in stats.items()), stats
