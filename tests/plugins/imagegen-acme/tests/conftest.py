"""Test fixtures: a fake Acme API on a real socket, and the async backend."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from imagegen.images import sniff
from imagegen.testing import TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream

API_KEY = "test-key-not-a-secret"
FIELDS = {"prompt", "count", "width", "height", "seed"}
EDIT_FIELDS = {"prompt", "count", "seed"}


def error(status: int, message: str, code: str) -> FakeResponse:
    return FakeResponse(status, {"error": {"message": message, "code": code}})


class FakeAcme(FakeUpstream):
    """A strict fake of the Acme API on 127.0.0.1: make it answer exactly as the real service does."""

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method != "POST" or request.path not in (
            "/v1/models/acme-image-1/generate",
            "/v1/models/acme-image-1/edit",
        ):
            return error(404, f"no such endpoint: {request.method} {request.path}", "not_found")
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return self.error("auth")
        if request.path.endswith("/edit"):
            return self.edit(request)
        body = request.json()
        if unknown := set(body) - FIELDS:
            return error(400, f"unknown fields: {sorted(unknown)}", "invalid_request")
        return self.images(body.get("count", 1))

    def edit(self, request: FakeRequest) -> FakeResponse:
        """`POST .../edit`, multipart: `image` (1 to 4 PNG/JPEG files), an optional `mask`, text fields."""
        try:
            fields, files = request.form()
        except ValueError as exc:
            return error(400, str(exc), "invalid_request")
        if unknown := (set(fields) - EDIT_FIELDS) | (set(files) - {"image", "mask"}):
            return error(400, f"unknown fields: {sorted(unknown)}", "invalid_request")
        images = files.get("image", [])
        if not 1 <= len(images) <= 4 or any(sniff(image.data) is None for image in images):
            return error(400, "send 1 to 4 images as `image` files", "invalid_request")
        return self.images(int(fields.get("count", ["1"])[0]))

    def images(self, count: int) -> FakeResponse:
        if not 1 <= count <= 4:
            return error(400, "count must be between 1 and 4", "invalid_request")
        images = [{"base64": TINY_PNG_B64} for _ in range(count)]
        return FakeResponse(200, {"created": int(time.time()), "images": images})

    def error(self, kind: str) -> FakeResponse:
        return {
            "auth": error(401, "invalid API key", "unauthorized"),
            "permission": error(403, "forbidden", "forbidden"),
            "not_found": error(404, "no such model", "not_found"),
            "bad_request": error(400, "invalid request", "invalid_request"),
            "content_policy": error(400, "the prompt was rejected by the safety system", "content_policy_violation"),
            "rate_limit": FakeResponse(
                429, {"error": {"message": "slow down", "code": "rate_limited"}}, {"retry-after": "0"}
            ),
            "server_error": error(500, "internal error", "internal"),
            "unavailable": error(503, "overloaded", "unavailable"),
        }[kind]


@pytest.fixture
def fake_acme() -> Iterator[FakeAcme]:
    with FakeAcme() as fake:
        yield fake


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
