"""One call's journey: resolve the plugin → check params → map_params → build_request → send → parse.

`image_generation` and `aimage_generation` share everything but the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx

from . import pricing, transport
from .exceptions import BadRequestError, ImageGenError, InternalServerError, UnsupportedParamsError
from .params import check_params
from .plugins import Provider, registry
from .provider import COMMON_SECRETS, COMMON_SETTINGS, GenerationRequest, IntRange, ProviderRequest, Settings
from .types import ImageResponse

logger = logging.getLogger("imagegen")


def _global_drop_params() -> bool:
    import imagegen

    return bool(getattr(imagegen, "drop_params", False))


@dataclass
class PreparedCall:
    """A validated call: its plugin and one (request, upstream request) pair per fanned-out part."""

    provider: Provider
    request: GenerationRequest
    parts: list[tuple[GenerationRequest, ProviderRequest]]
    num_retries: int
    started: float

    @property
    def base_model(self) -> str | None:
        """The model whose rules and price apply: the spec names it behind an alias, an inference profile
        or an Azure deployment."""
        request = self.request
        return request.spec.name if request.spec else request.settings.get("base_model")

    def send_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.request.timeout,
            "num_retries": self.num_retries,
            "provider": self.provider.prefix,
            "model": self.request.model,
        }

    def parse(self, part: GenerationRequest, upstream: ProviderRequest, response: httpx.Response) -> ImageResponse:
        hook = self.provider.hook
        if not response.is_success:
            error = hook.parse_error(request=part, response=response)
            if error is None:
                error = transport.error_from_response(
                    response, provider=self.provider.prefix, model=part.model, secrets=upstream.secrets
                )
            if error.retry_after is None:
                error.retry_after = transport.advised_delay(response)
            raise error.mask(upstream.secrets)  # the plugin may not know every credential it sent
        try:
            parsed: ImageResponse = hook.parse_response(request=part, response=response)
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
        return parsed

    def finish(self, outcomes: list[ImageResponse | BaseException]) -> ImageResponse:
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
        warnings = list(dict.fromkeys(w for part, _ in self.parts for w in part.warnings))
        if failures:
            warnings.append(
                f"{len(failures)} of {len(outcomes)} upstream requests failed ({failures[0]}); "
                f"returning the {len(response.data)} image(s) that were generated"
            )
        request = self.request
        cost = pricing.cost_of(
            self.provider.prefix, request.model, request.params, response, base_model=self.base_model
        )
        response._annotate(self.provider.prefix, request.model, warnings, cost)
        logger.debug(
            "imagegen %s/%s: %d image(s) in %.0f ms",
            self.provider.prefix,
            self.request.model,
            len(response.data),
            (time.perf_counter() - self.started) * 1000,
        )
        return response


def prepare(
    prompt: str,
    model: str | None,
    openai_params: dict[str, Any],
    provider_params: dict[str, Any],
    *,
    timeout: float | None,
    drop_params: bool | None,
    num_retries: int | None,
) -> PreparedCall:
    """Everything before the I/O: routing, validation, mapping and request building."""
    started = time.perf_counter()
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequestError("`prompt` is required: a text description of the image(s) to generate", param="prompt")
    provider, model_id = registry.resolve(model)
    info = provider.info
    setting_names = COMMON_SETTINGS | info.settings
    settings_values = {k: provider_params.pop(k) for k in list(provider_params) if k in setting_names}
    settings_values.update((k, v) for k, v in openai_params.items() if k in COMMON_SETTINGS)
    params = {k: v for k, v in openai_params.items() if k not in COMMON_SETTINGS and v is not None}
    params.update((k, v) for k, v in provider_params.items() if v is not None)

    spec = provider.model(model_id)
    if spec is None and not info.pass_through_unknown_models:
        known = ", ".join(s.name for s in info.models)
        raise BadRequestError(
            f"unknown model {model_id!r} for provider {provider.prefix!r}; known models: {known}",
            provider=provider.prefix,
            model=model_id,
            param="model",
            code="model_not_found",
        )
    request = GenerationRequest(
        prompt=prompt,
        provider=provider.prefix,
        model=model_id,
        spec=spec,
        params=params,
        settings=Settings(settings_values, COMMON_SECRETS | info.secret_settings),
        timeout=transport.DEFAULT_TIMEOUT if timeout is None else float(timeout),
        drop_params=_global_drop_params() if drop_params is None else drop_params,
    )
    check_params(request)
    parts = []
    for part in _fan_out(request):
        body = provider.hook.map_params(request=part)
        parts.append((part, provider.hook.build_request(request=part, body=body)))
    return PreparedCall(
        provider=provider,
        request=request,
        parts=parts,
        num_retries=transport.DEFAULT_NUM_RETRIES if num_retries is None else num_retries,
        started=started,
    )


def _fan_out(request: GenerationRequest) -> list[GenerationRequest]:
    """One request per upstream call: a model making fewer images per call than `n` gets several."""
    per_call = request.spec.max_images_per_call if request.spec else None
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
            allowed = request.spec.params.get("seed") if request.spec else None
            params["seed"] = (
                allowed.low + (seed - allowed.low + index) % (allowed.high - allowed.low + 1)
                if isinstance(allowed, IntRange)
                else seed + index
            )
        parts.append(replace(request, params=params, warnings=request.warnings))
    return parts


def image_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    **provider_params: Any,
) -> ImageResponse:
    """Generate images from a text prompt with any installed provider.

    `model` is `prefix/model` (`bedrock/amazon.nova-canvas-v1:0`) or a bare OpenAI name
    (`dall-e-3`); it defaults to `openai/gpt-image-1`. Any keyword not listed here is a provider
    parameter or setting (`background`, `cfg_scale`, `aws_region_name`, …).
    """
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, style=style, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version,
    )  # fmt: skip
    call = prepare(
        prompt, model, openai_params, provider_params, timeout=timeout, drop_params=drop_params, num_retries=num_retries
    )

    def run(part: tuple[GenerationRequest, ProviderRequest]) -> ImageResponse:
        request, upstream = part
        return call.parse(request, upstream, transport.send(upstream, **call.send_kwargs()))

    if len(call.parts) == 1:
        return call.finish([run(call.parts[0])])
    with ThreadPoolExecutor(max_workers=min(len(call.parts), 16)) as pool:
        futures = [pool.submit(run, part) for part in call.parts]
    return call.finish([future.exception() or future.result() for future in futures])


async def aimage_generation(
    prompt: str,
    model: str | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = transport.DEFAULT_TIMEOUT,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    drop_params: bool | None = None,
    num_retries: int | None = None,
    **provider_params: Any,
) -> ImageResponse:
    """The async twin of `image_generation` (real async I/O on the running event loop)."""
    openai_params = dict(
        n=n, quality=quality, response_format=response_format, size=size, style=style, user=user,
        api_key=api_key, api_base=api_base, api_version=api_version,
    )  # fmt: skip
    call = prepare(
        prompt, model, openai_params, provider_params, timeout=timeout, drop_params=drop_params, num_retries=num_retries
    )

    async def run(part: tuple[GenerationRequest, ProviderRequest]) -> ImageResponse:
        request, upstream = part
        return call.parse(request, upstream, await transport.asend(upstream, **call.send_kwargs()))

    if len(call.parts) == 1:
        return call.finish([await run(call.parts[0])])
    return call.finish(list(await asyncio.gather(*(run(part) for part in call.parts), return_exceptions=True)))
