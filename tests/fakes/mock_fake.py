"""The mock provider's own server (`imagegen_mock.server`) over a real socket on 127.0.0.1: the fake the
conformance kit needs, answering exactly as the in-process transport does, with OpenAI's error shapes."""

from __future__ import annotations

from typing import Any

import httpx

from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream, event_stream
from imagegen_mock.server import TRANSPORT, openai_error


def _fake_response(response: httpx.Response) -> FakeResponse:
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "transfer-encoding")}
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return FakeResponse(response.status_code, iter(response.iter_bytes()), headers)
    return FakeResponse(response.status_code, response.read(), headers)


class FakeMock(FakeUpstream):
    """Serves the mock's API under `{url}/v1`."""

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def handle(self, request: FakeRequest) -> FakeResponse:
        forwarded = httpx.Request(request.method, f"http://mock.test{request.path}", headers=request.headers,
                                  content=request.body)  # fmt: skip
        return _fake_response(TRANSPORT.handle_request(forwarded))

    def error(self, kind: str) -> FakeResponse:
        errors: dict[str, Any] = {
            "auth": (401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
            "permission": (403, "You are not allowed to sample from this model", "invalid_request_error", None),
            "not_found": (404, "The model does not exist", "invalid_request_error", "model_not_found"),
            "bad_request": (400, "Invalid prompt", "invalid_request_error", None),
            "content_policy": (400, "Rejected by the safety system.", "image_generation_user_error",
                               "content_policy_violation"),
            "rate_limit": (429, "Rate limit reached", "requests", "rate_limit_exceeded"),
            "server_error": (500, "The server had an error.", "server_error", None),
            "unavailable": (503, "Overloaded.", "server_error", None),
        }  # fmt: skip
        if kind == "mid_stream_error":
            partial = {"type": "image_generation.partial_image", "b64_json": "aGk=", "partial_image_index": 0}
            return event_stream(
                [(partial["type"], partial), ("error", {"error": {"message": "failed", "type": "server_error"}})]
            )
        return _fake_response(openai_error(*errors[kind]))
