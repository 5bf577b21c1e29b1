"""A strict fake of OpenAI's Images API, from OpenAI's API reference (`openai-openapi.yaml`).

`POST /v1/images/generations` (JSON), `/v1/images/edits` (multipart: `image`, `image[]` or repeated
`image` file parts, `mask`), `/v1/images/variations` (multipart, dall-e-2). It rejects what OpenAI
rejects: a missing or wrong key (401), unknown fields, values outside each model's enums (400
`invalid_value`), text where a file belongs, images of the wrong type, size or shape; and answers in
OpenAI's error shape. `stream: true` on a GPT image model answers Server-Sent Events (`partial_images`
partial images, then the completed image with its usage), `event_delay` seconds apart.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

from imagegen.images import sniff
from imagegen.testing import TINY_PNG, TINY_PNG_B64, FakeFile, FakeRequest, FakeResponse, FakeUpstream, event_stream

REQUEST_FIELDS = {
    "prompt", "model", "n", "quality", "response_format", "output_format", "output_compression", "stream",
    "partial_images", "size", "moderation", "background", "style", "user",
}  # fmt: skip
GPT_IMAGE_2 = {"gpt-image-2", "gpt-image-2-2026-04-21"}
"""Take any WIDTHxHEIGHT within limits (`free_size_problem`) besides the standard sizes."""
GPT_IMAGE = {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", *GPT_IMAGE_2}
COMPRESSED_FORMATS = {"jpeg", "webp"}
TRANSPARENT_FORMATS = {"png", "webp"}
MODEL_RULES: dict[str, dict[str, set[Any]]] = {
    **{
        name: {
            **({} if name in GPT_IMAGE_2 else {"size": {"auto", "1024x1024", "1536x1024", "1024x1536"}}),
            "quality": {"auto", "low", "medium", "high"},
            "background": {"auto", "transparent", "opaque"},
            "moderation": {"auto", "low"},
            "output_format": {"png", "jpeg", "webp"},
        }
        for name in GPT_IMAGE
    },
    "dall-e-3": {
        "size": {"1024x1024", "1792x1024", "1024x1792"},
        "quality": {"auto", "standard", "hd"},
        "style": {"vivid", "natural"},
        "response_format": {"url", "b64_json"},
    },
    "dall-e-2": {
        "size": {"256x256", "512x512", "1024x1024"},
        "quality": {"auto", "standard"},
        "response_format": {"url", "b64_json"},
    },
}
GPT_ONLY = {"background", "moderation", "output_format", "output_compression", "stream", "partial_images"}
EDIT_FIELDS = {
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "background",
    "input_fidelity",
    "stream",
    "partial_images",
    "user",
}  # fmt: skip  (multipart edits have no `moderation` and no `style`)
EDIT_FILES = {"image", "image[]", "mask"}
VARIATION_FIELDS = {"model", "n", "size", "response_format", "user"}
INPUT_FIDELITY_MODELS = {"gpt-image-1", "gpt-image-1.5"}
INTEGER_FIELDS = {"n", "output_compression", "partial_images"}
MB = 1024 * 1024


def free_size_problem(size: Any) -> str | None:
    """Why gpt-image-2 refuses `size` (OpenAI: sides divisible by 16, ratio 1:3 to 3:1, at most 3840x2160)."""
    if size == "auto":
        return None
    width, sep, height = str(size).partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or not int(width) or not int(height):
        return "expected WIDTHxHEIGHT or auto"
    w, h = int(width), int(height)
    if w % 16 or h % 16:
        return "width and height must be divisible by 16"
    if not 1 / 3 <= w / h <= 3:
        return "the aspect ratio must be between 1:3 and 3:1"
    if max(w, h) > 3840 or w * h > 3840 * 2160:
        return "the maximum supported resolution is 3840x2160"
    return None


def openai_error(
    status: int, message: str, type_: str, param: str | None = None, code: str | None = None
) -> FakeResponse:
    return FakeResponse(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


class FakeOpenAI(FakeUpstream):
    """Serves under `{url}/v1`; accepts the API keys it is given."""

    def __init__(self, api_keys: tuple[str, ...] = ("sk-test-key-1234",), image: bytes = TINY_PNG) -> None:
        super().__init__()
        self.api_keys = api_keys
        self.image_b64 = TINY_PNG_B64 if image == TINY_PNG else base64.b64encode(image).decode()
        self.image = image
        self.event_delay = 0.0
        self.uploads: list[tuple[dict[str, list[str]], dict[str, list[FakeFile]]]] = []
        """Every multipart body received: its fields and its files."""

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def error(self, kind: str) -> FakeResponse:
        return {
            "auth": openai_error(401, f"Incorrect API key provided: {self.api_keys[0]}.", "invalid_request_error", code="invalid_api_key"),
            "permission": openai_error(403, "You are not allowed to sample from this model", "invalid_request_error"),
            "not_found": openai_error(404, "The model `x` does not exist", "invalid_request_error", code="model_not_found"),
            "bad_request": openai_error(400, "Invalid prompt", "invalid_request_error", param="prompt"),
            "content_policy": openai_error(
                400,
                "Your request was rejected as a result of our safety system.",
                "image_generation_user_error",
                code="content_policy_violation",
            ),
            "rate_limit": FakeResponse(
                429,
                {"error": {"message": "Rate limit reached for images per minute", "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
                {"retry-after-ms": "5"},
            ),
            "server_error": openai_error(500, "The server had an error while processing your request.", "server_error"),
            "unavailable": openai_error(503, "The engine is currently overloaded, please try again later.", "server_error"),
            "mid_stream_error": event_stream(
                [
                    ("image_generation.partial_image", self.event("image_generation.partial_image", {}, index=0)),
                    ("error", {"error": {"message": "The server had an error while processing your request.",
                                         "type": "server_error", "param": None, "code": None}}),
                ]
            ),
        }[kind]  # fmt: skip

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.startswith("/files/"):
            return FakeResponse(200, self.image, {"content-type": "image/png"})
        operation = {
            "/v1/images/generations": self.generate_json,
            "/v1/images/edits": self.edit_form,
            "/v1/images/variations": self.variation_form,
        }.get(request.path)
        if request.method != "POST" or operation is None:
            return openai_error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")
        if (denied := self.authenticate(request)) is not None:
            return denied
        return operation(request)

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """None when the bearer key is accepted, else OpenAI's 401."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return openai_error(401, "You didn't provide an API key.", "invalid_request_error")
        if auth.removeprefix("Bearer ") not in self.api_keys:
            return openai_error(
                401,
                f"Incorrect API key provided: {auth.removeprefix('Bearer ')}.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        return None

    def generate_json(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("content-type") != "application/json":
            return openai_error(400, "Invalid content type; expected application/json", "invalid_request_error")
        try:
            body = request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        return self.generate(body)

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        """Check a generation's fields against the model's rules and answer (also behind an edit)."""
        for name in body:
            if name not in REQUEST_FIELDS:
                return openai_error(
                    400, f"Unknown parameter: '{name}'.", "invalid_request_error", name, "unknown_parameter"
                )
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return openai_error(
                400,
                "Missing required parameter: 'prompt'.",
                "invalid_request_error",
                "prompt",
                "missing_required_parameter",
            )
        model = body.get("model") or "dall-e-2"
        rules = MODEL_RULES.get(model)
        if rules is None:
            return openai_error(
                404, f"The model `{model}` does not exist.", "invalid_request_error", "model", "model_not_found"
            )
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return openai_error(400, f"Invalid value for 'n': {n}.", "invalid_request_error", "n", "invalid_value")
        if model == "dall-e-3" and n != 1:
            return openai_error(
                400, "You must provide n=1 for this model.", "invalid_request_error", "n", "invalid_value"
            )
        for name, value in body.items():
            allowed = rules.get(name)
            gpt_only = name in GPT_ONLY and model not in GPT_IMAGE
            free_size = name == "size" and model in GPT_IMAGE_2  # checked below
            if gpt_only or (
                name in ("size", "quality", "style", "response_format") and allowed is None and not free_size
            ):
                return openai_error(
                    400,
                    f"Unsupported parameter: '{name}' is not supported with this model.",
                    "invalid_request_error",
                    name,
                    "unsupported_parameter",
                )
            if allowed is not None and value not in allowed:
                supported = ", ".join(f"'{v}'" for v in sorted(allowed))
                return openai_error(
                    400,
                    f"Invalid value: '{value}'. Supported values are: {supported}.",
                    "invalid_request_error",
                    name,
                    "invalid_value",
                )
        if model in GPT_IMAGE_2 and (problem := free_size_problem(body.get("size", "auto"))):
            return openai_error(400, f"Invalid size '{body['size']}': {problem}.", "invalid_request_error", "size",
                                "invalid_value")  # fmt: skip
        output_format = body.get("output_format", "png")
        if "output_compression" in body and output_format not in COMPRESSED_FORMATS:
            return openai_error(
                400,
                "output_compression is only supported for the jpeg and webp output formats.",
                "invalid_request_error",
                "output_compression",
                "invalid_value",
            )
        if body.get("background") == "transparent" and output_format not in TRANSPARENT_FORMATS:
            return openai_error(400, "Transparent background requires output_format png or webp.",
                                "invalid_request_error", "background", "invalid_value")  # fmt: skip
        if body.get("stream") is True:
            return self.streamed("image_generation", n, body)
        return FakeResponse(200, self.images_response(model, n, body))

    # -- edits and variations (multipart) ---------------------------------------------------------------

    def read_form(self, request: FakeRequest) -> tuple[dict[str, Any], dict[str, list[FakeFile]]] | FakeResponse:
        """The form's fields (numbers and booleans parsed, as OpenAI does) and files, or OpenAI's 400."""
        try:
            fields, files = request.form()
        except ValueError as exc:
            return openai_error(400, f"Invalid multipart body: {exc}", "invalid_request_error")
        self.uploads.append((fields, files))
        parsed: dict[str, Any] = {}
        for name, values in fields.items():
            if name in EDIT_FILES:
                return openai_error(
                    400, f"Invalid type for '{name}': expected a file, but got a string.", "invalid_request_error", name
                )
            if len(values) > 1:
                return openai_error(400, f"Duplicate parameter: '{name}'.", "invalid_request_error", name)
            value: Any = values[0]
            if name in INTEGER_FIELDS:
                if not value.lstrip("-").isdigit():
                    return openai_error(400, f"Invalid value for '{name}': expected an integer.",
                                        "invalid_request_error", name, "invalid_type")  # fmt: skip
                value = int(value)
            elif name == "stream":
                if value not in ("true", "false"):
                    return openai_error(400, "Invalid value for 'stream': expected a boolean.",
                                        "invalid_request_error", name, "invalid_type")  # fmt: skip
                value = value == "true"
            parsed[name] = value
        return parsed, files

    def edit_form(self, request: FakeRequest, deployment_model: str | None = None) -> FakeResponse:
        """An edit; `deployment_model`: the model behind an Azure deployment URL (its `model` field is ignored)."""
        form = self.read_form(request)
        if isinstance(form, FakeResponse):
            return form
        fields, files = form
        if deployment_model is not None:
            fields["model"] = deployment_model
        for name in [*fields, *files]:
            if name not in EDIT_FIELDS | EDIT_FILES:
                return openai_error(
                    400, f"Unknown parameter: '{name}'.", "invalid_request_error", name, "unknown_parameter"
                )
        images = files.get("image", []) + files.get("image[]", [])
        if not images:
            return openai_error(400, "Missing required parameter: 'image'.", "invalid_request_error", "image",
                                "missing_required_parameter")  # fmt: skip
        if not fields.get("prompt"):
            return openai_error(400, "Missing required parameter: 'prompt'.", "invalid_request_error", "prompt",
                                "missing_required_parameter")  # fmt: skip
        model = fields.get("model", "gpt-image-1.5")
        if model not in GPT_IMAGE and model != "dall-e-2":
            return openai_error(400, f"Invalid value: '{model}'. Value must be one of the image edit models.",
                                "invalid_request_error", "model", "invalid_value")  # fmt: skip
        if model == "dall-e-2":
            if len(images) != 1:
                return openai_error(400, "dall-e-2 edits take exactly one image.", "invalid_request_error", "image")
            problem = self.check_image(images[0], formats={"png"}, max_bytes=4 * MB, square=True)
        else:
            if len(images) > 16:
                return openai_error(400, "At most 16 images may be edited at once.", "invalid_request_error", "image")
            problem = next((p for image in images if (p := self.check_image(image, max_bytes=50 * MB))), None)
        if problem:
            return openai_error(400, problem, "invalid_request_error", "image", "invalid_image")
        if "mask" in files:
            mask_problem = self.check_mask(files["mask"], images[0])
            if mask_problem is None and len(files["mask"][0].data) >= 4 * MB:
                mask_problem = "Uploaded mask must be less than 4 MB."
            if mask_problem:
                return openai_error(400, mask_problem, "invalid_request_error", "mask", "invalid_image")
        if "input_fidelity" in fields and model not in INPUT_FIDELITY_MODELS:
            return openai_error(400, f"The model '{model}' does not support the 'input_fidelity' parameter.",
                                "invalid_request_error", "input_fidelity", "invalid_input_fidelity_model")  # fmt: skip
        if "response_format" in fields and model != "dall-e-2":
            return openai_error(400, "Unknown parameter: 'response_format'.", "invalid_request_error",
                                "response_format", "unknown_parameter")  # fmt: skip
        checked = self.generate({k: v for k, v in fields.items() if k not in ("input_fidelity",)} | {"model": model})
        if checked.status != 200 or fields.get("stream") is not True:
            return checked
        return self.streamed("image_edit", fields.get("n", 1), fields)

    def variation_form(self, request: FakeRequest) -> FakeResponse:
        form = self.read_form(request)
        if isinstance(form, FakeResponse):
            return form
        fields, files = form
        for name in [*fields, *files]:
            if name not in VARIATION_FIELDS | {"image"}:
                return openai_error(
                    400, f"Unknown parameter: '{name}'.", "invalid_request_error", name, "unknown_parameter"
                )
        if len(files.get("image", [])) != 1:
            return openai_error(400, "Missing required parameter: 'image'.", "invalid_request_error", "image",
                                "missing_required_parameter")  # fmt: skip
        if fields.get("model", "dall-e-2") != "dall-e-2":
            return openai_error(400, f"Invalid value: '{fields['model']}'. Only dall-e-2 makes variations.",
                                "invalid_request_error", "model", "invalid_value")  # fmt: skip
        problem = self.check_image(files["image"][0], formats={"png"}, max_bytes=4 * MB, square=True)
        if problem:
            return openai_error(400, problem, "invalid_request_error", "image", "invalid_image")
        return self.generate({**fields, "model": "dall-e-2", "prompt": "(variation)"})

    @staticmethod
    def check_image(
        image: FakeFile, *, formats: set[str] | None = None, max_bytes: int, square: bool = False
    ) -> str | None:
        found = sniff(image.data)
        allowed = formats or {"png", "jpeg", "webp"}
        if found is None or found[0] not in allowed:
            return f"Invalid image file or mode for image 1, please check your image file. Supported: {sorted(allowed)}"
        if len(image.data) >= max_bytes:
            return f"Uploaded image must be less than {max_bytes // MB} MB."
        if square and found[1] != found[2]:
            return "Uploaded image must be square."
        return None

    @staticmethod
    def check_mask(masks: list[FakeFile], image: FakeFile) -> str | None:
        if len(masks) != 1:
            return "Only one mask may be given."
        mask, first = sniff(masks[0].data), sniff(image.data)
        if mask is None or mask[0] != "png" or not mask[3]:
            return "Invalid mask image format - mask image missing alpha channel"
        if first is not None and mask[1:3] != first[1:3]:
            return "Invalid mask image: the mask and the image must be the same size"
        return None

    # -- streaming --------------------------------------------------------------------------------------

    def event(self, kind: str, body: dict[str, Any], *, index: int | None = None, n: int = 1) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": kind,
            "b64_json": self.image_b64,
            "created_at": int(time.time()),
            "size": body.get("size", "1024x1024") if body.get("size", "auto") != "auto" else "1024x1024",
            "quality": "medium" if body.get("quality", "auto") == "auto" else body["quality"],
            "background": "opaque" if body.get("background", "auto") == "auto" else body["background"],
            "output_format": body.get("output_format", "png"),
        }
        if index is not None:
            payload["partial_image_index"] = index
        else:
            payload["usage"] = {
                "input_tokens": 10,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
                "output_tokens": 272 * n,
                "total_tokens": 10 + 272 * n,
            }
        return payload

    def streamed(self, operation: str, n: int, body: dict[str, Any]) -> FakeResponse:
        partials = int(body.get("partial_images") or 0)

        def events() -> Iterator[tuple[str, dict[str, Any]]]:
            for _ in range(n):
                for index in range(partials):
                    kind = f"{operation}.partial_image"
                    yield kind, self.event(kind, body, index=index)
                yield f"{operation}.completed", self.event(f"{operation}.completed", body, n=1)

        return event_stream(events(), delay=self.event_delay)

    def images_response(self, model: str, n: int, body: dict[str, Any]) -> dict[str, Any]:
        if model in GPT_IMAGE:
            return {
                "created": int(time.time()),
                "data": [{"b64_json": self.image_b64} for _ in range(n)],
                "background": "opaque",
                "output_format": body.get("output_format", "png"),
                "quality": "medium" if body.get("quality", "auto") == "auto" else body["quality"],
                "size": "1024x1024" if body.get("size", "auto") == "auto" else body["size"],
                "usage": {
                    "input_tokens": 10,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 10},
                    "output_tokens": 272 * n,
                    "total_tokens": 10 + 272 * n,
                },
            }
        as_url = body.get("response_format", "url") == "url"
        data: list[dict[str, str]] = [
            {"url": f"{self.url}/files/img-{i}.png"} if as_url else {"b64_json": self.image_b64} for i in range(n)
        ]
        if model == "dall-e-3":
            for item in data:
                item["revised_prompt"] = f"A detailed rendering of: {body['prompt']}"
        return {"created": int(time.time()), "data": data}
