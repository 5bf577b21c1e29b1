"""A call before and after its I/O: routing, checks, mapping and request building; then parsing and pricing.

`prepare` turns what a caller asked for into a `PreparedCall`: the plugin, the checked request and one
(request, upstream request) pair per fanned-out part (none for a `mock_response`). The SDK's sync and
async paths, and the proxy, send those parts their own way, hand the answers back to the call to parse
and to `finish`, and say how the call ended (`succeeded` / `failed`) to its observer, if it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

from . import mocking, pricing, transport
from .exceptions import (
    BadRequestError,
    ImageGenError,
    InternalServerError,
    PluginError,
    UnsupportedParamsError,
    brief,
)
from .images import ImageInput
from .params import VERBS, check_images, check_operation, check_params
from .plugins import Provider, registry, with_provider
from .provider import (
    COMMON_SECRETS,
    COMMON_SETTINGS,
    GENERATION,
    VARIATION,
    GenerationRequest,
    IntRange,
    Job,
    Operation,
    OperationSpec,
    ProviderRequest,
    Settings,
)
from .sse import ServerSentEvent
from .types import CompletedImageEvent, ImageResponse, ImageStreamEvent, PartialImageEvent

if TYPE_CHECKING:
    from .observe import ExchangeKind, Observer

logger = logging.getLogger("imagegen")

DEFAULT_CONCURRENCY = 16
"""The most upstream requests one call keeps in flight when it fans `n` out (a plugin may ask for fewer)."""
MAX_PARTIAL_IMAGES = 3
_RESULTS = (ImageResponse, Job)
_EVENTS = (PartialImageEvent, CompletedImageEvent, type(None))
_FRAMING_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection"})


def _global_drop_params() -> bool:
    import imagegen

    return bool(getattr(imagegen, "drop_params", False))


@dataclass
class PreparedCall:
    """A checked call: its plugin, request and one (request, upstream request) pair per fanned-out part."""

    provider: Provider
    request: GenerationRequest
    parts: list[tuple[GenerationRequest, ProviderRequest]]
    num_retries: int
    started: float
    deadline: float = field(default=0.0)
    """`time.monotonic()` when the whole call (every attempt and poll) must be over."""
    mock_response: Any = None
    """What to answer instead of sending anything (see `imagegen.mocking`); None: a real call."""
    observer: Observer | None = field(default=None, repr=False)
    """Told how the call goes (callbacks, spans); None when nothing watches."""

    @property
    def base_model(self) -> str | None:
        """The model whose rules and price apply: the spec names it behind an alias, an inference profile
        or an Azure deployment."""
        request = self.request
        return request.spec.name if request.spec else request.settings.get("base_model")

    @property
    def concurrency(self) -> int:
        cap = self.provider.info.max_concurrent_requests or DEFAULT_CONCURRENCY
        return max(1, min(len(self.parts), cap))

    @property
    def streams_natively(self) -> bool:
        return any(upstream.event_stream for _, upstream in self.parts)

    def remaining(self) -> float:
        """Seconds left before the call's deadline."""
        return self.deadline - time.monotonic()

    def send_kwargs(self, *, kind: ExchangeKind = "attempt") -> dict[str, Any]:
        """`transport.send`'s arguments for this call: a job's `poll` or `cancel` is sent once, unretried."""
        return {
            "timeout": max(self.remaining(), 0.001),
            "num_retries": self.num_retries if kind == "attempt" else 0,
            "provider": self.provider.prefix,
            "model": self.request.model,
            "observer": self.observer,
            "kind": kind,
            "advice": self.advised_delay if kind == "attempt" else None,
        }

    def advised_delay(self, response: httpx.Response) -> float | None:
        """The wait a 429's body asks for, as the plugin reads it (its error's `retry_after`)."""
        error: ImageGenError | None = self.provider.hook.parse_error(request=self.request, response=response)
        return error.retry_after if error is not None else None

    def succeeded(self, response: ImageResponse) -> ImageResponse:
        """The call ended with `response` (its observer's `on_success`); returns it."""
        if self.observer is not None:
            self.observer.succeeded(response)
        return response

    def failed(self, error: BaseException, *, spent: ImageResponse | None = None) -> None:
        """The call ended with `error`, or its caller left (its observer's `on_failure`); `spent`: what it
        made (and cost) all the same, e.g. the images a stream had delivered before it was closed."""
        if self.observer is not None:
            self.observer.failed(error, spent=spent)

    def error(self, part: GenerationRequest, upstream: ProviderRequest, response: httpx.Response) -> ImageGenError:
        """The error of a non-2xx answer (its body already read): the plugin's, else the default mapping."""
        error: ImageGenError | None = self.provider.hook.parse_error(request=part, response=response)
        if error is None:
            error = transport.error_from_response(
                response, provider=self.provider.prefix, model=part.model, secrets=upstream.secrets
            )
        if error.retry_after is None:
            error.retry_after = transport.advised_delay(response)
        return error.mask(upstream.secrets)  # the plugin may not know every credential it sent

    def parse(
        self, part: GenerationRequest, upstream: ProviderRequest, response: httpx.Response
    ) -> ImageResponse | Job:
        """An answer (its body read) as the plugin reads it: the images, or a job to poll; raises its error."""
        if not response.is_success:
            raise self.error(part, upstream, response)
        result: ImageResponse | Job = self._read(
            part, upstream, lambda: self.provider.hook.parse_response(request=part, response=response), _RESULTS
        )
        return result

    def parse_poll(self, part: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
        """A 2xx answer to a job's poll, as the plugin reads it."""

        def read() -> ImageResponse | Job:
            result: ImageResponse | Job | None = self.provider.hook.parse_poll(request=part, job=job, response=response)
            if result is None:
                raise PluginError(
                    f"the {self.provider.prefix} plugin answered with a job but implements no `parse_poll` hook",
                    provider=self.provider.prefix,
                    model=part.model,
                )
            return result

        result: ImageResponse | Job = self._read(part, job.poll, read, _RESULTS)
        return result

    def parse_event(
        self, part: GenerationRequest, upstream: ProviderRequest, event: ServerSentEvent
    ) -> ImageStreamEvent | None:
        """One event of a streamed answer, as the plugin reads it (None: not an image event)."""
        hook = self.provider.hook
        result: ImageStreamEvent | None = self._read(
            part, upstream, lambda: hook.parse_event(request=part, event=event), _EVENTS
        )
        return result

    def _read(
        self, part: GenerationRequest, upstream: ProviderRequest, read: Callable[[], Any], expected: tuple[type, ...]
    ) -> Any:
        """What a plugin's parsing hook returns; an exception it raises, as an error of the upstream's."""
        try:
            result = read()
        except ImageGenError:
            raise
        except Exception as exc:  # an upstream body the plugin cannot read is the upstream's fault
            raise InternalServerError(
                f"unexpected response from the provider ({type(exc).__name__}: {exc})",
                provider=self.provider.prefix,
                model=part.model,
                status_code=502,
                secrets=upstream.secrets,
            ) from exc
        if not isinstance(result, expected):
            names = " or ".join(kind.__name__ for kind in expected if kind is not type(None))
            raise PluginError(
                f"the {self.provider.prefix} plugin returned {type(result).__name__}, not {names}",
                provider=self.provider.prefix,
                model=part.model,
            )
        return result

    def finish(self, outcomes: Sequence[ImageResponse | BaseException]) -> ImageResponse:
        """One response from every part's outcome; raises if every part failed (or a part hit a bug).

        Images that were generated (and paid for) are kept when only some parts of a fanned-out call
        failed: the failure becomes a warning.
        """
        responses = [o for o in outcomes if isinstance(o, ImageResponse)]
        failures = [o for o in outcomes if not isinstance(o, ImageResponse)]
        for failure in failures:
            if not responses or not isinstance(failure, ImageGenError):
                raise failure
        response = responses[0] if len(responses) == 1 else ImageResponse.merge(responses)
        more = []
        if failures:
            more.append(
                f"{len(failures)} of {len(outcomes)} upstream requests failed ({failures[0]}); "
                f"returning the {len(response.data)} image(s) that were generated"
            )
        self.priced(response, more)
        request = self.request
        logger.debug(
            "imagegen %s %s/%s: %d image(s) in %.0f ms",
            request.operation,
            self.provider.prefix,
            request.model,
            len(response.data),
            (time.perf_counter() - self.started) * 1000,
        )
        return response

    def priced(self, response: ImageResponse, warnings: Sequence[str] = ()) -> ImageResponse:
        """`response` with its cost (what its images cost) and the call's warnings, then `warnings`."""
        request = self.request
        cost: float | None = 0.0  # a mock: nothing was sent, nothing spent
        if self.mock_response is None:
            cost = pricing.cost_of(
                self.provider.prefix, request.model, request.params, response, base_model=self.base_model
            )
        response._annotate(self.provider.prefix, request.model, [*self.warnings(), *warnings], cost)
        return response

    def warnings(self) -> list[str]:
        """What the core and the plugin changed on the caller's behalf (each once, however many parts)."""
        parts = [part for part, _ in self.parts] or [self.request]
        return list(dict.fromkeys(w for part in parts for w in part.warnings))


def prepare(
    prompt: str | None,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    *,
    observer: Observer | None = None,
    **options: Any,
) -> PreparedCall:
    """Everything before the I/O: routing, validation (operation, prompt, params, input images),
    mapping and request building. Raises before any request for anything the model cannot take.

    `options` are `_prepare`'s. `custom_llm_provider` routes to that plugin whatever `model` says; a
    `mock_response` is checked like a real call but builds no request. The `observer`, if any, is told
    the call is ready (`on_request`), or that it failed here.
    """
    with failures_told(observer):
        call = _prepare(prompt, model, openai_params, provider_params, **options)
    return _observed(call, observer)


async def aprepare(
    prompt: str | None,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    *,
    observer: Observer | None = None,
    **options: Any,
) -> PreparedCall:
    """`prepare` for async callers (the SDK's async functions, a server): the same arguments, but a call
    with input images is prepared on a worker thread (reading spooled inputs, converting masks with Pillow,
    building multipart bodies), so the event loop is never blocked; the observer is told on the loop. A
    generation's preparation takes microseconds, less than the thread hop: it runs here."""
    if not options.get("images"):
        return prepare(prompt, model, openai_params, provider_params, observer=observer, **options)
    with failures_told(observer):
        call = await asyncio.to_thread(_prepare, prompt, model, openai_params, provider_params, **options)
    return _observed(call, observer)


@contextlib.contextmanager
def failures_told(observer: Observer | None) -> Iterator[None]:
    """Tells `observer` (if any) of an error raised inside; the error goes on."""
    try:
        yield
    except BaseException as error:
        if observer is not None:
            observer.failed(error)
        raise


def _observed(call: PreparedCall, observer: Observer | None) -> PreparedCall:
    if observer is not None:
        call.observer = observer
        observer.prepared(call)
    return call


def _prepare(
    prompt: str | None,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    *,
    operation: Operation = GENERATION,
    images: Sequence[ImageInput] = (),
    mask: ImageInput | None = None,
    stream: bool = False,
    partial_images: int | None = None,
    timeout: float | None,
    drop_params: bool | None,
    num_retries: int | None,
    custom_llm_provider: str | None = None,
    mock_response: Any = None,
) -> PreparedCall:
    started = time.perf_counter()
    if mock_response is not None:
        mocking.check(mock_response)
    if custom_llm_provider and not model:
        raise BadRequestError("pass `model` with `custom_llm_provider`", param="model")
    provider, model_id = registry.resolve(with_provider(model, custom_llm_provider) if model else model, operation)
    info = provider.info
    setting_names = COMMON_SETTINGS | info.settings
    settings_values = {k: provider_params.pop(k) for k in list(provider_params) if k in setting_names}
    settings_values.update((k, v) for k, v in openai_params.items() if k in COMMON_SETTINGS)
    params = {k: v for k, v in openai_params.items() if k not in COMMON_SETTINGS and v is not None}
    params.update((k, v) for k, v in provider_params.items() if v is not None)
    extra_headers = _checked_extra_headers(settings_values.pop("extra_headers", None))
    ignored_api_type = settings_values.get("api_type") is not None and "api_type" not in info.settings
    if ignored_api_type:
        settings_values.pop("api_type")

    if operation != GENERATION and info.hooks_version < 2:
        raise UnsupportedParamsError(
            "model",
            value=model_id,
            provider=provider.prefix,
            model=model_id,
            reason=f"{brief(f'{provider.prefix}/{model_id}')} cannot {VERBS[operation]} images: its plugin "
            f"({provider.distribution}) was built for imagegen hooks version {info.hooks_version}, which only "
            f"generates; upgrade {provider.distribution} for {operation}s",
            droppable=False,
        )
    spec = provider.model(model_id)
    if spec is None and not info.pass_through_unknown_models:
        known = ", ".join(s.name for s in info.models)
        raise BadRequestError(
            f"unknown model {brief(model_id)} for provider {provider.prefix!r}; known models: {known}",
            provider=provider.prefix,
            model=model_id,
            param="model",
            code="model_not_found",
        )
    if spec is not None:
        check_operation(provider.prefix, model_id, spec, operation, able=info.models)
    request = GenerationRequest(
        prompt=_checked_prompt(prompt, operation, spec.operation(operation) if spec else None),
        provider=provider.prefix,
        model=model_id,
        spec=spec,
        params=params,
        settings=Settings(settings_values, COMMON_SECRETS | info.secret_settings),
        timeout=transport.seconds(timeout),
        drop_params=_global_drop_params() if drop_params is None else drop_params,
        operation=operation,
        images=list(images),
        mask=mask,
        stream=stream,
        partial_images=_checked_partial_images(partial_images),
    )
    if request.partial_images is not None and not stream:
        request.partial_images = None
        request.warnings.append("ignored `partial_images`: partial images only arrive in a stream (stream=True)")
    if ignored_api_type:
        request.warnings.append(f"ignored `api_type`: {provider.prefix} has no API types (Azure's are azure, azure_ad)")
    if operation != GENERATION:
        check_images(request)
    check_params(request)
    parts = []
    for part in _fan_out(request) if mock_response is None else ():
        body = provider.hook.map_params(request=part)
        upstream = provider.hook.build_request(request=part, body=body)
        if extra_headers:
            _add_extra_headers(part, upstream, extra_headers)
        parts.append((part, upstream))
    call = PreparedCall(
        provider=provider,
        request=request,
        parts=parts,
        num_retries=transport.DEFAULT_NUM_RETRIES if num_retries is None else num_retries,
        started=started,
        deadline=time.monotonic() + request.timeout,
        mock_response=mock_response,
    )
    if stream and request.partial_images and not call.streams_natively:
        request.warnings.append(
            f"{provider.prefix}/{model_id} does not stream partial images; each image arrives once complete"
        )
    return call


def _checked_extra_headers(headers: Any) -> Mapping[str, str] | None:
    if headers is None:
        return None
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in (*headers, *headers.values())):
        raise BadRequestError("`extra_headers` must map header names to string values", param="extra_headers")
    return headers


def _add_extra_headers(request: GenerationRequest, upstream: ProviderRequest, extra: Mapping[str, str]) -> None:
    """The caller's headers on the upstream request, except those the plugin set (its credentials among
    them) and the body's framing: the plugin's win. An auth flow (`upstream.auth`) runs after, and wins too."""
    taken = {name.lower() for name in upstream.headers} | _FRAMING_HEADERS
    added = {name: value for name, value in extra.items() if name.lower() not in taken}
    for name in extra.keys() - added.keys():
        request.warnings.append(f"ignored the extra header {name!r}: the provider's own request sets it")
    upstream.headers = {**upstream.headers, **added}  # a copy: a plugin may share one headers dict between calls
    upstream.secrets = [*upstream.secrets, *added.values()]  # masked in messages like credentials


def _checked_prompt(prompt: str | None, operation: Operation, spec: OperationSpec | None) -> str:
    if operation == GENERATION:
        needs = "required"
    elif spec is not None:
        needs = spec.prompt
    else:  # a model the plugin does not list: OpenAI's rules
        needs = "none" if operation == VARIATION else "required"
    if prompt is not None and not isinstance(prompt, str):
        raise BadRequestError(f"`prompt` must be a string, not {type(prompt).__name__}", param="prompt")
    if needs == "required" and (prompt is None or not prompt.strip()):
        what = "the image(s) to generate" if operation == GENERATION else "the edit to make"
        raise BadRequestError(f"`prompt` is required: a text description of {what}", param="prompt")
    if needs == "none" and prompt:
        raise BadRequestError(f"a {operation} takes no prompt; remove `prompt`", param="prompt")
    return prompt or ""


def _checked_partial_images(partial_images: int | None) -> int | None:
    if partial_images is None:
        return None
    if (
        not isinstance(partial_images, int)
        or isinstance(partial_images, bool)
        or not (0 <= partial_images <= MAX_PARTIAL_IMAGES)
    ):
        raise BadRequestError(
            f"`partial_images`={brief(partial_images)} is not supported; "
            f"allowed: an integer from 0 to {MAX_PARTIAL_IMAGES}",
            param="partial_images",
        )
    return partial_images


def _fan_out(request: GenerationRequest) -> list[GenerationRequest]:
    """One request per upstream call: a model making fewer images per call than `n` gets several."""
    per_call = request.spec.images_per_call(request.operation) if request.spec else None
    n = request.params.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UnsupportedParamsError(
            "n", value=n, allowed="a positive integer", provider=request.provider, model=request.model
        )
    if per_call is None or n <= per_call:
        return [request]
    counts = [per_call] * (n // per_call) + ([n % per_call] if n % per_call else [])
    seed = request.params.get("seed")
    parts = []
    for index, count in enumerate(counts):
        params = {**request.params, "n": count}
        if isinstance(seed, int) and not isinstance(seed, bool):
            # One seed would make the same image n times; consecutive ones stay reproducible (and in range).
            allowed = request.spec.params_for(request.operation).get("seed") if request.spec else None
            params["seed"] = (
                allowed.low + (seed - allowed.low + index) % (allowed.high - allowed.low + 1)
                if isinstance(allowed, IntRange)
                else seed + index
            )
        parts.append(replace(request, params=params, warnings=request.warnings))
    return parts
