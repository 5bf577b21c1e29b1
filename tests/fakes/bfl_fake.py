"""A strict fake of Black Forest Labs' FLUX API, from BFL's API reference (the project's reference, §4).

Three hosts, each its own port, as BFL runs them:

    api       POST /v1/{model}          x-key; JSON; → {id, polling_url, cost, input_mp, output_mp}
    gateway   GET  /v1/get_result?id=   x-key; → {status: Pending | Ready | Error | Failed |
                                         Request Moderated | Content Moderated | Task not found}
    delivery  GET  /results/{id}/sample.{png,jpeg}?se=<expiry>&sig=<signature>
              a signed URL that stops working 10 minutes after the job is ready (403, Azure's XML error)

It rejects what BFL rejects: a missing or wrong key (401 `{"detail": "Not authenticated"}`), unknown
fields, a width or height that is not a multiple of 16, under 64 or past 4 megapixels, an aspect ratio
outside 21:9..9:21, a safety_tolerance outside 0..6, input images that are not base64 images, more input
images than the model takes (422, FastAPI's `{"detail": [{loc, msg, type}]}`), and more active tasks
than the account may run (429, 24; 6 for flux-kontext-max). `next_outcome` says how the next jobs end.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PIL import Image as PILImage

from imagegen.images import sniff
from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream, png_image

API_KEY = "bfl-test-key-1234"
RESULT_LIFETIME = 600
COMMON_FIELDS = {
    "prompt",
    "seed",
    "safety_tolerance",
    "output_format",
    "prompt_upsampling",
    "webhook_url",
    "webhook_secret",
}


def _inputs(count: int) -> set[str]:
    return {"input_image", *(f"input_image_{i}" for i in range(2, count + 1))}


FLUX_2_PRICES = {  # credits: the first megapixel, each further one (and each input megapixel)
    "flux-2-pro": (3.0, 1.5),
    "flux-2-max": (7.0, 3.0),
    "flux-2-flex": (5.0, 5.0),
    "flux-2-klein-4b": (1.4, 0.1),
    "flux-2-klein-9b": (1.5, 0.2),
}
MODELS: dict[str, set[str]] = {
    "flux-pro-1.1": COMMON_FIELDS | {"width", "height"},
    "flux-pro-1.1-ultra": COMMON_FIELDS | {"aspect_ratio", "raw", "image_prompt", "image_prompt_strength"},
    "flux-kontext-pro": COMMON_FIELDS | {"aspect_ratio"} | _inputs(4),
    "flux-kontext-max": COMMON_FIELDS | {"aspect_ratio"} | _inputs(4),
    "flux-2-pro": COMMON_FIELDS | {"width", "height"} | _inputs(8),
    "flux-2-max": COMMON_FIELDS | {"width", "height"} | _inputs(8),
    "flux-2-flex": COMMON_FIELDS | {"width", "height", "steps", "guidance"} | _inputs(8),
    "flux-2-klein-4b": COMMON_FIELDS | {"width", "height"} | _inputs(4),
    "flux-2-klein-9b": COMMON_FIELDS | {"width", "height"} | _inputs(4),
}
FLAT_PRICES = {"flux-pro-1.1": 4.0, "flux-pro-1.1-ultra": 6.0, "flux-kontext-pro": 4.0, "flux-kontext-max": 8.0}
ACCOUNT_TASKS = 24
MODEL_TASKS = {"flux-kontext-max": 6}
OUTCOMES = ("Ready", "Request Moderated", "Content Moderated", "Error", "Failed")


def _jpeg() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (40, 120, 200)).save(out, "JPEG")
    return out.getvalue()


SAMPLES = {"png": png_image(8, 8), "jpeg": _jpeg()}


def problem(field: str, message: str, kind: str = "value_error") -> FakeResponse:
    return FakeResponse(422, {"detail": [{"loc": ["body", field], "msg": message, "type": kind}]})


@dataclass
class Task:
    model: str
    prompt: str
    output_format: str
    seed: int
    outcome: str
    polls: int = 0
    ready_at: float | None = None


class FakeBFL(FakeUpstream):
    """`url` is the API host; `gateway_url` the polling host; `delivery_url` the results' host."""

    def __init__(self, api_keys: tuple[str, ...] = (API_KEY,), polls_until_ready: int = 1) -> None:
        super().__init__()
        self.api_keys = api_keys
        self.polls_until_ready = polls_until_ready
        self.tasks: dict[str, Task] = {}
        self.active: set[str] = set()
        self.peak_active = 0
        self.next_outcome = "Ready"
        self.report_cost = True
        self.polling_host = "127.0.0.1"  # "localhost": polling URLs on a host that is not BFL's
        self.clock_offset = 0.0  # seconds added to the fake's clock: to let signed URLs expire
        self.result_lifetime = RESULT_LIFETIME
        self.retry_after = "0"  # BFL advises 5 s; tests need not wait
        self._ids = itertools.count(1)
        self._secret = b"delivery-signing-key"
        self._tasks_lock = threading.Lock()
        self.gateway_url = self.delivery_url = ""

    def start(self) -> FakeBFL:
        super().start()
        self.gateway_url = self.add_listener()
        self.delivery_url = self.add_listener()
        return self

    def now(self) -> float:
        return time.time() + self.clock_offset

    # Routing

    def handle(self, request: FakeRequest) -> FakeResponse:
        host = request.headers.get("host", "")
        if host.endswith(f":{urlsplit(self.delivery_url).port}"):
            return self.deliver(request)
        if request.method == "GET" and request.path == "/v1/get_result":
            return self.authenticated(request) or self.poll(request)
        model = request.path.removeprefix("/v1/")
        if host.endswith(f":{self.port}") and request.method == "POST" and model in MODELS:
            return self.authenticated(request) or self.submit(model, request)
        return FakeResponse(404, {"detail": "Not Found"})

    def authenticated(self, request: FakeRequest) -> FakeResponse | None:
        if request.headers.get("x-key") not in self.api_keys:
            return FakeResponse(401, {"detail": "Not authenticated"})
        return None

    # Submitting

    def submit(self, model: str, request: FakeRequest) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            return problem("body", "JSON decode error", "json_invalid")
        if not isinstance(body, dict):
            return problem("body", "Input should be a valid dictionary", "dict_type")
        invalid = self.invalid(model, body)
        if invalid is not None:
            return invalid
        with self._tasks_lock:
            busy = [task_id for task_id in self.active if self.tasks[task_id].model == model]
            if len(self.active) >= ACCOUNT_TASKS or len(busy) >= MODEL_TASKS.get(model, ACCOUNT_TASKS):
                return FakeResponse(
                    429,
                    {"error": "rate_limit_exceeded", "message": "Too many concurrent requests", "retry_after": 5},
                    {"retry-after": self.retry_after},
                )
            return self.new_task(model, body, self.next_outcome)

    def new_task(self, model: str, body: dict[str, Any], outcome: str) -> FakeResponse:
        task_id = f"task-{next(self._ids)}"
        self.tasks[task_id] = Task(
            model, body.get("prompt", ""), body.get("output_format", "jpeg"), body.get("seed", 42), outcome
        )
        self.active.add(task_id)
        self.peak_active = max(self.peak_active, len(self.active))
        gateway = urlsplit(self.gateway_url)
        answer: dict[str, Any] = {
            "id": task_id,
            "polling_url": f"http://{self.polling_host}:{gateway.port}/v1/get_result?id={task_id}",
        }
        if self.report_cost:
            answer.update(self.cost(model, body))
        return FakeResponse(200, answer)

    @staticmethod
    def cost(model: str, body: dict[str, Any]) -> dict[str, float]:
        output_mp = body.get("width", 1024) * body.get("height", 1024) / 1e6
        input_mp = 0.0
        for name in _inputs(8):
            if name in body:
                found = sniff(base64.b64decode(body[name])[: 64 * 1024])
                assert found is not None
                input_mp += found[1] * found[2] / 1e6
        if model in FLAT_PRICES:
            return {"cost": FLAT_PRICES[model], "input_mp": round(input_mp, 2), "output_mp": round(output_mp, 2)}
        first, each = FLUX_2_PRICES[model]
        credits = first + max(output_mp - 1, 0) * each + input_mp * each
        return {"cost": round(credits, 3), "input_mp": round(input_mp, 2), "output_mp": round(output_mp, 2)}

    def invalid(self, model: str, body: dict[str, Any]) -> FakeResponse | None:
        fields = MODELS[model]
        for name in body:
            if name not in fields:
                return problem(name, "Extra inputs are not permitted", "extra_forbidden")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return problem("prompt", "Field required", "missing")
        if ("width" in body) != ("height" in body):
            return problem("width", "width and height go together")
        for side in ("width", "height"):
            value = body.get(side)
            if value is not None and (not isinstance(value, int) or value % 16 or value < 64):
                return problem(side, "must be an integer multiple of 16, at least 64")
        if body.get("width", 0) * body.get("height", 0) > 4 * 1024 * 1024:
            return problem("width", "the output may have at most 4 megapixels")
        ratio = body.get("aspect_ratio")
        if ratio is not None and not self.valid_ratio(ratio):
            return problem("aspect_ratio", "must be W:H between 21:9 and 9:21")
        tolerance = body.get("safety_tolerance", 2)
        if not isinstance(tolerance, int) or isinstance(tolerance, bool) or not 0 <= tolerance <= 5:
            return problem("safety_tolerance", "Input should be less than or equal to 5")
        if body.get("output_format", "jpeg") not in ("jpeg", "png"):
            return problem("output_format", "Input should be 'jpeg' or 'png'", "enum")
        for flag in ("raw", "prompt_upsampling"):
            if flag in body and not isinstance(body[flag], bool):
                return problem(flag, "Input should be a valid boolean", "bool_type")
        if "steps" in body and not (isinstance(body["steps"], int) and 1 <= body["steps"] <= 50):
            return problem("steps", "Input should be between 1 and 50")
        if "guidance" in body and not (isinstance(body["guidance"], int | float) and 1.5 <= body["guidance"] <= 10):
            return problem("guidance", "Input should be between 1.5 and 10")
        return self.invalid_inputs(body)

    @staticmethod
    def invalid_inputs(body: dict[str, Any]) -> FakeResponse | None:
        names = sorted((name for name in body if name.startswith("input_image")), key=lambda n: (len(n), n))
        if names and names[0] != "input_image":
            return problem(names[0], f"{names[0]} needs input_image")
        for name in names:
            try:
                data = base64.b64decode(body[name], validate=True)
            except (binascii.Error, ValueError, TypeError):
                return problem(name, "Input image must be base64 or a URL")
            if sniff(data[: 64 * 1024]) is None:
                return problem(name, "Input image is not a PNG, JPEG or WEBP image")
        return None

    @staticmethod
    def valid_ratio(ratio: Any) -> bool:
        width, sep, height = str(ratio).partition(":")
        if not (sep and width.isdigit() and height.isdigit() and int(height)):
            return False
        return 9 / 21 <= int(width) / int(height) <= 21 / 9

    # Polling

    def poll(self, request: FakeRequest) -> FakeResponse:
        task_id = request.query.get("id", [""])[0]
        task = self.tasks.get(task_id)
        if task is None:
            return FakeResponse(200, {"id": task_id, "status": "Task not found"})
        task.polls += 1
        if self.hold_jobs or task.polls < self.polls_until_ready:
            return FakeResponse(200, {"id": task_id, "status": "Pending", "result": None, "progress": 0.5})
        self.active.discard(task_id)
        if task.outcome in ("Error", "Failed"):
            return FakeResponse(200, {"id": task_id, "status": task.outcome, "error": "Generation failed"})
        if task.outcome != "Ready":
            reasons = {"Moderation Reasons": ["Derivative Works Filter"]}
            return FakeResponse(200, {"id": task_id, "status": task.outcome, "details": reasons})
        task.ready_at = task.ready_at or self.now()
        return FakeResponse(200, {"id": task_id, "status": "Ready", "result": self.result(task_id, task)})

    def result(self, task_id: str, task: Task) -> dict[str, Any]:
        assert task.ready_at is not None
        expiry = int(task.ready_at + self.result_lifetime)
        path = f"/results/{task_id}/sample.{task.output_format}"
        sample = f"{self.delivery_url}{path}?se={expiry}&sig={self.signature(path, expiry)}"
        return {"sample": sample, "prompt": task.prompt, "seed": task.seed, "start_time": task.ready_at - 2,
                "end_time": task.ready_at, "duration": 2.0}  # fmt: skip

    def signature(self, path: str, expiry: int) -> str:
        return hmac.new(self._secret, f"{path}|{expiry}".encode(), hashlib.sha256).hexdigest()[:32]

    def deliver(self, request: FakeRequest) -> FakeResponse:
        expiry = request.query.get("se", ["0"])[0]
        signature = request.query.get("sig", [""])[0]
        valid = expiry.isdigit() and hmac.compare_digest(signature, self.signature(request.path, int(expiry)))
        if request.method != "GET" or not valid or self.now() > int(expiry):
            return FakeResponse(
                403,
                b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
                b"<Message>Server failed to authenticate the request.</Message></Error>",
                {"content-type": "application/xml"},
            )
        output_format = request.path.rpartition(".")[2]
        return FakeResponse(200, SAMPLES[output_format], {"content-type": f"image/{output_format}"})

    # Failures

    def error(self, kind: str) -> FakeResponse:
        if kind == "content_policy":  # BFL moderates in the job: the submit succeeds, the job ends moderated
            return self.new_task("flux-2-pro", {"prompt": "otter"}, "Request Moderated")
        return {
            "auth": FakeResponse(401, {"detail": "Not authenticated"}),
            "permission": FakeResponse(403, {"detail": "This API key may not use this model"}),
            "not_found": FakeResponse(404, {"detail": "Not Found"}),
            "bad_request": problem("prompt", "Field required", "missing"),
            "rate_limit": FakeResponse(
                429,
                {"error": "rate_limit_exceeded", "message": "Too many concurrent requests", "retry_after": 5},
                {"retry-after": self.retry_after},
            ),
            "server_error": FakeResponse(500, {"detail": "Internal Server Error"}),
            "unavailable": FakeResponse(503, {"detail": "Service Unavailable"}),
        }[kind]
