"""HTTP checks (Consul's CheckHTTP): 2xx passing, 429 warning, anything else critical."""

from __future__ import annotations

import asyncio
import os
import ssl
from http import HTTPStatus
from typing import Any

import aiohttp
from multidict import CIMultiDict

from proconsul.agent.checks.base import IntervalRunner, TailBuffer
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, HEALTH_WARNING

USER_AGENT = "Consul Health Check"
ACCEPT = "text/plain, text/*, */*"
MAX_REDIRECTS = 10  # Go's http.Client default


class HTTPRunner(IntervalRunner):
    """Sends ``Method`` (default GET) to ``HTTP`` with ``Header``/``Body``.

    Keep-alives are off (one connection per probe, as Consul disables them).
    The output is "HTTP <METHOD> <url>: <code> <reason> Output: <body tail>".
    """

    kind = "http"

    def __init__(self, check_id: str, update: Any, *, url: str, method: str = "",
                 header: dict[str, list[str]] | None = None, body: str = "",
                 disable_redirects: bool = False, ssl_context: ssl.SSLContext | None = None,
                 server_name: str = "", output_max_size: int, **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.url = url
        self.method = method or "GET"
        self.header = header or {}
        self.body = body
        self.disable_redirects = disable_redirects
        self.ssl_context = ssl_context
        self.server_name = server_name
        self.output_max_size = output_max_size
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, values in self.header.items():
            for value in values:
                headers.add(name, value)
        if not headers.get("User-Agent"):
            headers["User-Agent"] = USER_AGENT
        if not headers.get("Accept"):
            headers["Accept"] = ACCEPT
        return headers

    async def probe(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(force_close=True, ssl=self.ssl_context or True)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        extra: dict[str, Any] = {}
        if self.server_name:
            extra["server_hostname"] = self.server_name
        try:
            async with self._session.request(
                    self.method, self.url, headers=self._headers(),
                    data=self.body.encode() if self.body else None,
                    allow_redirects=not self.disable_redirects, max_redirects=MAX_REDIRECTS,
                    timeout=aiohttp.ClientTimeout(total=self.timeout), **extra) as response:
                buffer = TailBuffer(self.output_max_size)
                try:
                    async for chunk in response.content.iter_chunked(65536):
                        buffer.write(chunk)
                except (aiohttp.ClientError, TimeoutError):
                    pass  # Consul logs body read errors and reports what it got
                code = response.status
                reason = response.reason or _reason(code)
        except TimeoutError:
            self.report(HEALTH_CRITICAL, f'{_go_method(self.method)} "{self.url}": '
                        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
            return
        except aiohttp.TooManyRedirects:
            self.report(HEALTH_CRITICAL,
                        f'{_go_method(self.method)} "{self.url}": stopped after 10 redirects')
            return
        except (aiohttp.ClientError, OSError, ValueError) as err:
            self.report(HEALTH_CRITICAL, f'{_go_method(self.method)} "{self.url}": {_error_text(err)}')
            return
        result = f"HTTP {self.method} {self.url}: {code} {reason} Output: {buffer.text()}"
        if 200 <= code <= 299:
            self.report(HEALTH_PASSING, result)
        elif code == 429:
            self.report(HEALTH_WARNING, result)
        else:
            self.report(HEALTH_CRITICAL, result)

    async def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
            await asyncio.sleep(0)


def _go_method(method: str) -> str:
    # Go's url.Error prints the method as "Get", "Post", ...
    return method[:1].upper() + method[1:].lower()


def _reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "status code " + str(code)


def _error_text(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorError) and err.os_error is not None:
        os_error = err.os_error
        if isinstance(os_error, ssl.SSLError | ssl.CertificateError):
            return f"tls: {os_error}"
        code = getattr(os_error, "errno", None)
        if code:
            return f"dial tcp {err.host}:{err.port}: connect: {os.strerror(code).lower()}"
    return str(err) or type(err).__name__
