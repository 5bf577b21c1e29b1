"""Sending a plugin's request: shared connection pools, retries with backoff, transport errors.

One `httpx.Client` per process and one `httpx.AsyncClient` per event loop (an async client's
connections belong to the loop that opened them), with no fixed cap on connections: a process may
have as many requests in flight as its file descriptors allow. A plugin's own transport
(`ProviderRequest.transport`, an in-process provider) gets a client of its own. The sync and async paths
share every decision; only the I/O and the sleep differ. An observed call (`imagegen.observe`) is told of
every exchange.

`timeout` is one deadline for the whole send: every attempt, the waits between them and the body, not
only each read. An upstream that answers one byte a second, or whose answer never ends, is cut at the
deadline; a retry whose wait would end past it is not made (the last answer, or error, is the result).
Async sends bound each attempt with a timer; sync ones, and a body streamed after `asend` returns, check
the deadline between body chunks (a stall there is cut by the per-read timeout, the time left). A body
over `MAX_RESPONSE_BYTES` is refused rather than held in memory.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import functools
import json
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .exceptions import APIConnectionError, ImageGenError, PluginError, Timeout
from .multipart import MultipartForm
from .provider import ProviderRequest

if TYPE_CHECKING:
    from .observe import Exchange, ExchangeKind, Observer

DEFAULT_TIMEOUT = 600.0
DEFAULT_NUM_RETRIES = 2
RETRY_STATUSES = frozenset({408, 409, 429})
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0
_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=30)
MAX_RESPONSE_BYTES = 1 << 30
"""The largest upstream body read (1 GiB: ten 4K PNGs in base64 are a few hundred MB); more is an upstream fault."""
_USER_AGENT = "imagegen"
INITIAL_BACKOFF = 0.5
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})

_sync_client: httpx.Client | None = None
_sync_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_C = TypeVar("_C", httpx.Client, httpx.AsyncClient)
_own_transport_clients: weakref.WeakKeyDictionary[object, httpx.Client] = weakref.WeakKeyDictionary()
_own_transport_async_clients: weakref.WeakKeyDictionary[object, httpx.AsyncClient] = weakref.WeakKeyDictionary()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing.

    The shared clients serve every caller (and every proxy user): a cookie one upstream answer sets must
    never ride on another caller's request. Not reading `Set-Cookie` at all also saves httpx's urllib
    adapters on every response.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


_NO_COOKIES = _NoCookies()


class _Cookieless:
    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("imagegen's shared HTTP clients keep no cookies")


class _Client(_Cookieless, httpx.Client):
    pass


class _AsyncClient(_Cookieless, httpx.AsyncClient):
    pass


def seconds(timeout: float | None) -> float:
    """A call's `timeout` option in seconds: None means `DEFAULT_TIMEOUT`."""
    return DEFAULT_TIMEOUT if timeout is None else float(timeout)


def sync_client() -> httpx.Client:
    """The process-wide pooled client."""
    global _sync_client
    if _sync_client is None:
        with _sync_lock:
            if _sync_client is None:
                _sync_client = _Client(limits=_LIMITS, headers={"user-agent": _USER_AGENT})
    return _sync_client


def async_client() -> httpx.AsyncClient:
    """The pooled async client of the running event loop."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = _AsyncClient(limits=_LIMITS, headers={"user-agent": _USER_AGENT})
    return client


def _client_for(request: ProviderRequest) -> httpx.Client:
    """The client that sends `request`: the pooled one, or one around the plugin's own transport."""
    if request.transport is None:
        return sync_client()
    with _sync_lock:
        return _own_client(request.transport, _own_transport_clients, httpx.BaseTransport, _Client, "handle_request")


def _async_client_for(request: ProviderRequest) -> httpx.AsyncClient:
    """The async twin of `_client_for`."""
    if request.transport is None:
        return async_client()
    return _own_client(
        request.transport, _own_transport_async_clients, httpx.AsyncBaseTransport, _AsyncClient, "handle_async_request"
    )


def _own_client(own: Any, clients: weakref.WeakKeyDictionary[object, _C], kind: type, make: Any, method: str) -> _C:
    """The one client of a plugin's own transport (built on first use); a PluginError if it cannot do `method`."""
    client = clients.get(own)
    if client is None:
        if not isinstance(own, kind):
            raise PluginError(f"the plugin's transport {type(own).__name__} has no {method}: it cannot send this call")
        client = clients[own] = make(transport=own, headers={"user-agent": _USER_AGENT})
    return client


def use_async_transport(connections: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """Make the running loop's pooled client send through `connections` (a server bringing its own
    connection pool); returns that client. Env proxies still go through httpx's own transports."""
    loop = asyncio.get_running_loop()
    client = _async_clients[loop] = _AsyncClient(headers={"user-agent": _USER_AGENT}, transport=connections)
    return client


@functools.lru_cache(maxsize=256)
def parsed_url(url: str) -> httpx.URL:
    """An upstream URL, parsed once: a process calls the same few endpoints (httpx re-parses a str every time)."""
    return httpx.URL(url)


def encode_body(request: ProviderRequest) -> tuple[bytes | MultipartForm | None, dict[str, str]]:
    """The request body (bytes, or a multipart form streamed from its images), and its headers.

    JSON bodies are serialised once here, however many attempts send them.
    """
    if request.form is not None or request.files:
        form = MultipartForm(request.form or {}, request.files)
        return form, {**form.headers, **request.headers}
    if request.json is None:
        return request.content, request.headers
    body = json.dumps(request.json, separators=(",", ":"), ensure_ascii=False).encode()
    return body, {"content-type": "application/json", **request.headers}


def should_retry(response: httpx.Response) -> bool:
    # An upstream may veto or force a retry explicitly, as OpenAI's does.
    explicit = response.headers.get("x-should-retry")
    if explicit in ("true", "false"):
        return bool(explicit == "true")
    return response.status_code in RETRY_STATUSES or response.status_code >= 500


def retry_delay(attempt: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's word, else backoff with jitter."""
    if response is not None and (advised := advised_delay(response)) is not None:
        return advised
    backoff: float = min(INITIAL_BACKOFF * 2**attempt, MAX_BACKOFF)
    return backoff * (1 - 0.25 * random.random())


def advised_delay(response: httpx.Response) -> float | None:
    """The wait the server asked for (`Retry-After-Ms`, `Retry-After`), if it is between 0 and a minute."""
    advised = _retry_after(response.headers)
    return advised if advised is not None and 0 <= advised <= MAX_RETRY_AFTER else None


def _retry_after(headers: httpx.Headers) -> float | None:
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # an HTTP date; one without a zone is UTC
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # a malformed header is ignored: back off as if there were none
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp() - time.time()


_RETRYABLE_TRANSPORT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


def transport_error(exc: httpx.TransportError, provider: str, model: str, secrets: list[str]) -> ImageGenError:
    """The core's error for a failed exchange (no answer, a broken connection or body)."""
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(
            f"no response within the timeout ({type(exc).__name__})", provider=provider, model=model, secrets=secrets
        )
    return APIConnectionError(
        f"could not reach the provider: {type(exc).__name__}: {exc}", provider=provider, model=model, secrets=secrets
    )


Advice = Callable[[httpx.Response], float | None]
"""Reads a 429's body for the seconds it asks to wait (a plugin's error, e.g. Google's `RetryInfo`), or None."""


class _Attempts:
    """The retry policy of one upstream request, shared by the sync and async loops."""

    def __init__(
        self,
        request: ProviderRequest,
        timeout: float,
        num_retries: int,
        provider: str,
        model: str,
        advice: Advice | None,
    ) -> None:
        self.request = request
        self.advice = advice
        self.content, self.headers = encode_body(request)
        self.seconds = timeout
        self.deadline = time.monotonic() + timeout
        self.num_retries = num_retries
        self.provider = provider
        self.model = model

    def remaining(self) -> float:
        """Seconds left before the deadline (at least a millisecond: an attempt past it times out at once)."""
        return max(self.deadline - time.monotonic(), 0.001)

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        timeout = httpx.Timeout(self.remaining())
        if isinstance(self.content, MultipartForm):
            built = client.build_request(
                self.request.method, parsed_url(self.request.url), headers=self.headers, timeout=timeout
            )
            built.stream = self.content  # re-iterated from its start by every attempt
            return built
        return client.build_request(
            self.request.method, parsed_url(self.request.url), content=self.content, headers=self.headers,
            timeout=timeout,
        )  # fmt: skip

    def retries(self, attempt: int, response: httpx.Response) -> bool:
        """Whether `response` is worth another attempt (when the wait allows: `after_response`)."""
        return not response.is_success and attempt < self.num_retries and should_retry(response)

    def needs_body(self, attempt: int, response: httpx.Response) -> bool:
        """Whether to read a retried 429's body first: no header says how long to wait, and the body may
        (Google's quota errors say it only there). Read, it is bounded like any answer's."""
        return (
            self.advice is not None
            and response.status_code == 429
            and self.retries(attempt, response)
            and advised_delay(response) is None
        )

    def after_response(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying, or None to hand the response back (also when the wait would
        end past the deadline)."""
        if not self.retries(attempt, response):
            return None
        advised = self.advice(response) if self.advice is not None and response.is_stream_consumed else None
        if advised is not None and 0 <= advised <= MAX_RETRY_AFTER:
            return self._within_deadline(advised)
        return self._within_deadline(retry_delay(attempt, response))

    def after_error(self, attempt: int, exc: httpx.TransportError) -> float:
        """Seconds to wait before retrying, or raises the mapped error when out of retries (or of time)."""
        if attempt >= self.num_retries or not isinstance(exc, _RETRYABLE_TRANSPORT_ERRORS):
            raise transport_error(exc, self.provider, self.model, self.request.secrets) from None
        delay = self._within_deadline(retry_delay(attempt, None))
        if delay is None:
            raise transport_error(exc, self.provider, self.model, self.request.secrets) from None
        return delay

    def _within_deadline(self, delay: float) -> float | None:
        """`delay`, or None when waiting it would leave no time for another attempt."""
        return delay if delay < self.deadline - time.monotonic() else None


class _Bound:
    """What an answer's body may still take: the time left before the send's deadline, and `MAX_RESPONSE_BYTES`."""

    def __init__(self, seconds: float, request: httpx.Request, deadline: float) -> None:
        self.seconds = seconds
        self.deadline = deadline
        self.request = request
        self.size = 0

    def check(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_RESPONSE_BYTES:
            raise httpx.RemoteProtocolError(
                f"the response body is larger than {MAX_RESPONSE_BYTES} bytes", request=self.request
            )
        if time.monotonic() > self.deadline:
            raise httpx.ReadTimeout(f"the response did not end within {self.seconds:g} s", request=self.request)


class _BoundedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, bound: _Bound) -> None:
        self._stream = stream
        self._bound = bound

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._bound.check(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _AsyncBoundedStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, bound: _Bound) -> None:
        self._stream = stream
        self._bound = bound

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._bound.check(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def send(
    request: ProviderRequest,
    *,
    timeout: float,
    num_retries: int,
    provider: str,
    model: str,
    stream: bool = False,
    observer: Observer | None = None,
    kind: ExchangeKind = "attempt",
    advice: Advice | None = None,
) -> httpx.Response:
    """Send with retries on 408/409/429/5xx and connection errors; returns the final response.

    With `stream=True` its body is not read yet: the caller reads it (`iter_bytes`, or `read` for
    an error) and closes it; a response retried on its status is closed here, unread unless it is a 429
    whose body `advice` reads for how long to wait. `observer` is told of each exchange (an `attempt`, a
    job's `poll` or `cancel`).
    """
    attempts = _Attempts(request, timeout, num_retries, provider, model, advice)
    client = _client_for(request)
    attempt = 0
    while True:
        exchange = observer.exchange(request, attempt, kind) if observer is not None else None
        try:
            sent = attempts.build(client)
            try:
                response = client.send(sent, auth=request.auth, stream=True)
            except BaseException as exc:
                _ended(exchange, None, exc)
                raise
            _ended(exchange, response, None)
            bound = _Bound(attempts.seconds, sent, attempts.deadline)
            response.stream = _BoundedStream(response.stream, bound)  # type: ignore[arg-type]
            if attempts.needs_body(attempt, response):
                _read(response)
            delay = attempts.after_response(attempt, response)
            if delay is None:
                if not stream and not response.is_stream_consumed:
                    _read(response)
                return response
            response.close()
        except httpx.TransportError as exc:
            delay = attempts.after_error(attempt, exc)
        time.sleep(delay)
        attempt += 1


def _ended(exchange: Exchange | None, response: httpx.Response | None, error: BaseException | None) -> None:
    """Tell an observed exchange it got its head (or failed before it)."""
    if exchange is not None:
        exchange.ended(response, error)


def _read(response: httpx.Response) -> None:
    try:
        response.read()
    except BaseException:
        response.close()
        raise


async def asend(
    request: ProviderRequest,
    *,
    timeout: float,
    num_retries: int,
    provider: str,
    model: str,
    stream: bool = False,
    observer: Observer | None = None,
    kind: ExchangeKind = "attempt",
    advice: Advice | None = None,
) -> httpx.Response:
    """The async twin of `send`; here the head (and a body read here) is also bounded as a whole."""
    attempts = _Attempts(request, timeout, num_retries, provider, model, advice)
    client = _async_client_for(request)
    attempt = 0
    while True:
        exchange = observer.exchange(request, attempt, kind) if observer is not None else None
        try:
            sent = attempts.build(client)
            async with asyncio.timeout(attempts.remaining()):
                try:
                    response = await client.send(sent, auth=request.auth, stream=True)
                except BaseException as exc:
                    _ended(exchange, None, exc)
                    raise
                _ended(exchange, response, None)
                if attempts.needs_body(attempt, response):
                    await _aread(response)
                delay = attempts.after_response(attempt, response)
                if delay is None:
                    if stream:  # read after this returns: the rest of the timeout goes with the body
                        bound = _Bound(attempts.seconds, sent, attempts.deadline)
                        response.stream = _AsyncBoundedStream(response.stream, bound)  # type: ignore[arg-type]
                    elif not response.is_stream_consumed:
                        await _aread(response)
                    return response
                await response.aclose()
        except TimeoutError:
            message = f"no complete response within {attempts.seconds:g} s"
            delay = attempts.after_error(attempt, httpx.ReadTimeout(message, request=sent))
        except httpx.TransportError as exc:
            delay = attempts.after_error(attempt, exc)
        await asyncio.sleep(delay)
        attempt += 1


async def _aread(response: httpx.Response) -> None:
    try:
        await response.aread()
    except BaseException:
        await response.aclose()
        raise


def error_from_response(response: httpx.Response, *, provider: str, model: str, secrets: list[str]) -> ImageGenError:
    """The default mapping of an error response: OpenAI's error body, and the class from the status."""
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()[:500]
        body = text or f"HTTP {response.status_code} with an empty body"
    return error_from_body(body, status=response.status_code, provider=provider, model=model, secrets=secrets)


def error_from_body(body: Any, *, status: int | None, provider: str, model: str, secrets: list[str]) -> ImageGenError:
    """The error an OpenAI-style error body stands for (`{"error": {"message", "code", "param"}}`, FastAPI's
    `{"detail": …}`, or a text), also when it arrives in a stream's event (no status: a failure of the
    provider's, unless its code says a content filter)."""
    from .exceptions import ContentPolicyViolationError, error_class_for_status

    message, code, param = _error_fields(body, status)
    kwargs: dict[str, Any] = dict(
        provider=provider,
        model=model,
        status_code=status,
        code=code,
        param=param,
        body=body if not isinstance(body, str) else None,
        secrets=secrets,
    )
    if code in CONTENT_POLICY_CODES:
        return ContentPolicyViolationError(message, **kwargs)
    if status is None:
        kwargs["status_code"] = 502
    return error_class_for_status(kwargs["status_code"])(message, **kwargs)


def _error_fields(body: Any, status: int | None) -> tuple[str, str | None, str | None]:
    if isinstance(body, str):
        return body, None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        param = error.get("param")
        return (
            str(error.get("message") or f"HTTP {status}"),
            str(code) if code is not None else None,
            str(param) if param is not None else None,
        )
    if isinstance(body, dict) and body.get("detail"):
        return _detail_fields(body["detail"])
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message") or error
        if message:
            return str(message), None, None
    return f"HTTP {status}: {str(body)[:500]}", None, None


def _detail_fields(detail: Any) -> tuple[str, str | None, str | None]:
    """FastAPI's error body (`{"detail": "…"}`, or a list of `{loc, msg, type}`), as several providers send it:
    the messages, and the first problem's type and field."""
    if not isinstance(detail, list):
        return str(detail), None, None
    problems = [item for item in detail if isinstance(item, dict)]
    messages = []
    for item in problems:
        where = ".".join(str(part) for part in item.get("loc") or () if part != "body")
        messages.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
    first = problems[0] if problems else {}
    location = first.get("loc") or [None]
    code, param = first.get("type"), location[-1]
    return (
        "; ".join(messages) or str(detail)[:500],
        str(code) if code is not None else None,
        str(param) if param not in (None, "body") else None,
    )
