"""What every client command shares: HTTP flags, help text, exit codes, the API client."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proconsul.api import Client, ClientError, Config, QueryOptions
from proconsul.cli.flags import FlagError, FlagSet, HelpRequested

CLIENT_FLAGS = {
    "http-addr": "The `address` and port of the Consul HTTP agent. The value can be an IP "
                 "address or DNS address, but it must also include the port. This can also be "
                 "specified via the CONSUL_HTTP_ADDR environment variable. The default value "
                 "is http://127.0.0.1:8500. The scheme can also be set to HTTPS by setting the "
                 "environment variable CONSUL_HTTP_SSL=true.",
    "token": "ACL token to use in the request. This can also be specified via the "
             "CONSUL_HTTP_TOKEN environment variable. If unspecified, the query will default "
             "to the token of the Consul agent at the HTTP address.",
    "token-file": "File containing the ACL token to use in the request instead of one "
                  "specified via the -token argument or CONSUL_HTTP_TOKEN environment "
                  "variable. This can also be specified via the CONSUL_HTTP_TOKEN_FILE "
                  "environment variable.",
    "ca-file": "Path to a CA file to use for TLS when communicating with Consul. This can "
               "also be specified via the CONSUL_CACERT environment variable.",
    "ca-path": "Path to a directory of CA certificates to use for TLS when communicating "
               "with Consul. This can also be specified via the CONSUL_CAPATH environment "
               "variable.",
    "client-cert": "Path to a client cert file to use for TLS when 'verify_incoming' is "
                   "enabled. This can also be specified via the CONSUL_CLIENT_CERT "
                   "environment variable.",
    "client-key": "Path to a client key file to use for TLS when 'verify_incoming' is "
                  "enabled. This can also be specified via the CONSUL_CLIENT_KEY environment "
                  "variable.",
    "tls-server-name": "The server name to use as the SNI host when connecting via TLS. This "
                       "can also be specified via the CONSUL_TLS_SERVER_NAME environment "
                       "variable.",
}
SERVER_FLAGS = {
    "datacenter": "Name of the datacenter to query. If unspecified, this will default to the "
                  "datacenter of the queried agent.",
}
STALE_USAGE = ("Permit any Consul server (non-leader) to respond to this request. This allows "
               "for lower latency and higher throughput, but can result in stale data. This "
               "option has no effect on non-read operations. The default value is false.")


@dataclass
class Context:
    """A parsed command line: flag values, positional arguments, and the client to use."""

    values: dict[str, Any]
    args: list[str]
    given: set[str]
    out: Any = field(default_factory=lambda: sys.stdout)
    err: Any = field(default_factory=lambda: sys.stderr)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def info(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def error(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def config(self) -> Config:
        """Consul's HTTPFlags.APIClient: environment defaults, then the flags given."""
        config = Config.from_env()
        v = self.values
        if v.get("http-addr"):
            config.set_address(v["http-addr"])
        if v.get("token"):
            config.token = v["token"]
        if v.get("token-file"):
            config.token_file = v["token-file"]
        for flag, attr in (("ca-file", "ca_file"), ("ca-path", "ca_path"),
                           ("client-cert", "cert_file"), ("client-key", "key_file"),
                           ("tls-server-name", "server_name")):
            if v.get(flag):
                setattr(config.tls, attr, v[flag])
        if v.get("datacenter"):
            config.datacenter = v["datacenter"]
        return config

    def client(self) -> Client:
        return Client(self.config())

    def query_options(self, **kw: Any) -> QueryOptions:
        return QueryOptions(allow_stale=bool(self.values.get("stale")), **kw)


@dataclass
class Command:
    """A client command: usage text, its own flags and what it does."""

    usage: str
    synopsis: str
    run: Callable[[Context], int]
    flags: Callable[[FlagSet], None] = lambda fs: None
    http: bool = True

    def flagset(self) -> FlagSet:
        fs = FlagSet("")
        if self.http:
            for name, usage in {**CLIENT_FLAGS, **SERVER_FLAGS}.items():
                fs.string(name, "", usage)
            fs.boolean("stale", False, STALE_USAGE)
        self.flags(fs)
        return fs

    def help(self) -> str:
        fs = self.flagset()
        text = self.usage.strip("\n")
        http_names = {*CLIENT_FLAGS, *SERVER_FLAGS, "stale"}
        own = fs.names() - http_names
        if self.http:
            text += "\n\nHTTP API Options\n\n" + fs.usage(http_names)
        if own:
            text += "\n\nCommand Options\n\n" + fs.usage(own)
        return text

    def __call__(self, args: list[str]) -> int:
        fs = self.flagset()
        try:
            values, rest = fs.parse(args)
        except HelpRequested:
            print(self.help())
            return 0
        except FlagError as err:
            print(f"{err}\n{self.help()}", file=sys.stderr)
            return 1
        try:
            return self.run(Context(values, rest, fs.given))
        except ClientError as err:  # e.g. an unreadable token file: Consul's APIClient error
            print(f"Error connecting to Consul agent: {err}", file=sys.stderr)
            return 1


def parse_map(items: list[str], sep: str = "=") -> dict[str, str]:
    """Consul's FlagMapValue: repeated ``key=value`` flags as a dict."""
    return dict(item.partition(sep)[::2] for item in items)


def stop_on_interrupt() -> None:
    """Let SIGINT stop a long-running command even when its parent started it with SIGINT
    ignored (a background job, a test runner's worker): Consul's commands catch it through
    Go's signal.Notify, which honours it in that case; Python would keep it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
