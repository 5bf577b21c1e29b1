"""A strict fake of fal's queue API, from fal's documentation (the project's reference, §5).

Two hosts, each its own port: the queue (`url`, as queue.fal.run) and the CDN (`cdn_url`, as v3.fal.media).

    POST /{owner}/{app}[/{path}]                    Authorization: Key …; the input JSON itself as the body
                                                    → 200 {status: IN_QUEUE, request_id, status_url,
                                                           response_url, cancel_url, queue_position}
    GET  /{owner}/{app}/requests/{id}/status         202 IN_QUEUE, 202 IN_PROGRESS, then 200 COMPLETED
    GET  /{owner}/{app}/requests/{id}                the model's output, or its error (422 `{"detail":
                                                    [{loc, msg, type}]}`, `content_policy_violation`
                                                    among the types; 500 with `X-Fal-Error-Type`)
    PUT  /{owner}/{app}/requests/{id}/cancel         cancels a request still queued

As fal's queue does, status, result and cancel URLs drop the model id's subpath (`fal-ai/flux/dev` is
polled under `fal-ai/flux/…`), and the model runs (so validates its input) only after the submit: a bad
input, like any model failure, shows only at the result. `next_failure` makes the next jobs fail so;
`nsfw` makes the safety checker flag every image; `empty_output` makes the model succeed without images.
A `mask_url` must be black and white (fal's inpainting models edit the white area), the image's size.
"""

from __future__ import annotations

import base64
import io
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream, png_image

API_KEY = "fal-test-key:1234"
SIZES = {"square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024), "portrait_16_9": (576, 1024),
         "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576)}  # fmt: skip
FLUX_FIELDS = {"prompt", "image_size", "seed", "num_images", "output_format", "sync_mode", "enable_safety_checker"}
MODELS: dict[str, set[str]] = {
    "fal-ai/flux/dev": FLUX_FIELDS | {"num_inference_steps", "guidance_scale", "acceleration"},
    "fal-ai/flux-pro/v1.1": FLUX_FIELDS | {"safety_tolerance", "enhance_prompt"},
    "fal-ai/recraft/v3/text-to-image": {"prompt", "image_size", "style", "colors", "style_id", "enable_safety_checker"},
    "fal-ai/flux-pro/kontext": {
        "prompt",
        "image_url",
        "seed",
        "guidance_scale",
        "num_images",
        "output_format",
        "safety_tolerance",
        "enhance_prompt",
        "aspect_ratio",
        "sync_mode",
    },
}
MODELS["fal-ai/flux-pro/kontext/max"] = MODELS["fal-ai/flux-pro/kontext"]
REQUIRED = {"fal-ai/flux-pro/kontext": {"prompt", "image_url"}, "fal-ai/flux-pro/kontext/max": {"prompt", "image_url"}}
SAMPLE = png_image(8, 8)


def data_url_picture(url: str) -> Any:
    """The picture a `data:` URL carries (Pillow)."""
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))


def problem(field: str, message: str, kind: str = "value_error") -> FakeResponse:
    return FakeResponse(422, {"detail": [{"loc": ["body", field], "msg": message, "type": kind}]})


@dataclass
class Request:
    app: str  # owner/app: the URL prefix of its status, result and cancel URLs
    model: str
    body: dict[str, Any]
    failure: str | None
    status_polls: int = 0
    cancelled: bool = False
    result_fetches: int = 0
    keys: list[str | None] = field(default_factory=list)


class FakeFal(FakeUpstream):
    def __init__(self, api_keys: tuple[str, ...] = (API_KEY,), polls_until_done: int = 2) -> None:
        super().__init__()
        self.api_keys = api_keys
        self.polls_until_done = polls_until_done
        self.jobs: dict[str, Request] = {}
        self.next_failure: str | None = None  # "content_policy", "runner", or None
        self.nsfw = False
        self.empty_output = False  # a model that succeeds without making an image
        self.status_host = "127.0.0.1"  # "localhost": status URLs on a host that is not fal's
        self.cdn_url = ""
        self._ids = itertools.count(1)
        self._jobs_lock = threading.Lock()

    def start(self) -> FakeFal:
        super().start()
        self.cdn_url = self.add_listener()
        return self

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.port != self.port:
            return self.cdn(request)
        parts = request.path.strip("/").split("/")
        if "requests" in parts:
            return self.queue_request(request, parts)
        if request.method != "POST" or len(parts) < 2:
            return FakeResponse(404, {"detail": f"Not Found: {request.method} {request.path}"})
        if (denied := self.authenticated(request)) is not None:
            return denied
        return self.submit("/".join(parts), request)

    def authenticated(self, request: FakeRequest) -> FakeResponse | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Key ") or auth.removeprefix("Key ") not in self.api_keys:
            return FakeResponse(401, {"detail": "Unauthorized"})
        return None

    # The queue

    def submit(self, model: str, request: FakeRequest, failure: str | None = None) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            return problem("body", "Invalid JSON")
        if not isinstance(body, dict) or ("input" in body and len(body) == 1):
            return problem("body", "the body is the model's input itself, not wrapped in {input: …}")
        with self._jobs_lock:
            request_id = f"req-{next(self._ids)}"
            app = "/".join(model.split("/")[:2])
            self.jobs[request_id] = Request(app, model, body, failure or self.next_failure)
        base = f"{self.url}/{app}/requests/{request_id}"
        status_base = base.replace("127.0.0.1", self.status_host, 1)
        return FakeResponse(200, {"status": "IN_QUEUE", "request_id": request_id, "response_url": base,
                                  "status_url": f"{status_base}/status", "cancel_url": f"{base}/cancel",
                                  "queue_position": 0})  # fmt: skip

    def queue_request(self, request: FakeRequest, parts: list[str]) -> FakeResponse:
        index = parts.index("requests")
        app, rest = "/".join(parts[:index]), parts[index + 1 :]
        job = self.jobs.get(rest[0]) if rest else None
        if job is None or job.app != app:  # a subpath kept in the URL is not found, as on fal
            return FakeResponse(404, {"detail": "Request not found"})
        job.keys.append(request.headers.get("authorization"))
        if (denied := self.authenticated(request)) is not None:
            return denied
        action = rest[1] if len(rest) > 1 else None
        if action == "status" and request.method == "GET":
            return self.status(rest[0], job)
        if action == "cancel" and request.method == "PUT":
            job.cancelled = job.status_polls < self.polls_until_done or self.hold_jobs
            return FakeResponse(200 if job.cancelled else 400,
                                {"status": "CANCELLATION_REQUESTED" if job.cancelled else "ALREADY_COMPLETED"})  # fmt: skip
        if action is None and request.method == "GET":
            return self.result(job)
        return FakeResponse(405, {"detail": "Method Not Allowed"})

    def done(self, job: Request) -> bool:
        return not self.hold_jobs and not job.cancelled and job.status_polls >= self.polls_until_done

    def status(self, request_id: str, job: Request) -> FakeResponse:
        job.status_polls += 1
        response_url = f"{self.url}/{job.app}/requests/{request_id}"
        if self.done(job):
            return FakeResponse(200, {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 1.2},
                                      "response_url": response_url})  # fmt: skip
        state = "IN_QUEUE" if job.status_polls == 1 else "IN_PROGRESS"
        return FakeResponse(202, {"status": state, "queue_position": 0, "response_url": response_url, "logs": None})

    def result(self, job: Request) -> FakeResponse:
        job.result_fetches += 1
        if not self.done(job):
            return FakeResponse(400, {"detail": "Request is still in progress"})
        if job.failure == "content_policy":
            return FakeResponse(422, {"detail": [{"loc": ["body", "prompt"], "msg": "The content was flagged by a "
                                      "content checker.", "type": "content_policy_violation",
                                      "url": "https://docs.fal.ai/errors#content_policy_violation"}]})  # fmt: skip
        if job.failure == "runner":
            return FakeResponse(500, {"detail": "Runner disconnected", "error_type": "runner_disconnected"},
                                {"x-fal-error-type": "runner_disconnected"})  # fmt: skip
        invalid = self.invalid(job.model, job.body)
        if invalid is not None:
            return invalid
        return FakeResponse(200, self.output(job))

    def invalid(self, model: str, body: dict[str, Any]) -> FakeResponse | None:
        """The model's own input check: it runs when the job does, so its errors show at the result."""
        fields = MODELS.get(model)  # a model this fake does not list takes any field, checked as fal's FLUX ones
        for name in body:
            if fields is not None and name not in fields:
                return problem(name, "Extra inputs are not permitted", "extra_forbidden")
        for name in REQUIRED.get(model, {"prompt"}):
            if not body.get(name):
                return problem(name, "Field required", "missing")
        size = body.get("image_size", "landscape_4_3")
        if not (
            (isinstance(size, dict) and set(size) == {"width", "height"}) or (isinstance(size, str) and size in SIZES)
        ):
            return problem("image_size", "Input should be an ImageSize or one of " + ", ".join(SIZES), "enum")
        if not 1 <= body.get("num_images", 1) <= 4:
            return problem("num_images", "Input should be less than or equal to 4", "less_than_equal")
        if body.get("safety_tolerance", "2") not in ("1", "2", "3", "4", "5", "6"):
            return problem("safety_tolerance", "Input should be '1', '2', '3', '4', '5' or '6'", "enum")
        for name in ("image_url", "mask_url"):
            if name in body and not str(body[name]).startswith(("data:image/", "https://")):
                return problem(name, "Input should be a valid URL or data URI", "url_parsing")
        if str(body.get("mask_url", "")).startswith("data:"):
            return self.invalid_mask(body)
        return None

    @staticmethod
    def invalid_mask(body: dict[str, Any]) -> FakeResponse | None:
        """fal's inpainting masks are black and white, white where to edit, the size of the image (no alpha)."""
        mask = data_url_picture(body["mask_url"])
        if "A" in mask.getbands() or any(mask.convert("L").histogram()[1:255]):
            return problem("mask_url", "The mask must be black and white (white where to edit), without transparency")
        image_url = str(body.get("image_url", ""))
        if image_url.startswith("data:") and data_url_picture(image_url).size != mask.size:
            return problem("mask_url", "The mask must have the dimensions of the image")
        return None

    def output(self, job: Request) -> dict[str, Any]:
        if self.empty_output:
            return {"images": [], "seed": 42, "prompt": job.body.get("prompt", "")}
        size = job.body.get("image_size", "landscape_4_3")
        width, height = (size["width"], size["height"]) if isinstance(size, dict) else SIZES[size]
        count = job.body.get("num_images", 1)
        images = [{"url": f"{self.cdn_url}/files/{job.app}/{i}.png", "width": width, "height": height,
                   "content_type": "image/png"} for i in range(count)]  # fmt: skip
        if job.model.startswith("fal-ai/recraft"):  # Recraft answers File objects, without dimensions
            images = [{"url": image["url"], "content_type": "image/png", "file_name": "image.png", "file_size": 1}
                      for image in images]  # fmt: skip
        return {"images": images, "seed": job.body.get("seed", 42), "has_nsfw_concepts": [self.nsfw] * count,
                "prompt": job.body.get("prompt", ""), "timings": {"inference": 1.2}}  # fmt: skip

    def cdn(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.startswith("/files/"):
            return FakeResponse(200, SAMPLE, {"content-type": "image/png"})
        return FakeResponse(404, b"Not Found", {"content-type": "text/plain"})

    # Failures

    def error(self, kind: str) -> FakeResponse:
        if kind == "content_policy":  # the queue takes the request; the model's checker refuses it
            return self.submit("fal-ai/flux/dev", FakeRequest("POST", "/", {}, {}, b'{"prompt": "x"}'), kind)
        return {
            "auth": FakeResponse(401, {"detail": "Unauthorized"}),
            "permission": FakeResponse(403, {"detail": "User is locked. Reason: Exhausted balance."}),
            "not_found": FakeResponse(404, {"detail": "Application 'nope' not found"}),
            "bad_request": problem("prompt", "Field required", "missing"),
            "rate_limit": FakeResponse(429, {"detail": "Too many requests"}, {"retry-after": "0"}),
            "server_error": FakeResponse(500, {"detail": "Internal Server Error"}),
            "unavailable": FakeResponse(503, {"detail": "Service Unavailable"}),
        }[kind]
