"""Config entries: decoding (JSON in both key styles, HCL), normalize and validate with
Consul's messages, and a JSON round trip of every kind."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.structs.config_entries import KINDS, ConfigEntryError, decode, decode_hcl, make_entry


def check(raw: dict) -> object:
    entry = decode(raw)
    entry.normalize()
    entry.validate()
    return entry


def error_of(raw: dict) -> str:
    with pytest.raises(ConfigEntryError) as info:
        check(raw)
    return info.value.message


def test_snake_and_camel_case_decode_to_the_same_entry():
    camel = decode({"Kind": "service-router", "Name": "web", "Routes": [
        {"Match": {"HTTP": {"PathPrefix": "/admin", "QueryParam": [{"Name": "x", "Present": True}]}},
         "Destination": {"Service": "admin", "ServiceSubset": "v1", "RequestTimeout": "3s",
                         "PrefixRewrite": "/"}}]})
    snake = decode({"kind": "service-router", "name": "web", "routes": [
        {"match": {"http": {"path_prefix": "/admin", "query_param": [{"name": "x", "present": True}]}},
         "destination": {"service": "admin", "service_subset": "v1", "request_timeout": 3_000_000_000,
                         "prefix_rewrite": "/"}}]})
    assert camel == snake
    assert camel.Routes[0].Destination.RequestTimeout == "3s"


def test_hcl_file_with_blocks_decodes():
    entry = decode_hcl('''
Kind = "service-intentions"
Name = "db"
Sources = [
  {
    Name   = "web"
    Action = "allow"
  },
  {
    Name = "api"
    Permissions = [
      {
        Action = "allow"
        HTTP {
          path_prefix = "/v1"
          methods     = ["get", "put"]
        }
      }
    ]
  },
]
Meta { owner = "team_a" }
''')
    entry.normalize()
    entry.validate()
    assert entry.Meta == {"owner": "team_a"}
    assert [s.Name for s in entry.Sources] == ["web", "api"]
    assert entry.Sources[1].Permissions[0].HTTP.Methods == ["GET", "PUT"]
    assert all(s.Precedence == 9 and s.Type == "consul" for s in entry.Sources)


def test_hcl_resolver_with_block_syntax():
    entry = decode_hcl('''
kind = "service-resolver"
name = "web"
default_subset = "v1"
subsets {
  v1 { filter = "Service.Meta.version == v1" }
  v2 {
    filter = "Service.Meta.version == v2"
    only_passing = true
  }
}
''')
    entry.normalize()
    entry.validate()
    assert sorted(entry.Subsets) == ["v1", "v2"]
    assert entry.Subsets["v2"].OnlyPassing is True


@pytest.mark.parametrize(("raw", "message"), [
    ({"Name": "web"}, "Payload does not contain a kind/Kind key at the top level"),
    ({"Kind": 3}, "Kind value in payload is not a string"),
    ({"Kind": "nope"}, "invalid config entry kind: nope"),
    ({"Kind": "service-defaults", "Name": "web", "Bogus": 1}, 'invalid config key "Bogus"'),
    ({"Kind": "service-defaults", "Name": "web", "Namespace": "x"},
     'invalid config key "Namespace", namespaces are a consul enterprise feature'),
    ({"Kind": "service-resolver", "Name": "web", "ConnectTimeout": "soon"},
     'time: invalid duration "soon"'),
])
def test_decode_errors(raw, message):
    with pytest.raises(ConfigEntryError) as info:
        decode(raw)
    assert info.value.message == message
    assert info.value.status == 400


def test_nested_unknown_key_names_its_path():
    with pytest.raises(ConfigEntryError, match='invalid config key "Routes.Match.Nope"'):
        decode({"Kind": "service-router", "Name": "web", "Routes": [{"Match": {"Nope": 1}}]})


def test_proxy_defaults_name_is_global():
    entry = check({"Kind": "proxy-defaults", "Config": {"protocol": "http"}})
    assert entry.Name == "global"
    assert entry.protocol() == "http"
    assert error_of({"Kind": "proxy-defaults", "Name": "other"}) == \
        'invalid name ("other"), only "global" is supported'


def test_mesh_entry_is_named_mesh():
    entry = check({"Kind": "mesh", "TransparentProxy": {"mesh_destinations_only": True}})
    assert entry.entry_name() == "mesh"
    assert entry.TransparentProxy.MeshDestinationsOnly is True


@pytest.mark.parametrize(("raw", "message"), [
    ({"Kind": "service-defaults"}, "Name is required"),
    ({"Kind": "service-defaults", "Name": "*"},
     "service-defaults name must be the name of a service, and not a wildcard"),
    ({"Kind": "service-defaults", "Name": "web", "Protocol": "udp"}, "invalid value for protocol: udp"),
    ({"Kind": "service-defaults", "Name": "web", "MutualTLSMode": "loose"},
     'Invalid MutualTLSMode "loose". Must be one of "", "strict", or "permissive".'),
    ({"Kind": "service-defaults", "Name": "web", "Destination": {"Addresses": ["a.example", "a.example"], "Port": 443}},
     "Duplicate address 'a.example' is not allowed"),
    ({"Kind": "service-defaults", "Name": "web", "Meta": {"k" * 129: "v"}},
     f'Meta key "{"k" * 129}" exceeds maximum length 128'),
    ({"Kind": "service-router", "Name": "web", "Routes": [{"Match": {"HTTP": {"PathExact": "x"}}}]},
     "Route[0] PathExact doesn't start with '/': \"x\""),
    ({"Kind": "service-router", "Name": "web", "Routes": [{"Match": {"HTTP": {"PathExact": "/x", "PathPrefix": "/"}}}]},
     "Route[0] should only contain at most one of PathExact, PathPrefix, or PathRegex"),
    ({"Kind": "service-router", "Name": "web", "Routes": [{"Match": {"HTTP": {"Methods": ["get", "GET"]}}}]},
     'Route[0] Methods contains "GET" more than once'),
    ({"Kind": "service-router", "Name": "web", "Routes": [{"Destination": {"PrefixRewrite": "/"}}]},
     "Route[0] cannot make use of PrefixRewrite without configuring either PathExact or PathPrefix"),
    ({"Kind": "service-router", "Name": "web", "Routes": [{"Destination": {"RetryOn": ["sometimes"]}}]},
     'Route[0] contains an invalid retry condition: "sometimes"'),
    ({"Kind": "service-splitter", "Name": "web"}, "no splits configured"),
    ({"Kind": "service-splitter", "Name": "web", "Splits": [{"Weight": 50}, {"Weight": 40, "Service": "b"}]},
     "the sum of all split weights must be 100, not 90.000000"),
    ({"Kind": "service-splitter", "Name": "web", "Splits": [{"Weight": 50}, {"Weight": 50, "Service": "web"}]},
     'split destination occurs more than once: service="web", subset="", namespace="", partition=""'),
    ({"Kind": "service-resolver", "Name": "web", "DefaultSubset": "v9"},
     'DefaultSubset "v9" is not a valid subset'),
    ({"Kind": "service-resolver", "Name": "web", "Subsets": {"V1": {}}},
     "Subset \"V1\" is invalid: must be 63 characters or less and contain only lowercase "
     "alphanumeric characters or '-' (can't start or end with '-')"),
    ({"Kind": "service-resolver", "Name": "web", "Redirect": {"Service": "a"}, "Failover": {"*": {"Service": "b"}}},
     "Redirect and Failover cannot both be set"),
    ({"Kind": "service-resolver", "Name": "web", "Redirect": {}}, "Redirect is empty"),
    ({"Kind": "service-resolver", "Name": "web", "Redirect": {"ServiceSubset": "v1"}},
     "Redirect.ServiceSubset defined without Redirect.Service"),
    ({"Kind": "service-resolver", "Name": "web", "Failover": {"v1": {"Service": "b"}}},
     'Bad Failover["v1"]: not a valid subset subset'),
    ({"Kind": "service-resolver", "Name": "web", "Failover": {"*": {}}},
     'Bad Failover["*"]: one of Service, ServiceSubset, Namespace, Targets, SamenessGroup, or '
     "Datacenters is required"),
    ({"Kind": "service-resolver", "Name": "web", "Failover": {"*": {"Datacenters": [""]}}},
     'Bad Failover["*"].Datacenters: found empty datacenter'),
    ({"Kind": "service-resolver", "Name": "web", "Failover": {"*": {"Service": "x", "Targets": [{"Service": "y"}]}}},
     'Bad Failover["*"]: Targets cannot be set with Service'),
    ({"Kind": "service-resolver", "Name": "web", "ConnectTimeout": "-1s"},
     "Bad ConnectTimeout '-1s', must be >= 0"),
    ({"Kind": "service-resolver", "Name": "web", "LoadBalancer": {"Policy": "fastest"}},
     'Bad LoadBalancer policy: "fastest" is not supported'),
    ({"Kind": "service-intentions", "Name": "db"}, "At least one source is required"),
    ({"Kind": "service-intentions", "Name": "d*"},
     "Name: wildcard character '*' cannot be used with partial values"),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web"}]},
     "Sources[0].Action must be set to 'allow' or 'deny'"),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow"}, {"Name": "web", "Action": "deny"}]},
     'Sources[1] defines "web" more than once'),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow", "Permissions": [{"Action": "allow", "HTTP": {"PathExact": "/"}}]}]},
     "Sources[0].Action must be omitted if Permissions are specified"),
    ({"Kind": "service-intentions", "Name": "*", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathExact": "/"}}]}]},
     "Sources[0].Permissions cannot be specified on intentions with wildcarded destinations"),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {}}]}]},
     "Sources[0].Permissions[0].HTTP should not be empty"),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow"}]}]},
     "Sources[0].Permissions[0].HTTP is required"),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"Methods": ["FETCH"]}}]}]},
     'Sources[0].Permissions[0].HTTP.Methods contains an invalid method "FETCH"'),
    ({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow", "LegacyMeta": {"a": "b"}}]},
     "Sources[0].LegacyMeta must be omitted"),
    ({"Kind": "ingress-gateway", "Name": "in", "Listeners": [{"Port": 80, "Protocol": "udp", "Services": [{"Name": "a"}]}]},
     "protocol must be 'tcp', 'http', 'http2', or 'grpc'. 'udp' is an unsupported protocol"),
    ({"Kind": "ingress-gateway", "Name": "in", "Listeners": [{"Port": 80, "Services": [{"Name": "a"}, {"Name": "b"}]}]},
     "Multiple services per listener are only supported for L7 protocols, 'http', 'grpc' and 'http2' (listener on port 80)"),
    ({"Kind": "ingress-gateway", "Name": "in", "Listeners": [{"Port": 80, "Protocol": "http", "Services": [{"Name": "a", "Hosts": ["a.*.com"]}]}]},
     'Host "a.*.com" is not valid, a wildcard specifier is only allowed as the leftmost label'),
    ({"Kind": "api-gateway", "Name": "gw", "Listeners": [{"Name": "Bad_Name", "Port": 80, "Protocol": "http"}]},
     'listener name "Bad_Name" is invalid, must be at least 1 character and contain only letters, numbers, or dashes'),
    ({"Kind": "api-gateway", "Name": "gw"}, "api gateway must have at least one listener"),
    ({"Kind": "http-route", "Name": "r", "Parents": [{"Name": "gw"}], "Rules": [{"Matches": [{"Path": {"Match": "exact", "Value": "x"}}]}]},
     "Rule[0], Match[0], Path, exact type match doesn't start with '/': \"x\""),
    ({"Kind": "tcp-route", "Name": "r", "Parents": [{"Name": "gw"}, {"Name": "gw"}]}, "route parents must be unique"),
    ({"Kind": "terminating-gateway", "Name": "t", "Services": [{"Name": "a", "CertFile": "c"}]},
     'Service "a" must have a CertFile, CAFile, and KeyFile specified for TLS origination'),
])
def test_validation_messages(raw, message):
    assert error_of(raw) == message


def test_splitter_weights_round_to_hundredths():
    entry = check({"Kind": "service-splitter", "Name": "web", "Splits": [
        {"Weight": 50.004, "ServiceSubset": "a"}, {"Weight": 49.996, "ServiceSubset": "b"}]})
    assert [s.Weight for s in entry.Splits] == [50.0, 50.0]
    assert error_of({"Kind": "service-splitter", "Name": "web", "Splits": [
        {"Weight": 33.333, "ServiceSubset": "a"}, {"Weight": 33.333, "ServiceSubset": "b"},
        {"Weight": 33.334, "ServiceSubset": "c"}]}) == \
        "the sum of all split weights must be 100, not 99.990000"


def test_intentions_sources_sorted_by_precedence():
    entry = check({"Kind": "service-intentions", "Name": "db", "Sources": [
        {"Name": "*", "Action": "deny"}, {"Name": "web", "Action": "allow"}]})
    assert [(s.Name, s.Precedence) for s in entry.Sources] == [("web", 9), ("*", 8)]
    wild = check({"Kind": "service-intentions", "Name": "*", "Sources": [
        {"Name": "*", "Action": "deny"}, {"Name": "web", "Action": "allow"}]})
    assert [(s.Name, s.Precedence) for s in wild.Sources] == [("web", 6), ("*", 5)]


SAMPLES = {
    "service-defaults": {"Name": "web", "Protocol": "http", "MeshGateway": {"Mode": "local"},
                         "Expose": {"Checks": True}, "Meta": {"a": "b"}},
    "proxy-defaults": {"Name": "global", "Config": {"protocol": "http", "nested": {"x": [1, 2]}},
                       "AccessLogs": {"Enabled": True}},
    "service-router": {"Name": "web", "Routes": [{"Match": {"HTTP": {"PathPrefix": "/a"}},
                                                   "Destination": {"Service": "a"}}]},
    "service-splitter": {"Name": "web", "Splits": [{"Weight": 90}, {"Weight": 10, "Service": "b"}]},
    "service-resolver": {"Name": "web", "DefaultSubset": "v1",
                         "Subsets": {"v1": {"Filter": "Service.Meta.v == 1"}},
                         "Failover": {"*": {"Datacenters": ["dc2"]}}, "RequestTimeout": "1m30s"},
    "ingress-gateway": {"Name": "in", "Listeners": [{"Port": 8080, "Protocol": "http",
                                                      "Services": [{"Name": "*"}]}]},
    "terminating-gateway": {"Name": "t", "Services": [{"Name": "legacy", "SNI": "x.example"}]},
    "service-intentions": {"Name": "db", "Sources": [{"Name": "web", "Action": "allow"}]},
    "mesh": {"TransparentProxy": {"MeshDestinationsOnly": True}},
    "exported-services": {"Name": "default", "Services": [{"Name": "web", "Consumers": [{"Peer": "p"}]}]},
    "api-gateway": {"Name": "gw", "Listeners": [{"Name": "l", "Port": 443, "Protocol": "http"}]},
    "http-route": {"Name": "r", "Parents": [{"Kind": "api-gateway", "Name": "gw"}],
                   "Rules": [{"Services": [{"Name": "web"}]}], "Hostnames": ["app.example.com"]},
    "tcp-route": {"Name": "r", "Parents": [{"Name": "gw"}], "Services": [{"Name": "db"}]},
    "jwt-provider": {"Name": "okta", "JSONWebKeySet": {"Remote": {"URI": "https://x/keys"}}},
    "control-plane-request-limit": {"Name": "global", "Mode": "permissive", "ReadRate": 100.0},
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_round_trips_through_json(kind):
    entry = check({"Kind": kind, **SAMPLES[kind]})
    wire = msgspec.json.encode(entry)
    again = check(msgspec.json.decode(wire))
    assert again == entry
    assert msgspec.json.decode(wire)["Kind"] == kind


def test_every_ce_kind_is_known():
    assert set(KINDS) >= {
        "service-defaults", "proxy-defaults", "service-router", "service-splitter",
        "service-resolver", "service-intentions", "ingress-gateway", "terminating-gateway",
        "mesh", "exported-services", "api-gateway", "http-route", "tcp-route",
        "inline-certificate", "jwt-provider", "sameness-group", "control-plane-request-limit"}
    assert make_entry("service-resolver", "web").Name == "web"
    with pytest.raises(ConfigEntryError, match="invalid config entry kind: x"):
        make_entry("x")


def test_irregular_alias_peer_name():
    entry = check({"Kind": "exported-services", "Name": "default", "Services": [
        {"Name": "web", "Consumers": [{"peer_name": "east"}]}]})
    assert entry.Services[0].Consumers[0].Peer == "east"


@pytest.mark.parametrize(("raw", "message"), [
    ({"Kind": "exported-services", "Name": "other"}, 'exported-services Name must be "default"'),
    ({"Kind": "exported-services", "Name": "default", "Services": [{"Name": "web"}]},
     "Services[0]: must have at least one consumer"),
    ({"Kind": "exported-services", "Name": "default", "Services": [{"Name": "web", "Consumers": [{"Peer": "*"}]}]},
     "Services[0].Consumers[0]: exporting to all peers (wildcard) is not supported"),
    ({"Kind": "exported-services", "Name": "default", "Services": [{"Name": "web", "Consumers": [{"Partition": "p2"}]}]},
     "Services[0].Consumers[0]: partitions are an enterprise-only feature"),
    ({"Kind": "jwt-provider", "Name": "okta"}, "JSONWebKeySet is required"),
    ({"Kind": "jwt-provider", "Name": "okta", "JSONWebKeySet": {"Local": {"JWKS": "e30="}, "Remote": {"URI": "https://x"}}},
     "must specify exactly one of Local or Remote JSON Web key set"),
    ({"Kind": "jwt-provider", "Name": "okta", "JSONWebKeySet": {"Local": {"JWKS": "not base64!"}}},
     "JWKS must be valid base64 encoded string"),
    ({"Kind": "jwt-provider", "Name": "okta", "JSONWebKeySet": {"Remote": {"URI": "https://x/keys"}},
      "Locations": [{"Header": {"Name": "a"}, "Cookie": {"Name": "b"}}]},
     "must set exactly one of: JWT location header, query param or cookie"),
    ({"Kind": "jwt-provider", "Name": "okta", "JSONWebKeySet": {"Remote": {"URI": "https://x/keys"}},
      "Forwarding": {"PadForwardPayloadHeader": True}},
     "Header name required for forwarding config"),
    ({"Kind": "mesh", "TLS": {"Incoming": {"TLSMinVersion": "TLSv9"}}},
     "error in incoming TLS configuration: TLSv9 is not a valid TLS version"),
    ({"Kind": "sameness-group", "Name": "sg"}, "sameness-groups are an enterprise-only feature"),
    ({"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {"Overrides": [{"Name": "*"}]}},
     "error in upstream override for *: Wildcard name is not supported"),
    ({"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {"Defaults": {"Name": "db"}}},
     "error in upstream defaults: Name must be empty"),
    ({"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {"Overrides": [
        {"Name": "db", "Limits": {"MaxConnections": -1}}]}},
     "error in upstream override for db: max connections cannot be negative"),
    ({"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {"Overrides": [{"Name": "db"}]},
      "Destination": {"Addresses": ["x.example"], "Port": 80}},
     "UpstreamConfig and Destination are mutually exclusive for service defaults"),
    ({"Kind": "proxy-defaults", "AccessLogs": {"Enabled": True, "Type": "stdin"}},
     "invalid access log type: stdin"),
    ({"Kind": "proxy-defaults", "AccessLogs": {"Type": "file"}},
     "path must be specified when using file type access logs"),
    ({"Kind": "inline-certificate", "Name": "c", "Certificate": "x", "PrivateKey": "y"},
     "failed to parse private key PEM"),
])
def test_more_validation_messages(raw, message):
    assert error_of(raw) == message


def test_mesh_has_no_name_field():
    with pytest.raises(ConfigEntryError, match='invalid config key "Name"'):
        decode({"Kind": "mesh", "Name": "mesh"})


def test_jwt_provider_defaults_clock_skew():
    entry = check({"kind": "jwt-provider", "name": "okta",
                   "json_web_key_set": {"remote": {"uri": "https://x/keys", "cache_duration": "5m"}}})
    assert entry.ClockSkewSeconds == 30
    assert entry.JSONWebKeySet.Remote.CacheDuration == "5m0s"


def _cert_pair(cn: str, key_size: int = 2048) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("gw.example.com")]), False)
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key


def test_inline_certificate_checks_the_pair():
    cert, key = _cert_pair("gw.example.com")
    check({"Kind": "inline-certificate", "Name": "gw", "Certificate": cert, "PrivateKey": key})
    _, other_key = _cert_pair("gw.example.com")
    assert error_of({"Kind": "inline-certificate", "Name": "gw", "Certificate": cert,
                     "PrivateKey": other_key}) == "tls: private key does not match public key"


def test_rate_limit_entry_round_trips_without_validation():
    entry = check({"Kind": "control-plane-request-limit", "Name": "global", "Mode": "enforcing",
                   "ReadRate": 100, "KV": {"WriteRate": 5}})
    assert entry.KV.WriteRate == 5.0
    assert decode(msgspec.json.decode(msgspec.json.encode(entry))) == entry


def test_upstream_connect_timeout_is_clamped_not_refused():
    entry = check({"Kind": "service-defaults", "Name": "web", "UpstreamConfig": {
        "Overrides": [{"Name": "db", "ConnectTimeoutMs": -5, "Protocol": "HTTP"}]}})
    override = entry.UpstreamConfig.Overrides[0]
    assert (override.ConnectTimeoutMs, override.Protocol) == (0, "http")


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_survives_msgpack(kind):
    from proconsul.structs.config_entries import load

    entry = check({"Kind": kind, **SAMPLES[kind]})
    assert load(msgspec.msgpack.decode(msgspec.msgpack.encode(entry))) == entry


def test_load_refuses_unknown_kind():
    from proconsul.structs.config_entries import load

    with pytest.raises(ConfigEntryError, match="invalid config entry kind: nope"):
        load({"Kind": "nope"})


DOC_HCL = {
    "service-router": '''
Kind = "service-router"
Name = "web"
Routes = [
  {
    Match {
      HTTP {
        PathPrefix = "/admin"
        Header = [
          {
            Name  = "x-debug"
            Exact = "1"
          },
        ]
      }
    }
    Destination {
      Service        = "admin"
      RequestTimeout = "10s"
      NumRetries     = 3
      RetryOnConnectFailure = true
    }
  },
]
''',
    "ingress-gateway": '''
Kind = "ingress-gateway"
Name = "us-east-ingress"
TLS {
  Enabled = true
}
Listeners = [
  {
    Port     = 8080
    Protocol = "http"
    Services = [
      {
        Name  = "api"
        Hosts = ["api.example.com"]
      },
      {
        Name = "web"
      }
    ]
  },
  {
    Port     = 3306
    Protocol = "tcp"
    Services = [{ Name = "db" }]
  }
]
''',
    "proxy-defaults": '''
Kind = "proxy-defaults"
Name = "global"
Config {
  protocol                   = "http"
  local_connect_timeout_ms   = 1000
}
MeshGateway {
  Mode = "local"
}
''',
    "service-resolver": '''
Kind           = "service-resolver"
Name           = "web"
ConnectTimeout = "15s"
Failover = {
  "*" = {
    Datacenters = ["dc3", "dc4"]
  }
}
''',
}


@pytest.mark.parametrize("kind", sorted(DOC_HCL))
def test_documented_hcl_examples_decode_and_round_trip(kind):
    entry = decode_hcl(DOC_HCL[kind])
    entry.normalize()
    entry.validate()
    assert entry.Kind == kind
    assert decode(msgspec.json.decode(msgspec.json.encode(entry))) == entry


def test_documented_hcl_values():
    router = decode_hcl(DOC_HCL["service-router"])
    dest = router.Routes[0].Destination
    assert (dest.Service, dest.RequestTimeout, dest.NumRetries, dest.RetryOnConnectFailure) == (
        "admin", "10s", 3, True)
    assert router.Routes[0].Match.HTTP.Header[0].Exact == "1"
    ingress = decode_hcl(DOC_HCL["ingress-gateway"])
    assert [len(x.Services) for x in ingress.Listeners] == [2, 1]
    assert ingress.TLS.Enabled is True
    proxy = decode_hcl(DOC_HCL["proxy-defaults"])
    assert proxy.Config == {"protocol": "http", "local_connect_timeout_ms": 1000}
    assert proxy.MeshGateway.Mode == "local"
    resolver = decode_hcl(DOC_HCL["service-resolver"])
    assert resolver.Failover["*"].Datacenters == ["dc3", "dc4"]


def test_bad_hcl_is_a_decode_error():
    with pytest.raises(ConfigEntryError, match="Failed to decode config entry input"):
        decode_hcl('Kind = "service-defaults"\nName = ')
