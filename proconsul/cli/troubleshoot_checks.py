"""Why can't A reach B: pure checks over control-plane state and an Envoy's admin data.

Each check takes what was already fetched (decoded JSON, PEM text) and returns
:class:`Finding` values; fetching lives in ``troubleshoot_commands``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from cryptography import x509


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``ok`` or a failure with what to do about it."""

    ok: bool
    message: str
    fix: str = ""

    def render(self) -> str:
        if self.ok:
            return f"✓ {self.message}"
        return f"✗ {self.message}\n  -> {self.fix}" if self.fix else f"✗ {self.message}"


def _failing_checks(entry: dict[str, Any]) -> list[str]:
    return [f"{c.get('Name') or c.get('CheckID')} ({c.get('Status')})"
            for c in entry.get("Checks") or () if c.get("Status") != "passing"]


def endpoints(service: str, entries: list[dict[str, Any]]) -> Finding:
    """``entries`` is /v1/health/connect/:service (every instance, any health)."""
    if not entries:
        return Finding(False, f"no connect-capable instance of {service} is registered",
                       f"register {service} with a sidecar proxy (connect {{ sidecar_service "
                       "{} }) or make it connect-native")
    healthy = [e for e in entries if not _failing_checks(e)]
    if not healthy:
        failing = sorted({c for e in entries for c in _failing_checks(e)})
        return Finding(False, f"none of the {len(entries)} instance(s) of {service} is healthy "
                       f"(failing: {', '.join(failing)}): proxies see 'no healthy upstream'",
                       f"fix the failing checks of {service} or of its sidecar proxy")
    return Finding(True, f"{len(healthy)} of {len(entries)} instance(s) of {service} "
                   "are healthy")


def declared_upstream(source: str, service: str, entries: list[dict[str, Any]]
                      ) -> tuple[Finding, dict[str, Any] | None]:
    """Whether ``source``'s sidecar (from /v1/health/connect/:source) lists ``service``."""
    for entry in entries:
        for upstream in (entry.get("Service", {}).get("Proxy") or {}).get("Upstreams") or ():
            if upstream.get("DestinationName") == service:
                bind = f"{upstream.get('LocalBindAddress') or '127.0.0.1'}:" \
                       f"{upstream.get('LocalBindPort')}"
                return Finding(True, f"{source}'s sidecar has {service} as an upstream on "
                               f"{bind}"), upstream
    if not entries:
        return Finding(False, f"{source} has no sidecar proxy registered",
                       f"register {source} with a sidecar proxy"), None
    return Finding(False, f"{source}'s sidecar has no upstream for {service}",
                   f"add {{DestinationName = \"{service}\", LocalBindPort = <port>}} to the "
                   f"Proxy.Upstreams of {source}'s sidecar"), None


def intention(source: str, service: str, check: dict[str, Any]) -> Finding:
    """``check`` is /v1/connect/intentions/check?source=&destination= ({"Allowed": bool})."""
    if check.get("Allowed"):
        return Finding(True, f"intentions allow {source} → {service}")
    return Finding(False, f"intentions deny {source} → {service} (a deny intention, or no "
                   "allow one while the default policy denies)",
                   f"proconsul intention create -allow {source} {service} (or delete the "
                   "deny)")


def protocol(source: str, service: str, chain: dict[str, Any],
             upstream: dict[str, Any] | None) -> Finding:
    """The upstream's protocol as the source declared it vs the destination's chain."""
    wanted = (chain.get("Chain") or {}).get("Protocol") or "tcp"
    declared = ((upstream or {}).get("Config") or {}).get("protocol")
    if declared and declared != wanted:
        return Finding(False, f"protocol mismatch: {source} declares {service} as {declared} "
                       f"but {service}'s service-defaults say {wanted}",
                       f"use one protocol on both sides: drop Config.protocol from {source}'s "
                       f"upstream, or set Protocol = \"{declared}\" in {service}'s "
                       "service-defaults")
    return Finding(True, f"{service} speaks {wanted} on both sides")


def _pem_cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _spiffe_domain(cert: x509.Certificate) -> str:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith("spiffe://"):
            return uri[len("spiffe://"):].split("/", 1)[0]
    return ""


def certificates(service: str, roots: dict[str, Any], leaf_pem: str,
                 now: datetime.datetime) -> list[Finding]:
    """The active root and ``service``'s leaf: valid now, and in the roots' trust domain."""
    active = [r for r in roots.get("Roots") or () if r.get("Active")]
    if not active:
        return [Finding(False, "the CA has no active root", "check the CA: proconsul connect "
                        "ca get-config, and the servers' logs")]
    findings = []
    root = _pem_cert(active[0]["RootCert"])
    if root.not_valid_after_utc <= now:
        findings.append(Finding(False, f"the active CA root expired at "
                                f"{root.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
                                "rotate the CA: proconsul connect ca set-config"))
    leaf = _pem_cert(leaf_pem)
    trust_domain = roots.get("TrustDomain") or ""
    domain = _spiffe_domain(leaf)
    if leaf.not_valid_after_utc <= now:
        findings.append(Finding(False, f"{service}'s leaf certificate expired at "
                                f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
                                "restart the proxy so that it fetches a new leaf; check that "
                                "the agent reaches the servers"))
    elif domain != trust_domain:
        findings.append(Finding(False, f"{service}'s leaf is for trust domain {domain}, the "
                                f"CA's is {trust_domain}: peers refuse it",
                                "restart the proxy so that it fetches a leaf from the current "
                                "CA"))
    if not findings:
        findings.append(Finding(True, f"{service}'s leaf is valid until "
                                f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ} and signed in "
                                f"trust domain {trust_domain}"))
    return findings


def rejected_updates(stats: dict[str, str]) -> Finding:
    """``stats`` from Envoy's /stats?filter=update_rejected (name -> value)."""
    rejected = {k: int(v) for k, v in stats.items()
                if k.endswith("update_rejected") and v.strip().isdigit() and int(v)}
    if rejected:
        named = ", ".join(f"{k}={v}" for k, v in sorted(rejected.items()))
        return Finding(False, f"Envoy rejected {sum(rejected.values())} config update(s) "
                       f"(NACK: {named})",
                       "the agent log has Envoy's reason ('got error response from envoy "
                       "proxy'); fix the proxy's or the config entries' settings")
    return Finding(True, "Envoy accepted every config update")


def envoy_certificates(certs: dict[str, Any], now: datetime.datetime) -> Finding:
    """Envoy's /certs: any certificate it holds that has expired."""
    held = [c for entry in certs.get("certificates") or ()
            for c in (entry.get("cert_chain") or []) + (entry.get("ca_cert") or [])]
    if not held:
        return Finding(False, "Envoy holds no certificate yet (no leaf or roots from xDS)",
                       "check that the proxy's ADS stream is connected to the agent")
    expired = [c for c in held if _expiry(c) <= now]
    if expired:
        return Finding(False, f"Envoy holds {len(expired)} expired certificate(s) (serial "
                       f"{expired[0].get('serial_number')}, expired "
                       f"{expired[0].get('expiration_time')})",
                       "check the agent's CA and leaf: proconsul connect ca health")
    return Finding(True, f"Envoy's {len(held)} certificate(s) are valid")


def upstream_listener(dump: dict[str, Any], envoy_id: str) -> Finding:
    """Envoy's /config_dump: the upstream's listener (named ``<id>:<ip>:<port>``) is active."""
    listeners = [entry for cfg in dump.get("configs") or ()
                 for entry in cfg.get("dynamic_listeners") or ()
                 if entry.get("name", "").split(":", 1)[0] == envoy_id]
    if not listeners:
        return Finding(False, f"Envoy has no listener for upstream {envoy_id}",
                       "declare it in the sidecar's Proxy.Upstreams with a LocalBindPort")
    failed = [entry for entry in listeners if entry.get("error_state")]
    if failed:
        details = failed[0]["error_state"].get("details", "")
        return Finding(False, f"Envoy rejected the listener {failed[0]['name']}: {details}",
                       "fix the upstream's bind address or port (in use? not local?)")
    active = [e for e in listeners if e.get("active_state")]
    if not active:
        return Finding(False, f"Envoy's listener for {envoy_id} is not active yet",
                       "wait for the listener to warm up (its cluster needs endpoints)")
    return Finding(True, f"Envoy listens for {envoy_id} on {active[0]['name'].split(':', 1)[1]}")


def _expiry(cert: dict[str, Any]) -> datetime.datetime:
    text = cert.get("expiration_time") or "1970-01-01T00:00:00Z"
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _host_ip(host: dict[str, Any]) -> str:
    return ((host.get("address") or {}).get("socket_address") or {}).get("address", "")


def upstream_ids(clusters: dict[str, Any]) -> list[str]:
    """Envoy IDs of the upstreams in /clusters?format=json (their SNI names' first label)."""
    return sorted({c["name"].split(".", 1)[0] for c in clusters.get("cluster_statuses") or ()
                   if "." in c.get("name", "")})


def upstream_cluster(clusters: dict[str, Any], envoy_id: str = "", ip: str = "") -> Finding:
    """Whether Envoy has the upstream's cluster and a healthy endpoint in it."""
    statuses = clusters.get("cluster_statuses") or []
    if envoy_id:
        wanted = [c for c in statuses if c.get("name", "").split(".", 1)[0] == envoy_id]
        what = envoy_id
    else:
        wanted = [c for c in statuses
                  if any(_host_ip(h) == ip for h in c.get("host_statuses") or ())]
        what = ip
    if not wanted:
        return Finding(False, f"Envoy has no cluster for upstream {what}",
                       "declare it in the sidecar's Proxy.Upstreams (proconsul troubleshoot "
                       "upstreams lists the ones Envoy has)")
    hosts = [h for c in wanted for h in c.get("host_statuses") or ()]
    healthy = [h for h in hosts if (h.get("health_status") or {}).get("eds_health_status",
                                                                      "HEALTHY") == "HEALTHY"]
    names = ", ".join(c["name"] for c in wanted)
    if not healthy:
        return Finding(False, f"Envoy has no healthy endpoint in {names} ({len(hosts)} "
                       "endpoint(s) in all): requests get '503 no healthy upstream'",
                       "make an instance of the upstream and its sidecar pass their health "
                       "checks")
    return Finding(True, f"Envoy has {len(healthy)} healthy endpoint(s) in {names}")
