"""fal's queue API: submit, poll `status_url`, then fetch `response_url`.

    POST {api_base}/{model id}      Authorization: Key …; the model's input JSON as the body
                                    → {request_id, status_url, response_url, cancel_url}
    GET  <status_url>               202 {status: IN_QUEUE | IN_PROGRESS}, 200 {status: COMPLETED}
    GET  <response_url>             the model's output ({images: [{url, width, height, content_type}]}),
                                    or the model's error with its status: a failure shows only here
    PUT  <cancel_url>               cancels a request that has not started (sent at the deadline)

The status, result and cancel URLs are taken verbatim (fal drops a model id's subpath in them). Errors are
FastAPI's `{"detail": …}` (422: a list of `{loc, msg, type}`, `content_policy_violation` among the types),
which the core's default mapping reads. Images are public URLs on fal's CDN.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from imagegen import masks
from imagegen.auth import answered_url_request, refused_without_credentials, required_api_key
from imagegen.exceptions import ContentPolicyViolationError, ImageGenError, InternalServerError
from imagegen.images import ImageInput
from imagegen.params import aspect_ratio_for, parse_size, reject
from imagegen.provider import GenerationRequest, Job, ProviderRequest
from imagegen.types import Image, ImageResponse

from .models import ASPECT_RATIOS

DEFAULT_API_BASE = "https://queue.fal.run"
DOMAINS = ("fal.run",)
"""fal's own domains: the queue (queue.fal.run) and its status, result and cancel URLs."""
API_KEY_ENV = ("FAL_KEY", "FAL_AI_API_KEY")
API_BASE_ENV = ("FAL_API_BASE",)
POLL_INTERVAL = 0.5
"""Seconds before the first status poll (the core backs off from it)."""
RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
NSFW_FLAGS = ("has_nsfw_concepts", "nsfw_content_detected")
_NOT_SENT = frozenset({"n", "response_format", "size"})
_IMAGE_FIELDS = ("width", "height", "content_type", "file_name", "file_size")


def api_key(request: GenerationRequest) -> str:
    return required_api_key(request, "fal", *API_KEY_ENV)


def configured_api_base(request: GenerationRequest) -> str | None:
    api_base: str | None = request.settings.get("api_base", *API_BASE_ENV)
    return api_base


def model_id(request: GenerationRequest) -> str:
    """The fal endpoint id (`fal-ai/flux/dev`); a model imagegen does not list must look like one."""
    if request.spec is not None:
        return request.spec.name
    if request.model.count("/") < 1 or "" in request.model.split("/"):
        raise request.refused(
            f"{request.model!r} is not a fal model id: use the endpoint id from the model's page, e.g. "
            "fal/fal-ai/flux/dev",
            param="model",
            code="model_not_found",
        )
    return request.model


def request_body(request: GenerationRequest) -> dict[str, Any]:
    """The model's input JSON: the prompt, `num_images`, the size, fal's own parameters and input images."""
    params = request.params
    body: dict[str, Any] = {"prompt": request.prompt} if request.prompt else {}
    per_call = request.spec.images_per_call(request.operation) if request.spec else None
    if "n" in params and (per_call is None or per_call > 1):
        body["num_images"] = params["n"]
    size = params.get("size")
    if isinstance(size, str) and size != "auto":
        body.update(_sized(request, size))
    body.update((name, value) for name, value in params.items() if name not in _NOT_SENT)
    # fal takes input images as URLs: a data URL carries each one inline.
    images = [image.data_url() for image in request.images]
    if len(images) == 1:
        body["image_url"] = images[0]
    elif images:
        body["image_urls"] = images
    if request.mask is not None:  # fal's inpainting models edit the mask's white area
        body["mask_url"] = ImageInput(masks.white_edits(request.mask), name="mask").data_url()
    return body


def _sized(request: GenerationRequest, size: str) -> dict[str, Any]:
    if request.spec is not None and request.spec.family == "kontext":
        return {"aspect_ratio": aspect_ratio_for(request, size, ASPECT_RATIOS)}
    try:
        width, height = parse_size(size)
    except ValueError as exc:
        reject(request, "size", size, "WIDTHxHEIGHT", reason=str(exc))
        return {}
    return {"image_size": {"width": width, "height": height}}


def _authorized(request: GenerationRequest, url: str, method: str) -> ProviderRequest:
    """A request to a URL fal gave: with the key only on fal's domains or the configured api_base's host."""
    key = api_key(request)
    return answered_url_request(url, method=method, credentials={"authorization": f"Key {key}"}, secrets=[key],
                                domains=DOMAINS, api_base=configured_api_base(request))  # fmt: skip


def submit_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    url = f"{(configured_api_base(request) or DEFAULT_API_BASE).rstrip('/')}/{model_id(request)}"
    key = api_key(request)
    return ProviderRequest(url=url, json=body, headers={"authorization": f"Key {key}"}, secrets=[key])


def job_of(request: GenerationRequest, response: httpx.Response) -> Job:
    body = response.json()
    return Job(
        id=str(body["request_id"]),
        poll=_authorized(request, body["status_url"], "GET"),
        cancel=_authorized(request, body["cancel_url"], "PUT") if body.get("cancel_url") else None,
        interval=float(request.settings.get("poll_interval", default=POLL_INTERVAL)),
        state={"response_url": body["response_url"]},
    )


def poll_outcome(request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
    """A status (the job, or on to its result once it left the queue), or the result: the images."""
    body = response.json()
    if job.finished:
        return images_of(request, body)
    if body.get("status") in RUNNING:
        return job
    # COMPLETED (or a failure state): the outcome, images or the model's error, is at the response URL.
    result = _authorized(request, body.get("response_url") or job.state["response_url"], "GET")
    return Job(id=job.id, poll=result, interval=0.0, state=job.state, finished=True)


def images_of(request: GenerationRequest, body: dict[str, Any]) -> ImageResponse:
    """The model's output: `images` (or one `image`), without those fal's safety checker flagged."""
    files = body.get("images") or ([body["image"]] if isinstance(body.get("image"), dict) else [])
    if not files:
        raise InternalServerError(
            f"fal answered without an image (the output's fields: {', '.join(sorted(body)) or 'none'})",
            provider=request.provider,
            model=request.model,
            status_code=502,
        )
    flags: list[Any] = next((body[name] for name in NSFW_FLAGS if isinstance(body.get(name), list)), [])
    kept = [file for index, file in enumerate(files) if not (index < len(flags) and flags[index])]
    if not kept:
        raise ContentPolicyViolationError(
            "fal's safety checker flagged every image (has_nsfw_concepts)",
            provider=request.provider,
            model=request.model,
            code="content_policy_violation",
        )
    if len(kept) < len(files):
        request.warnings.append(
            f"fal's safety checker flagged {len(files) - len(kept)} of {len(files)} images; they were left out"
        )
    seed = {"seed": body["seed"]} if "seed" in body else {}
    return ImageResponse(created=int(time.time()), data=[_image(file, seed) for file in kept])


def _image(file: dict[str, Any], seed: dict[str, Any]) -> Image:
    extra = {name: file[name] for name in _IMAGE_FIELDS if file.get(name) is not None}
    url = str(file["url"])
    if url.startswith("data:"):  # sync_mode: the image inline
        return Image(b64_json=url.partition(",")[2], **extra, **seed)
    return Image(url=url, **extra, **seed)


def error_of(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """The core's mapping (FastAPI's `detail`), saying why a URL on another host got no key."""
    return refused_without_credentials(request, response, DOMAINS, configured_api_base(request))
