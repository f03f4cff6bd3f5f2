"""Client settings, with defaults from the ``CONSUL_*`` environment like Consul's ``api.DefaultConfig``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from proconsul.api.errors import ClientError

DEFAULT_ADDRESS = "127.0.0.1:8500"


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


@dataclass
class TLSConfig:
    server_name: str = ""
    ca_file: str = ""
    ca_path: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass
class Config:
    """Where the agent is and how to talk to it.

    ``address`` is ``host:port`` or ``unix:///path``; ``scheme`` is ``http`` or ``https``.
    """

    address: str = DEFAULT_ADDRESS
    scheme: str = "http"
    datacenter: str = ""
    token: str = ""
    token_file: str = ""
    namespace: str = ""
    partition: str = ""
    http_auth: tuple[str, str] | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)

    def set_address(self, address: str) -> None:
        """Accept ``host:port``, ``http://…``, ``https://…`` or ``unix://…`` as Consul does."""
        if address.startswith("https://"):
            self.scheme, self.address = "https", address[len("https://"):]
        elif address.startswith("http://"):
            self.scheme, self.address = "http", address[len("http://"):]
        else:
            self.address = address

    def effective_token(self) -> str:
        """The token: ``token_file``'s content when it has one (it wins over ``token``, as in
        Consul's api.NewClient), else ``token``."""
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    text = f.read().strip()
            except OSError as err:
                reason = (err.strerror or str(err)).lower()  # Go's *PathError wording
                raise ClientError(f"Error loading token file: open {self.token_file}: "
                                  f"{reason}") from None
            if text:
                return text
        return self.token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        config = cls()
        if env.get("CONSUL_HTTP_ADDR"):
            config.set_address(env["CONSUL_HTTP_ADDR"])
        config.token = env.get("CONSUL_HTTP_TOKEN", "")
        config.token_file = env.get("CONSUL_HTTP_TOKEN_FILE", "")
        if env.get("CONSUL_HTTP_AUTH"):
            user, _, password = env["CONSUL_HTTP_AUTH"].partition(":")
            config.http_auth = (user, password)
        if env.get("CONSUL_HTTP_SSL"):
            try:
                if parse_bool(env["CONSUL_HTTP_SSL"]):
                    config.scheme = "https"
            except ValueError:
                pass  # Consul logs and ignores a malformed value
        if env.get("CONSUL_HTTP_SSL_VERIFY"):
            try:
                config.tls.insecure_skip_verify = not parse_bool(env["CONSUL_HTTP_SSL_VERIFY"])
            except ValueError:
                pass
        config.tls.ca_file = env.get("CONSUL_CACERT", "")
        config.tls.ca_path = env.get("CONSUL_CAPATH", "")
        config.tls.cert_file = env.get("CONSUL_CLIENT_CERT", "")
        config.tls.key_file = env.get("CONSUL_CLIENT_KEY", "")
        config.tls.server_name = env.get("CONSUL_TLS_SERVER_NAME", "")
        config.namespace = env.get("CONSUL_NAMESPACE", "")
        config.partition = env.get("CONSUL_PARTITION", "")
        return config
