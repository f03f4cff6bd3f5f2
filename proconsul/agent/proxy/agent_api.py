"""The local agent's HTTP API as the built-in proxy uses it: blocking reads of its
registration, leaf and roots, passing upstream instances, and authorize calls."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

BLOCK_WAIT = 60.0  # seconds a blocking read may park at the agent
CALL_TIMEOUT = 10.0  # seconds for a non-blocking call


class AgentAPIError(Exception):
    """The agent answered with an error status or could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}" if status else message)
        self.status = status


@dataclass(frozen=True)
class AgentEndpoint:
    """Where the local agent's HTTP API is and how to talk to it."""

    address: str  # host:port, or unix:///path
    scheme: str = "http"
    token: str = ""
    ssl_context: ssl.SSLContext | None = None


class AgentAPI:
    """One kept-alive aiohttp session to the local agent."""

    def __init__(self, endpoint: AgentEndpoint) -> None:
        self.endpoint = endpoint
        self._session: aiohttp.ClientSession | None = None
        if endpoint.address.startswith("unix://"):
            self._base = "http://localhost"
        else:
            self._base = f"{endpoint.scheme}://{endpoint.address}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self.endpoint.address.startswith("unix://"):
                connector: aiohttp.BaseConnector = aiohttp.UnixConnector(
                    path=self.endpoint.address[len("unix://"):])
            else:
                connector = aiohttp.TCPConnector(ssl=self.endpoint.ssl_context or True,
                                                 limit=0)
            headers = {"X-Consul-Token": self.endpoint.token} if self.endpoint.token else {}
            self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def call(self, method: str, path: str, params: dict[str, str] | None = None,
                   body: Any = None, timeout: float = CALL_TIMEOUT
                   ) -> tuple[Any, dict[str, str]]:
        """Send one request; the decoded JSON body and the headers, or AgentAPIError."""
        url = self._base + urllib.parse.quote(path, safe="/:@")
        data = None if body is None else json.dumps(body).encode()
        try:
            async with self._client().request(
                    method, url, params=params or {}, data=data,
                    timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
                raw = await reply.read()
                if reply.status != 200:
                    text = raw.decode(errors="replace").strip()
                    raise AgentAPIError(reply.status, text or reply.reason or "")
                return (json.loads(raw) if raw.strip() else None), dict(reply.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise AgentAPIError(0, f"{method} {path}: {err or type(err).__name__}") from None

    async def _blocking(self, path: str, params: dict[str, str]) -> tuple[Any, dict[str, str]]:
        params = {**params, "wait": f"{int(BLOCK_WAIT)}s"}
        return await self.call("GET", path, params, timeout=BLOCK_WAIT * 1.5 + 5)

    async def service(self, service_id: str, last_hash: str = "") -> tuple[dict, str]:
        """The registration; blocks while its ContentHash is still ``last_hash``."""
        params = {"hash": last_hash} if last_hash else {}
        body, headers = await self._blocking(f"/v1/agent/service/{service_id}", params)
        return body, headers.get("X-Consul-ContentHash", "")

    async def leaf(self, service: str, index: int = 0) -> tuple[dict, int]:
        body, headers = await self._blocking(f"/v1/agent/connect/ca/leaf/{service}",
                                             _index(index))
        return body, _header_index(headers)

    async def roots(self, index: int = 0) -> tuple[dict, int]:
        body, headers = await self._blocking("/v1/agent/connect/ca/roots", _index(index))
        return body, _header_index(headers)

    async def connect_health(self, service: str, datacenter: str = "",
                             index: int = 0) -> tuple[list, int]:
        """Passing Connect-capable instances of ``service``; blocks on ``index``."""
        params = {"passing": "1", **_index(index)}
        if datacenter:
            params["dc"] = datacenter
        body, headers = await self._blocking(f"/v1/health/connect/{service}", params)
        return body or [], _header_index(headers)

    async def execute_query(self, name: str, datacenter: str = "") -> list:
        """The Connect-capable instances a prepared query answers with."""
        params = {"connect": "true", **({"dc": datacenter} if datacenter else {})}
        body, _ = await self.call("GET", f"/v1/query/{name}/execute", params)
        return (body or {}).get("Nodes") or []

    async def authorize(self, target: str, client_uri: str, serial: str) -> tuple[bool, str]:
        body, _ = await self.call("POST", "/v1/agent/connect/authorize", body={
            "Target": target, "ClientCertURI": client_uri, "ClientCertSerial": serial})
        return bool(body.get("Authorized")), str(body.get("Reason", ""))

    async def register(self, registration: dict[str, Any]) -> None:
        await self.call("PUT", "/v1/agent/service/register", body=registration)

    async def deregister(self, service_id: str) -> None:
        await self.call("PUT", f"/v1/agent/service/deregister/{service_id}")

    async def pass_ttl(self, check_id: str) -> None:
        await self.call("PUT", f"/v1/agent/check/pass/{check_id}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _index(index: int) -> dict[str, str]:
    return {"index": str(index)} if index > 0 else {}


def _header_index(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("X-Consul-Index", "0"))
    except ValueError:
        return 0


async def sleep_backoff(failures: int, low: float = 0.5, high: float = 10.0) -> None:
    """Wait before retrying a failed agent call: ``low`` doubling up to ``high``."""
    await asyncio.sleep(min(high, low * 2 ** max(failures - 1, 0)))
