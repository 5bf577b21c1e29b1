"""A strict fake of OpenAI's Images API (`POST /v1/images/generations`), from OpenAI's API reference.

It rejects what OpenAI rejects: a missing or wrong key (401), unknown body fields, values outside
each model's enums (400 `invalid_value`), and answers in OpenAI's error shape.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from imagegen.testing import TINY_PNG, TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream

REQUEST_FIELDS = {
    "prompt", "model", "n", "quality", "response_format", "output_format", "output_compression", "stream",
    "partial_images", "size", "moderation", "background", "style", "user",
}  # fmt: skip
GPT_IMAGE = {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"}
MODEL_RULES: dict[str, dict[str, set[Any]]] = {
    **{
        name: {
            "size": {"auto", "1024x1024", "1536x1024", "1024x1536"},
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
        }[kind]  # fmt: skip

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.startswith("/files/"):
            return FakeResponse(200, self.image, {"content-type": "image/png"})
        if (request.method, request.path) != ("POST", "/v1/images/generations"):
            return openai_error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error")
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
        if request.headers.get("content-type") != "application/json":
            return openai_error(400, "Invalid content type; expected application/json", "invalid_request_error")
        try:
            body = request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        return self.generate(body)

    def generate(self, body: dict[str, Any]) -> FakeResponse:
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
            if gpt_only or (name in ("size", "quality", "style", "response_format") and allowed is None):
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
        return FakeResponse(200, self.images_response(model, n, body))

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
