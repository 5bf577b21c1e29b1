"""The fal provider (`fal/`): FLUX, Recraft, Kontext edits and any other fal model, through fal's queue.

Every request is a job: submitted to the queue, its status polled, its result fetched (the core owns the
loop, and cancels a job still queued at the deadline). Images are URLs on fal's CDN.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import ImageGenError
from imagegen.provider import GenerationRequest, Job, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse

from . import wire
from .models import MODELS

INFO = ProviderInfo(
    name="fal",
    models=MODELS,
    settings=frozenset({"poll_interval"}),
    pass_through_unknown_models=True,  # fal serves hundreds of models: any endpoint id is sent as it is
    max_concurrent_requests=10,
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    return wire.request_body(request)


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    return wire.submit_request(request, body)


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> Job:
    return wire.job_of(request, response)


@hookimpl
def parse_poll(request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
    return wire.poll_outcome(request, job, response)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    return wire.error_of(request, response)
