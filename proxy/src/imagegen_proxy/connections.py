"""The proxy's upstream connection pool: httpx's client API over aiohttp's connections.

The core sends through `httpx`; on a server that is the hot path, and httpcore's pool costs about
1 ms of CPU per request at 16 concurrent requests (it polls every idle connection on each request,
through anyio), more than the rest of the proxy together. aiohttp's pool does the same work in
about 55 µs. `AiohttpTransport` is an `httpx.AsyncBaseTransport`, so plugins, auth flows, retries
and error mapping are unchanged: only the connections differ. Bodies stream both ways: an upload is
sent from its files as it is read, never held whole.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import aiohttp
import httpx
from yarl import URL


@functools.lru_cache(maxsize=256)
def _url(url: str) -> URL:
    return URL(url, encoded=True)  # httpx already encoded it; a server calls the same few endpoints


@functools.lru_cache(maxsize=64)
def _timeout(pool: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(connect=pool, sock_connect=connect, sock_read=read)  # a few per config


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp connection pool (created on first use, in the running loop).

    No cap on connections (`max_connections=0`): what bounds them is the process's file-descriptor
    limit, which the proxy watches (`capacity`), refusing new requests before it is reached.
    """

    def __init__(self, max_connections: int = 0, keepalive_expiry: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=httpx.create_ssl_context()
            )
            # httpx decodes content-encoding and keeps cookies itself; aiohttp must do neither.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                skip_auto_headers=("accept", "accept-encoding", "user-agent"),  # httpx sets its own
            )  # fmt: skip
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = _timeout(timeouts.get("pool"), timeouts.get("connect"), timeouts.get("read"))
        if isinstance(request.stream, httpx.ByteStream):
            data: bytes | AsyncIterator[bytes] | None = await request.aread() or None
        else:  # an upload streamed from its files (`MultipartForm`), with its Content-Length: never held whole
            data = aiter(request.stream)  # type: ignore[arg-type]
        try:
            response = await self._pool().request(
                request.method, _url(str(request.url)), data=data, headers=request.headers.multi_items(),
                allow_redirects=False, timeout=timeout,
            )  # fmt: skip
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    """A response body read as it arrives; closing it before the end drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk, _ in self._response.content.iter_chunks():  # as received: no re-chunking copies
                if chunk:
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


def _httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error the core knows how to retry and map, for an aiohttp failure."""
    message = str(exc) or type(exc).__name__
    error: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = httpx.ConnectTimeout
    elif isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one
        error = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        error = httpx.RemoteProtocolError  # closed early, a truncated body, or not HTTP at all
    elif isinstance(exc, aiohttp.ClientConnectionError):
        error = httpx.ReadError
    else:
        error = httpx.RemoteProtocolError
    return error(message, request=request)
