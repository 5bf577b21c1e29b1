"""A strict fake of xAI's `POST /v1/images/generations` (docs.x.ai, as gathered in the reference §2).

Bearer key; JSON; `size` answered `400 {"code": "400", "error": "Argument not supported: size"}` as xAI
does, and any other field it does not know likewise; `quality` only on grok-imagine-image-2.0; the bare
`grok-2-image` is not a model (vercel/ai#12174). Results are JPEG: URLs served by the fake (default) or
base64, each with its `mime_type`. A prompt containing MODERATED_WORD is refused by moderation.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from PIL import Image

from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream

MODELS = {"grok-imagine-image", "grok-imagine-image-pro", "grok-imagine-image-quality", "grok-imagine-image-2.0",
          "grok-2-image-1212"}  # fmt: skip
FIELDS = {"model", "prompt", "n", "response_format", "aspect_ratio", "resolution", "quality", "user"}
ASPECT_RATIOS = {
    "1:1",
    "3:4",
    "4:3",
    "9:16",
    "16:9",
    "2:3",
    "3:2",
    "9:19.5",
    "19.5:9",
    "9:20",
    "20:9",
    "1:2",
    "2:1",
    "auto",
}
MODERATED_WORD = "forbidden-scene"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 180, 20)).save(buffer, format="JPEG")
    return buffer.getvalue()


JPEG = _jpeg()


def xai_error(status: int, message: str) -> FakeResponse:
    return FakeResponse(status, {"code": str(status), "error": message})


class FakeXAI(FakeUpstream):
    def __init__(self, api_key: str = "xai-test-key-1234") -> None:
        super().__init__()
        self.api_key = api_key

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def error(self, kind: str) -> FakeResponse:
        return {
            "auth": xai_error(
                401, "Incorrect API key provided: xa***34. You can obtain an API key from https://console.x.ai."
            ),
            "permission": xai_error(403, "The caller does not have permission to execute the specified operation"),
            "not_found": xai_error(404, "The model does not exist or your team does not have access to it."),
            "bad_request": xai_error(400, "Invalid request"),
            "content_policy": xai_error(400, "Generated image rejected by content moderation."),
            "rate_limit": FakeResponse(429, {"code": "429", "error": "Too many requests"}, {"retry-after": "0"}),
            "server_error": xai_error(500, "Internal server error"),
            "unavailable": xai_error(503, "Service temporarily unavailable"),
        }[kind]

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.startswith("/files/"):
            return FakeResponse(200, JPEG, {"content-type": "image/jpeg"})
        if (request.method, request.path) != ("POST", "/v1/images/generations"):
            return xai_error(404, f"No handler found for {request.method} {request.path}")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error("auth")
        body: dict[str, Any] = request.json()
        for name in body:
            if name not in FIELDS:
                return xai_error(400, f"Argument not supported: {name}")
        if body.get("model") not in MODELS:
            return xai_error(
                404, f"The model {body.get('model')} does not exist or your team does not have access to it."
            )
        if "quality" in body and body["model"] != "grok-imagine-image-2.0":
            return xai_error(400, "Argument not supported on this model: quality")
        if body.get("aspect_ratio", "auto") not in ASPECT_RATIOS or body.get("resolution", "1k") not in ("1k", "2k"):
            return xai_error(400, "Invalid aspect_ratio or resolution")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return xai_error(400, "n must be between 1 and 10")
        if MODERATED_WORD in str(body.get("prompt", "")):
            return self.error("content_policy")
        as_url = body.get("response_format", "url") == "url"
        data = [
            {"url": f"{self.url}/files/{int(time.time())}-{i}.jpeg"}
            if as_url
            else {"b64_json": base64.b64encode(JPEG).decode()}
            for i in range(n)
        ]
        for item in data:
            item.update({"mime_type": "image/jpeg", "revised_prompt": f"A photo of {body.get('prompt')}"})
        return FakeResponse(200, {"created": int(time.time()), "data": data})
