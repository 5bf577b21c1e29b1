"""A strict fake of Stability AI's v2beta REST API (Stability's API reference and ComfyUI nodes, as gathered
in the reference §3).

Multipart only (a JSON body: 400 "content-type: must be multipart/form-data"), `Authorization: Bearer`,
`Accept: application/json` (or `image/*`), the fields, enums and ranges of each service, files where files
belong; answers `{"image", "finish_reason", "seed"}`; errors as `{"id", "name", "errors": [...]}`. A prompt
containing MODERATED_WORD is refused (403 content_moderation); one containing BLURRED_WORD comes back
`CONTENT_FILTERED`. `upscale/creative` answers `{"id"}`; `GET /v2beta/results/{id}` (with `Accept: image/*`
or `*/*`, as the reference's step 2 says) answers 202 while it runs (`polls_until_ready` polls, or forever
under `hold_jobs`), then the image's bytes with its `finish-reason` and `seed` headers.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from imagegen.images import sniff
from imagegen.testing import TINY_PNG, TINY_PNG_B64, FakeFile, FakeRequest, FakeResponse, FakeUpstream

ASPECT_RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}
SD3_MODELS = {
    "sd3.5-large",
    "sd3.5-large-turbo",
    "sd3.5-medium",
    "sd3.5-flash",
    "sd3-large",
    "sd3-large-turbo",
    "sd3-medium",
}
STYLE_PRESETS = {"3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
                 "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
                 "pixel-art", "tile-texture"}  # fmt: skip
MODERATED_WORD = "forbidden-scene"
BLURRED_WORD = "blurred-scene"
GENERATE = {"prompt", "negative_prompt", "aspect_ratio", "seed", "output_format"}
# path → (required fields, optional fields, required files, optional files, output formats)
SERVICES: dict[str, tuple[set[str], set[str], set[str], set[str], set[str]]] = {
    "generate/ultra": ({"prompt"}, GENERATE | {"strength"}, set(), {"image"}, {"png", "jpeg"}),
    "generate/core": ({"prompt"}, GENERATE | {"style_preset"}, set(), set(), {"png", "jpeg", "webp"}),
    "generate/sd3": ({"prompt"}, GENERATE | {"model", "mode", "cfg_scale", "strength"}, set(), {"image"}, {"png", "jpeg"}),
    "edit/inpaint": ({"prompt"}, {"negative_prompt", "grow_mask", "seed", "output_format"}, {"image"}, {"mask"}, {"png", "jpeg", "webp"}),
    "edit/erase": (set(), {"grow_mask", "seed", "output_format"}, {"image"}, {"mask"}, {"png", "jpeg", "webp"}),
    "edit/search-and-replace": ({"prompt", "search_prompt"}, {"negative_prompt", "grow_mask", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "edit/search-and-recolor": ({"prompt", "select_prompt"}, {"negative_prompt", "grow_mask", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "edit/outpaint": (set(), {"prompt", "left", "right", "up", "down", "creativity", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "edit/remove-background": (set(), {"output_format"}, {"image"}, set(), {"png", "webp"}),
    "control/sketch": ({"prompt"}, {"control_strength", "negative_prompt", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "control/structure": ({"prompt"}, {"control_strength", "negative_prompt", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "control/style": ({"prompt"}, {"fidelity", "aspect_ratio", "negative_prompt", "seed", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "upscale/fast": (set(), {"output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "upscale/conservative": ({"prompt"}, {"negative_prompt", "seed", "creativity", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
    "upscale/creative": ({"prompt"}, {"negative_prompt", "seed", "creativity", "output_format"}, {"image"}, set(), {"png", "jpeg", "webp"}),
}  # fmt: skip
INTEGERS = {
    "seed": (0, 4294967294),
    "grow_mask": (0, 20),
    "left": (0, 512),
    "right": (0, 512),
    "up": (0, 512),
    "down": (0, 512),
}
FLOATS = {
    "cfg_scale": (1, 10),
    "strength": (0, 1),
    "creativity": (0.1, 1),
    "control_strength": (0, 1),
    "fidelity": (0, 1),
}
UPSCALE_CREATIVITY = (0.1, 0.5)  # the conservative and creative upscalers
RESULT_ACCEPTS = ("image/*", "*/*")
FAST_UPSCALE_PIXELS = (1024, 1024 * 1024)
FAST_UPSCALE_SIDES = (32, 1536)


def stability_error(status: int, name: str, *errors: str) -> FakeResponse:
    return FakeResponse(status, {"id": os.urandom(16).hex(), "name": name, "errors": list(errors)})


class FakeStability(FakeUpstream):
    def __init__(self, api_key: str = "sk-stability-test-1234", polls_until_ready: int = 2) -> None:
        super().__init__()
        self.api_key = api_key
        self.polls_until_ready = polls_until_ready
        self.jobs: dict[str, int] = {}
        self.job_prompts: dict[str, str] = {}
        self.files: list[dict[str, list[FakeFile]]] = []
        """The files of every accepted multipart request."""

    def error(self, kind: str) -> FakeResponse:
        return {
            "auth": stability_error(401, "unauthorized", "authorization: invalid or missing"),
            "permission": stability_error(403, "forbidden", "You do not have access to this resource"),
            "not_found": stability_error(404, "not_found", "route not found"),
            "bad_request": stability_error(400, "bad_request", "prompt: cannot be empty"),
            "content_policy": stability_error(403, "content_moderation", "Your request was flagged by our content moderation system"),
            "rate_limit": FakeResponse(429, {"id": "x", "name": "rate_limit_exceeded", "errors": ["You have exceeded the rate limit"]}, {"retry-after": "0"}),
            "server_error": stability_error(500, "internal_error", "An unexpected server error occurred"),
            "unavailable": stability_error(503, "service_unavailable", "The service is temporarily unavailable"),
        }[kind]  # fmt: skip

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error("auth")
        if request.method == "GET" and request.path.startswith("/v2beta/results/"):
            if request.headers.get("accept") not in RESULT_ACCEPTS:
                return stability_error(400, "bad_request", "accept: must be image/* or */*")
            return self.result(request.path.rpartition("/")[2])
        if request.headers.get("accept") not in ("application/json", "image/*"):
            return stability_error(400, "bad_request", "accept: must be image/* or application/json")
        path = request.path.removeprefix("/v2beta/stable-image/")
        if request.method != "POST" or path not in SERVICES:
            return stability_error(404, "not_found", f"{request.method} {request.path} not found")
        try:
            fields, files = request.form()
        except ValueError:
            return stability_error(400, "bad_request", "content-type: must be multipart/form-data")
        problem = self.check(path, {k: v[0] for k, v in fields.items()}, files)
        if problem:
            return stability_error(400, "bad_request", problem)
        self.files.append(files)
        prompt = fields.get("prompt", [""])[0]
        if MODERATED_WORD in prompt:
            return self.error("content_policy")
        if path == "upscale/creative":
            job = os.urandom(32).hex()
            self.jobs[job] = 0
            self.job_prompts[job] = prompt
            return FakeResponse(200, {"id": job})
        reason = "CONTENT_FILTERED" if BLURRED_WORD in prompt else "SUCCESS"
        return FakeResponse(200, {"image": TINY_PNG_B64, "finish_reason": reason, "seed": 1234})

    def check(self, path: str, fields: dict[str, str], files: dict[str, list[FakeFile]]) -> str | None:
        required, optional, required_files, optional_files, formats = SERVICES[path]
        for name in fields:
            if name in ("image", "mask"):
                return f"{name}: must be a file"
            if name not in required | optional:
                return f"{name}: unrecognized field"
        for name in required - fields.keys():
            return f"{name}: is required"
        for name in files:
            if name not in required_files | optional_files or len(files[name]) != 1:
                return f"{name}: unexpected file"
            if sniff(files[name][0].data) is None:
                return f"{name}: invalid image"
        for name in required_files - files.keys():
            return f"{name}: is required"
        ranges = {**INTEGERS, **FLOATS}
        if path in ("upscale/conservative", "upscale/creative"):
            ranges["creativity"] = UPSCALE_CREATIVITY
        if path == "upscale/fast" and (problem := self.check_fast_upscale(files["image"][0])):
            return problem
        for name, (low, high) in ranges.items():
            if name in fields:
                try:
                    value = float(fields[name]) if name in FLOATS else int(fields[name])
                except ValueError:
                    return f"{name}: must be a number"
                if not low <= value <= high:
                    return f"{name}: must be between {low} and {high}"
        if fields.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
            return "aspect_ratio: invalid"
        if fields.get("output_format", "png") not in formats:
            return f"output_format: must be one of {sorted(formats)}"
        if fields.get("style_preset", "enhance") not in STYLE_PRESETS:
            return "style_preset: invalid"
        if path == "generate/sd3":
            return self.check_sd3(fields, files)
        if path == "edit/outpaint" and not any(fields.get(side) for side in ("left", "right", "up", "down")):
            return "at least one of left, right, up or down must be given"
        return None

    @staticmethod
    def check_fast_upscale(image: FakeFile) -> str | None:
        found = sniff(image.data)
        assert found is not None
        width, height = found[1], found[2]
        low, high = FAST_UPSCALE_PIXELS
        if not low <= width * height <= high or not all(FAST_UPSCALE_SIDES[0] <= side <= FAST_UPSCALE_SIDES[1]
                                                         for side in (width, height)):  # fmt: skip
            return "image: must be 32 to 1536 pixels a side and 1,024 to 1,048,576 pixels in all"
        return None

    @staticmethod
    def check_sd3(fields: dict[str, str], files: dict[str, Any]) -> str | None:
        if fields.get("model", "sd3.5-large") not in SD3_MODELS:
            return "model: invalid"
        if fields.get("mode", "text-to-image") == "image-to-image":
            if "image" not in files or "strength" not in fields:
                return "image and strength: required in image-to-image mode"
            if "aspect_ratio" in fields:
                return "aspect_ratio: not allowed in image-to-image mode"
        elif "image" in files:
            return "image: only in image-to-image mode"
        return None

    def result(self, job: str) -> FakeResponse:
        if job not in self.jobs:
            return stability_error(404, "not_found", f"no generation with id {job}")
        self.jobs[job] += 1
        if self.hold_jobs or self.jobs[job] < self.polls_until_ready:
            return FakeResponse(202, {"id": job, "status": "in-progress"})
        reason = "CONTENT_FILTERED" if BLURRED_WORD in self.job_prompts.get(job, "") else "SUCCESS"
        return FakeResponse(200, TINY_PNG, {"content-type": "image/png", "finish-reason": reason, "seed": "99"})


def mask_sent(files: dict[str, list[FakeFile]]) -> bytes:
    return files["mask"][0].data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
