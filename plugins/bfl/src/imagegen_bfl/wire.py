"""Black Forest Labs' wire format: submit a job, poll its `polling_url`, read `result.sample`.

    POST {api_base}/v1/{model}     x-key; JSON {prompt, width/height or aspect_ratio, input_image…}
                                   → {id, polling_url, cost, input_mp, output_mp}
    GET  <polling_url>             x-key only on BFL's own hosts (the URL may name another host)
                                   → {status: Pending | Ready | Error | Failed | Request Moderated |
                                      Content Moderated | Task not found, result: {sample, prompt, seed, …}}

`result.sample` is a signed URL that expires 10 minutes after the job is ready. `cost` is in credits
(1 credit = $0.01); it is the call's cost when BFL reports it. Errors: FastAPI's `{"detail": …}` (a
message, or a list of `{loc, msg, type}`), or `{"error", "message", "retry_after"}` for a 429: the
core's default mapping reads both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeGuard

import httpx

from imagegen.auth import answered_url_request, refused_without_credentials, required_api_key
from imagegen.exceptions import (
    ContentPolicyViolationError,
    ImageGenError,
    InternalServerError,
    NotFoundError,
)
from imagegen.params import aspect_ratio_for, parse_size, reject
from imagegen.pricing import price_of
from imagegen.provider import GenerationRequest, Job, ProviderRequest
from imagegen.types import Image, ImageResponse

from .models import ASPECT_RATIOS, ENDPOINTS, aspect_ratio_problem, size_problem

DEFAULT_API_BASE = "https://api.bfl.ai"
DOMAINS = ("bfl.ai",)
"""BFL's own domains: its API hosts (api., api.eu., api.us.) and polling gateways are subdomains."""
API_KEY_ENV = ("BFL_API_KEY", "BLACK_FOREST_LABS_API_KEY")
API_BASE_ENV = ("BFL_API_BASE",)
RESULT_LIFETIME = 600
"""Seconds a `result.sample` URL works: "Result URLs expire after 10 minutes" (BFL)."""
POLL_INTERVAL = 0.5
"""Seconds before the first poll (the core backs off from it): BFL's own examples poll every 0.5 s."""
CREDIT_USD = 0.01
MODERATED = frozenset({"Request Moderated", "Content Moderated"})
FAILED = frozenset({"Error", "Failed"})
NOT_FOUND = "Task not found"
_NOT_SENT = frozenset({"n", "response_format", "size", "width", "height"})


def api_key(request: GenerationRequest) -> str:
    return required_api_key(request, "Black Forest Labs", *API_KEY_ENV)


def configured_api_base(request: GenerationRequest) -> str | None:
    api_base: str | None = request.settings.get("api_base", *API_BASE_ENV)
    return api_base


def request_body(request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of a checked request: prompt, sizing, BFL's own parameters and input images."""
    assert request.spec is not None  # BFL serves only the models it lists
    params = request.params
    body: dict[str, Any] = {"prompt": request.prompt}
    size = params.get("size")
    if ENDPOINTS[request.spec.name].sized_by == "ratio":
        if "aspect_ratio" in params and (problem := aspect_ratio_problem(params["aspect_ratio"])):
            reject(request, "aspect_ratio", params["aspect_ratio"], None, reason=f"aspect_ratio: {problem}")
        if isinstance(size, str) and size != "auto":
            body["aspect_ratio"] = aspect_ratio_for(request, size, ASPECT_RATIOS)
    else:
        body.update(_dimensions(request, size))
    body.update((name, value) for name, value in params.items() if name not in _NOT_SENT)
    for index, image in enumerate(request.images):
        body["input_image" if index == 0 else f"input_image_{index + 1}"] = image.b64()
    return body


def _dimensions(request: GenerationRequest, size: Any) -> dict[str, int]:
    """`width` and `height` from an OpenAI `size`, checked against BFL's rules (through the drop policy)."""
    width, height = request.params.get("width"), request.params.get("height")
    named = "width/height"
    if isinstance(size, str) and size != "auto":
        try:
            width, height = parse_size(size)
        except ValueError as exc:
            reject(request, "size", size, "WIDTHxHEIGHT", reason=str(exc))
            return {}
        named = "size"
    if width is None and height is None:
        return {}
    if isinstance(width, int) and isinstance(height, int):
        problem = size_problem(width, height)
        if problem is None:
            return {"width": width, "height": height}
    else:
        problem = "give both width and height, as integers"
    for name in ("size", "width", "height") if named == "size" else ("width", "height"):
        reject(request, name, request.params.get(name), "WIDTHxHEIGHT", reason=f"{named}: {problem}")
    return {}


def submit_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    assert request.spec is not None
    key = api_key(request)
    url = (configured_api_base(request) or DEFAULT_API_BASE).rstrip("/") + ENDPOINTS[request.spec.name].path
    return ProviderRequest(url=url, json=body, headers={"x-key": key, "accept": "application/json"}, secrets=[key])


def poll_request(request: GenerationRequest, url: str) -> ProviderRequest:
    """A GET of `url`: with the key only when the URL is on BFL's domains or the configured api_base's host."""
    key = api_key(request)
    return answered_url_request(url, credentials={"x-key": key}, headers={"accept": "application/json"},
                                secrets=[key], domains=DOMAINS, api_base=configured_api_base(request))  # fmt: skip


def job_of(request: GenerationRequest, response: httpx.Response) -> Job:
    """The job a submit answered with; its polling URL taken as BFL gave it."""
    body = response.json()
    job_id = str(body["id"])
    polling_url = body.get("polling_url") or (
        f"{(configured_api_base(request) or DEFAULT_API_BASE).rstrip('/')}/v1/get_result?id={job_id}"
    )
    return Job(
        id=job_id,
        poll=poll_request(request, polling_url),
        interval=float(request.settings.get("poll_interval", default=POLL_INTERVAL)),
        # No `cancel`: BFL has no cancel endpoint, a job past the deadline ends on its own.
        state={"cost": body.get("cost"), "input_mp": body.get("input_mp"), "output_mp": body.get("output_mp")},
    )


def poll_outcome(request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
    """A poll's answer: the images when Ready, the job while it runs, or the error it ended with."""
    body = response.json()
    status = body.get("status", body.get("state"))
    if status == "Ready":
        return _images(request, job, body)
    if status in MODERATED:
        raise ContentPolicyViolationError(
            f"Black Forest Labs moderated this job ({status}){_details(body)}",
            provider=request.provider,
            model=request.model,
            code="content_policy_violation",
            body=body,
        )
    if status in FAILED:
        raise InternalServerError(
            f"Black Forest Labs could not make the image ({status}){_details(body)}",
            provider=request.provider,
            model=request.model,
            status_code=500,
            body=body,
        )
    if status == NOT_FOUND:
        raise NotFoundError(
            f"Black Forest Labs no longer knows job {job.id} ({status})", provider=request.provider, model=request.model
        )
    return job  # Pending, or a state BFL added since: polled until the deadline


def _images(request: GenerationRequest, job: Job, body: dict[str, Any]) -> ImageResponse:
    result = body["result"]
    samples = result["sample"] if isinstance(result["sample"], list) else [result["sample"]]
    now = int(time.time())
    used_prompt = result.get("prompt")
    revised = used_prompt if isinstance(used_prompt, str) and used_prompt != request.prompt else None
    extra = {"seed": result["seed"]} if "seed" in result else {}
    images = [Image(url=url, expires_at=now + RESULT_LIFETIME, revised_prompt=revised, **extra) for url in samples]
    credits = body.get("cost", job.state.get("cost"))
    reported = credits * CREDIT_USD if _is_number(credits) else _edit_list_price(request, job)
    return ImageResponse(created=now, data=images, reported_cost=reported)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _edit_list_price(request: GenerationRequest, job: Job) -> float | None:
    """A FLUX.2 edit's list price when BFL reports no cost: the first output megapixel, each further one, and
    each input megapixel (BFL's formula). The megapixels are BFL's when it reports them, else the output size
    asked (the price table's default size when none was) and the input images' own sizes. None for a text-to-
    image call: the core prices its output alone."""
    assert request.spec is not None
    price = price_of(request.provider, request.spec.name)
    rule = price.per_megapixel if price is not None else None
    if not request.images or rule is None or rule.first is None:
        return None
    reported_output, reported_input = job.state.get("output_mp"), job.state.get("input_mp")
    if _is_number(reported_output):
        output_mp = float(reported_output)
    else:
        pixels = _asked_pixels(request) or _asked_pixels(request, price.defaults if price else {})
        output_mp = (pixels or rule.pixels) / rule.pixels
    if _is_number(reported_input):
        input_mp = float(reported_input)
    else:
        input_mp = sum(image.width * image.height for image in request.images) / rule.pixels
    return rule.first + rule.usd * (max(output_mp - 1, 0) + input_mp)


def _asked_pixels(request: GenerationRequest, params: Mapping[str, Any] | None = None) -> int | None:
    """The output pixels a request asked for (`size`, or `width` and `height`), if it did."""
    params = request.params if params is None else params
    width, height = params.get("width"), params.get("height")
    if isinstance(params.get("size"), str) and params["size"] != "auto":
        try:
            width, height = parse_size(params["size"])
        except ValueError:
            return None
    return width * height if isinstance(width, int) and isinstance(height, int) else None


def _details(body: dict[str, Any]) -> str:
    detail = body.get("error") or body.get("details")
    return f": {detail}" if detail else ""


def error_of(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """The core's mapping (it reads FastAPI's `detail`), saying why a polling URL on another host got no key."""
    return refused_without_credentials(request, response, DOMAINS, configured_api_base(request))
