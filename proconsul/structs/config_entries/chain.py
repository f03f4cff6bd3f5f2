"""The discovery chain's entries: service-router, service-splitter, service-resolver."""

from __future__ import annotations

import re
from typing import Any

from proconsul.lib import bexpr
from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    ConfigEntryError,
    Duration,
    Entry,
    collect,
    duration_ns,
    validate_meta,
)

__all__ = [
    "HTTPHeaderModifiers",
    "ServiceResolverConfigEntry",
    "ServiceResolverFailover",
    "ServiceResolverFailoverTarget",
    "ServiceResolverRedirect",
    "ServiceResolverSubset",
    "ServiceRoute",
    "ServiceRouteDestination",
    "ServiceRouteHTTPMatch",
    "ServiceRouteMatch",
    "ServiceRouterConfigEntry",
    "ServiceSplit",
    "ServiceSplitterConfigEntry",
    "split_weight",
]

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
RETRY_CONDITIONS = ("5xx", "gateway-error", "reset", "connect-failure", "envoy-ratelimited",
                    "retriable-4xx", "refused-stream", "cancelled", "deadline-exceeded",
                    "internal", "resource-exhausted", "unavailable")
LB_POLICIES = ("", "random", "round_robin", "least_request", "ring_hash", "maglev")
HASH_POLICY_FIELDS = ("header", "cookie", "query_parameter")
_SUBSET_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class HTTPHeaderModifiers(Record):
    """Headers to add, set or remove on a request or response."""

    Add: dict[str, str] | UnsetType = UNSET
    Set: dict[str, str] | UnsetType = UNSET
    Remove: list[str] | UnsetType = UNSET


class ServiceRouteHTTPMatchHeader(Record):
    Name: str = ""
    Present: bool | UnsetType = UNSET
    Exact: str | UnsetType = UNSET
    Prefix: str | UnsetType = UNSET
    Suffix: str | UnsetType = UNSET
    Regex: str | UnsetType = UNSET
    Invert: bool | UnsetType = UNSET


class ServiceRouteHTTPMatchQueryParam(Record):
    Name: str = ""
    Present: bool | UnsetType = UNSET
    Exact: str | UnsetType = UNSET
    Regex: str | UnsetType = UNSET


class ServiceRouteHTTPMatch(Record):
    """HTTP criteria of a route: path, headers, query parameters, methods."""

    PathExact: str | UnsetType = UNSET
    PathPrefix: str | UnsetType = UNSET
    PathRegex: str | UnsetType = UNSET
    CaseInsensitive: bool | UnsetType = UNSET
    Header: list[ServiceRouteHTTPMatchHeader] | UnsetType = UNSET
    QueryParam: list[ServiceRouteHTTPMatchQueryParam] | UnsetType = UNSET
    Methods: list[str] | UnsetType = UNSET


class ServiceRouteMatch(Record):
    HTTP: ServiceRouteHTTPMatch | None | UnsetType = UNSET


class ServiceRouteDestination(Record):
    """Where a matched request goes, and how it is retried and rewritten."""

    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    PrefixRewrite: str | UnsetType = UNSET
    RequestTimeout: Duration | UnsetType = UNSET
    IdleTimeout: Duration | UnsetType = UNSET
    NumRetries: Int | UnsetType = UNSET
    RetryOnConnectFailure: bool | UnsetType = UNSET
    RetryOn: list[str] | UnsetType = UNSET
    RetryOnStatusCodes: list[Int] | UnsetType = UNSET
    RequestHeaders: HTTPHeaderModifiers | None | UnsetType = UNSET
    ResponseHeaders: HTTPHeaderModifiers | None | UnsetType = UNSET


class ServiceRoute(Record):
    Match: ServiceRouteMatch | None | UnsetType = UNSET
    Destination: ServiceRouteDestination | None | UnsetType = UNSET


class ServiceRouterConfigEntry(Entry, kw_only=True):
    """``service-router``: L7 routes, first match wins; the rest go to the service itself."""

    KIND = "service-router"

    Name: str = ""
    Routes: list[ServiceRoute] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for route in self.Routes or ():
            http = _http(route)
            if http and http.Methods:
                http.Methods = [m.upper() for m in http.Methods]

    def validate(self) -> None:
        super().validate()
        for i, route in enumerate(self.Routes or ()):
            prefix_ok = False
            http = _http(route)
            if http:
                parts = 0
                for field in ("PathExact", "PathPrefix"):
                    value = getattr(http, field) or ""
                    if value:
                        prefix_ok = True
                        parts += 1
                        if not value.startswith("/"):
                            raise ConfigEntryError(
                                f"Route[{i}] {field} doesn't start with '/': \"{value}\"")
                if http.PathRegex:
                    parts += 1
                if parts > 1:
                    raise ConfigEntryError(f"Route[{i}] should only contain at most one of "
                                           "PathExact, PathPrefix, or PathRegex")
                for j, hdr in enumerate(http.Header or ()):
                    if not hdr.Name:
                        raise ConfigEntryError(f"Route[{i}] Header[{j}] missing required Name field")
                    if _count(hdr, "Present", "Exact", "Regex", "Prefix", "Suffix") != 1:
                        raise ConfigEntryError(
                            f"Route[{i}] Header[{j}] should only contain one of Present, Exact, "
                            "Prefix, Suffix, or Regex")
                for j, qp in enumerate(http.QueryParam or ()):
                    if not qp.Name:
                        raise ConfigEntryError(
                            f"Route[{i}] QueryParam[{j}] missing required Name field")
                    if _count(qp, "Present", "Exact", "Regex") != 1:
                        raise ConfigEntryError(f"Route[{i}] QueryParam[{j}] should only contain "
                                               "one of Present, Exact, or Regex")
                seen: set[str] = set()
                for method in http.Methods or ():
                    if method not in HTTP_METHODS:
                        raise ConfigEntryError(
                            f'Route[{i}] Methods contains an invalid method "{method}"')
                    if method in seen:
                        raise ConfigEntryError(
                            f'Route[{i}] Methods contains "{method}" more than once')
                    seen.add(method)
            dest = route.Destination or None
            if dest:
                if dest.PrefixRewrite and not prefix_ok:
                    raise ConfigEntryError(
                        f"Route[{i}] cannot make use of PrefixRewrite without configuring "
                        "either PathExact or PathPrefix")
                for cond in dest.RetryOn or ():
                    if cond not in RETRY_CONDITIONS:
                        raise ConfigEntryError(
                            f'Route[{i}] contains an invalid retry condition: "{cond}"')


def _http(route: ServiceRoute) -> ServiceRouteHTTPMatch | None:
    match = route.Match or None
    return (match.HTTP or None) if match else None


def _count(obj: Any, *fields: str) -> int:
    return sum(1 for f in fields if getattr(obj, f))


class ServiceSplit(Record):
    """A share (0–100, in steps of 0.01) of the traffic and where it goes."""

    Weight: float = 0.0
    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    RequestHeaders: HTTPHeaderModifiers | None | UnsetType = UNSET
    ResponseHeaders: HTTPHeaderModifiers | None | UnsetType = UNSET


def _scaled(weight: float) -> int:
    return round(weight * 100)


def split_weight(weight: float) -> float:
    """A weight rounded to Consul's smallest share, 0.01 %."""
    return _scaled(weight) / 100


class ServiceSplitterConfigEntry(Entry, kw_only=True):
    """``service-splitter``: weighted shares of the traffic, summing to 100."""

    KIND = "service-splitter"

    Name: str = ""
    Splits: list[ServiceSplit] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for split in self.Splits or ():
            split.Weight = split_weight(split.Weight)

    def validate(self) -> None:
        if not self.Name:
            raise ConfigEntryError("Name is required")
        if not self.Splits:
            raise ConfigEntryError("no splits configured")
        collect(validate_meta(self.Meta or None))
        seen: set[tuple[str, str, str, str]] = set()
        for split in self.Splits:
            key = (split.Service or self.Name, split.ServiceSubset or "",
                   split.Namespace or "", split.Partition or "")
            if key in seen:
                raise ConfigEntryError(
                    "split destination occurs more than once: service=\"{}\", subset=\"{}\", "
                    "namespace=\"{}\", partition=\"{}\"".format(*key))
            seen.add(key)
        total = sum(_scaled(s.Weight) for s in self.Splits)
        if total != 100 * 100:
            raise ConfigEntryError(f"the sum of all split weights must be 100, not {total / 100:f}")


class ServiceResolverSubset(Record):
    """A named subset: a filter over the service's instances."""

    Filter: str | UnsetType = UNSET
    OnlyPassing: bool | UnsetType = UNSET


class ServiceResolverRedirect(Record):
    """Resolve another service, subset, namespace, datacenter or peer instead."""

    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    Datacenter: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET
    SamenessGroup: str | UnsetType = UNSET


class ServiceResolverFailoverTarget(Record):
    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Partition: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Datacenter: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET


class ServiceResolverFailoverPolicy(Record):
    Mode: str | UnsetType = UNSET
    Regions: list[str] | UnsetType = UNSET


class ServiceResolverFailover(Record):
    """Where to send traffic when no instance of the primary target is healthy."""

    Service: str | UnsetType = UNSET
    ServiceSubset: str | UnsetType = UNSET
    Namespace: str | UnsetType = UNSET
    Datacenters: list[str] | UnsetType = UNSET
    Targets: list[ServiceResolverFailoverTarget] | UnsetType = UNSET
    Policy: ServiceResolverFailoverPolicy | None | UnsetType = UNSET
    SamenessGroup: str | UnsetType = UNSET


class LoadBalancer(Record):
    Policy: str | UnsetType = UNSET
    RingHashConfig: dict[str, Any] | None | UnsetType = UNSET
    LeastRequestConfig: dict[str, Any] | None | UnsetType = UNSET
    HashPolicies: list[dict[str, Any]] | UnsetType = UNSET


class ServiceResolverConfigEntry(Entry, kw_only=True):
    """``service-resolver``: subsets, default subset, redirect, failover, timeouts."""

    KIND = "service-resolver"

    Name: str = ""
    DefaultSubset: str | UnsetType = UNSET
    Subsets: dict[str, ServiceResolverSubset] | UnsetType = UNSET
    Redirect: ServiceResolverRedirect | None | UnsetType = UNSET
    Failover: dict[str, ServiceResolverFailover] | UnsetType = UNSET
    PrioritizeByLocality: dict[str, Any] | None | UnsetType = UNSET
    ConnectTimeout: Duration | UnsetType = UNSET
    RequestTimeout: Duration | UnsetType = UNSET
    LoadBalancer: LoadBalancer | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def subset_exists(self, name: str) -> bool:
        return name == "" or name in (self.Subsets or {})

    def is_default(self) -> bool:
        """True when the entry changes nothing (Consul's IsDefault)."""
        return not (self.DefaultSubset or self.Subsets or self.Redirect or self.Failover
                    or self.ConnectTimeout or self.RequestTimeout or self.LoadBalancer
                    or self.PrioritizeByLocality)

    def validate(self) -> None:
        super().validate()
        subsets = self.Subsets or {}
        for name, subset in subsets.items():
            if not name:
                raise ConfigEntryError("Subset defined with empty name")
            if not _SUBSET_NAME.match(name) or len(name) > 63:
                raise ConfigEntryError(
                    f'Subset "{name}" is invalid: must be 63 characters or less and contain only '
                    "lowercase alphanumeric characters or '-' (can't start or end with '-')")
            if subset.Filter:
                try:
                    bexpr.parse(subset.Filter)
                except bexpr.FilterError as exc:
                    raise ConfigEntryError(
                        f'Filter for subset "{name}" is not a valid expression: {exc}') from None
        if self.DefaultSubset and self.DefaultSubset not in subsets:
            raise ConfigEntryError(f'DefaultSubset "{self.DefaultSubset}" is not a valid subset')
        redirect = self.Redirect or None
        if redirect:
            self._validate_redirect(redirect, subsets)
        for subset, failover in (self.Failover or {}).items():
            self._validate_failover(subset, failover, subsets)
        for field in ("ConnectTimeout", "RequestTimeout"):
            value = getattr(self, field) or ""
            if duration_ns(value) < 0:
                raise ConfigEntryError(f"Bad {field} '{value}', must be >= 0")
        lb = self.LoadBalancer or None
        if lb:
            _validate_load_balancer(lb)

    def _validate_redirect(self, r: ServiceResolverRedirect, subsets: dict) -> None:
        if self.Failover:
            raise ConfigEntryError("Redirect and Failover cannot both be set")
        if not any(getattr(r, f) for f in r.__struct_fields__):
            raise ConfigEntryError("Redirect is empty")
        pairs = (("SamenessGroup", "ServiceSubset", "Redirect.SamenessGroup cannot be set with Redirect.ServiceSubset"),
                 ("SamenessGroup", "Partition", "Redirect.Partition cannot be set with Redirect.SamenessGroup"),
                 ("SamenessGroup", "Datacenter", "Redirect.SamenessGroup cannot be set with Redirect.Datacenter"),
                 ("Peer", "ServiceSubset", "Redirect.Peer cannot be set with Redirect.ServiceSubset"),
                 ("Peer", "Partition", "Redirect.Partition cannot be set with Redirect.Peer"),
                 ("Peer", "Datacenter", "Redirect.Peer cannot be set with Redirect.Datacenter"))
        for a, b, message in pairs:
            if getattr(r, a) and getattr(r, b):
                raise ConfigEntryError(message)
        if not r.Service:
            for field in ("ServiceSubset", "Namespace", "Partition", "Peer"):
                if getattr(r, field):
                    raise ConfigEntryError(f"Redirect.{field} defined without Redirect.Service")
        elif r.ServiceSubset and r.Service == self.Name and r.ServiceSubset not in subsets:
            raise ConfigEntryError(
                f'Redirect.ServiceSubset "{r.ServiceSubset}" is not a valid subset of "{self.Name}"')

    def _validate_failover(self, subset: str, f: ServiceResolverFailover, subsets: dict) -> None:
        prefix = f'Bad Failover["{subset}"]: '
        if subset != "*" and subset not in subsets:
            raise ConfigEntryError(prefix + "not a valid subset subset")
        if not (f.Service or f.ServiceSubset or f.Namespace or f.Datacenters or f.Targets
                or f.SamenessGroup):
            raise ConfigEntryError(prefix + "one of Service, ServiceSubset, Namespace, Targets, "
                                   "SamenessGroup, or Datacenters is required")
        policy = f.Policy or None
        if policy and (policy.Mode or "") not in ("", "sequential", "order-by-locality"):
            raise ConfigEntryError(prefix + "Failover-policy mode must be one of '', "
                                   "'sequential', or 'order-by-locality'")
        if f.ServiceSubset and (not f.Service or f.Service == self.Name) \
                and f.ServiceSubset not in subsets:
            raise ConfigEntryError(f'{prefix}ServiceSubset "{f.ServiceSubset}" is not a valid '
                                   f'subset of "{f.Service or ""}"')
        if f.SamenessGroup:
            for field, label in (("Datacenters", "Datacenters"), ("ServiceSubset", "ServiceSubset"),
                                 ("Targets", "Targets")):
                if getattr(f, field):
                    raise ConfigEntryError(f"{prefix}SamenessGroup cannot be set with {label}")
        for field in ("Datacenters", "ServiceSubset", "Service"):
            if getattr(f, field) and f.Targets:
                raise ConfigEntryError(f"{prefix}Targets cannot be set with {field}")
        for i, t in enumerate(f.Targets or ()):
            tprefix = f'Bad Failover["{subset}"].Targets[{i}]: '
            for a, b, message in (("Peer", "ServiceSubset", "Peer cannot be set with ServiceSubset"),
                                  ("Peer", "Partition", "Partition cannot be set with Peer"),
                                  ("Peer", "Datacenter", "Peer cannot be set with Datacenter"),
                                  ("Partition", "Datacenter", "Partition cannot be set with Datacenter")):
                if getattr(t, a) and getattr(t, b):
                    raise ConfigEntryError(tprefix + message)
            if t.ServiceSubset and (not t.Service or t.Service == self.Name) \
                    and t.ServiceSubset not in subsets:
                raise ConfigEntryError(f'{tprefix}ServiceSubset "{t.ServiceSubset}" is not a '
                                       f'valid subset of "{self.Name}"')
        for dc in f.Datacenters or ():
            if not dc:
                raise ConfigEntryError(f'Bad Failover["{subset}"].Datacenters: found empty datacenter')


def _validate_load_balancer(lb: LoadBalancer) -> None:
    policy = lb.Policy or ""
    if policy not in LB_POLICIES:
        raise ConfigEntryError(f'Bad LoadBalancer policy: "{policy}" is not supported')
    if policy != "ring_hash" and lb.RingHashConfig:
        raise ConfigEntryError("Bad LoadBalancer configuration. RingHashConfig specified for "
                               f'incompatible load balancing policy "{policy}"')
    if policy != "least_request" and lb.LeastRequestConfig:
        raise ConfigEntryError("Bad LoadBalancer configuration. LeastRequestConfig specified for "
                               f'incompatible load balancing policy "{policy}"')
    if policy not in ("ring_hash", "maglev") and lb.HashPolicies:
        raise ConfigEntryError("Bad LoadBalancer configuration: HashPolicies specified for "
                               f'non-hash-based Policy: "{policy}"')
    for i, hp in enumerate(lb.HashPolicies or ()):
        field = hp.get("Field", hp.get("field", "")) or ""
        value = hp.get("FieldValue", hp.get("field_value", "")) or ""
        source_ip = bool(hp.get("SourceIP", hp.get("source_ip", False)))
        if field and field not in HASH_POLICY_FIELDS:
            raise ConfigEntryError(f'Bad LoadBalancer HashPolicy[{i}]: "{field}" is not a supported field')
        if source_ip and field:
            raise ConfigEntryError(f"Bad LoadBalancer HashPolicy[{i}]: A single hash policy cannot "
                                   f'hash both a source address and a "{field}"')
        if source_ip and value:
            raise ConfigEntryError(f"Bad LoadBalancer HashPolicy[{i}]: A FieldValue cannot be "
                                   "specified when hashing SourceIP")
        if field and not value:
            raise ConfigEntryError(f'Bad LoadBalancer HashPolicy[{i}]: Field "{field}" was '
                                   "specified without a FieldValue")
        if value and not field:
            raise ConfigEntryError(f"Bad LoadBalancer HashPolicy[{i}]: FieldValue requires a "
                                   "Field to apply to")

