"""The Black Forest Labs provider (`bfl/`): FLUX 1.1 [pro] / [ultra], FLUX.1 Kontext [pro] / [max], FLUX.2.

Every request is a job: submitted, then polled at the `polling_url` BFL answers with (the core owns the
loop); the image is a signed URL that expires after 10 minutes. Kontext and FLUX.2 edit input images.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import ImageGenError
from imagegen.provider import GenerationRequest, Job, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse

from . import wire
from .models import MAX_CONCURRENT_JOBS, MODELS

INFO = ProviderInfo(
    name="Black Forest Labs",
    models=MODELS,
    settings=frozenset({"poll_interval"}),
    max_concurrent_requests=MAX_CONCURRENT_JOBS,
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
