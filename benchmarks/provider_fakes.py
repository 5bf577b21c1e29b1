"""Child of the providers benchmark: the project's strict Bedrock and Vertex fakes, with made-up credentials.

Starts `tests/fakes/bedrock_fake.py` (SigV4 checked) and `vertex_fake.py` (a Google OAuth token
endpoint verifying the service account's JWT, and Vertex checking the token), prints one JSON line
`{"bedrock": {model, kwargs}, "vertex": {model, kwargs}}` (a provider whose fake is missing gets
`{"missing": reason}`), and serves until stdin closes. Keys are generated here, per run.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for `tests.fakes`

BEDROCK_MODEL = "amazon.nova-canvas-v1:0"
VERTEX_MODEL = "imagen-3.0-generate-002"
VERTEX_PROJECT = "imagegen-bench"
VERTEX_LOCATION = "us-central1"


def bedrock(stack: contextlib.ExitStack) -> dict[str, Any]:
    from tests.fakes.bedrock_fake import REGION, FakeBedrock

    access_key, secret_key = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    fake = stack.enter_context(FakeBedrock(credentials={access_key: (secret_key, None)}))
    return {
        "model": BEDROCK_MODEL,
        "kwargs": {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key, "aws_region_name": REGION},
        "endpoint": fake.url,  # each client names its endpoint override differently
    }


def vertex(stack: contextlib.ExitStack) -> dict[str, Any]:
    from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex

    oauth = stack.enter_context(FakeGoogleOAuth())
    fake = stack.enter_context(FakeVertex(oauth.is_valid, VERTEX_PROJECT, VERTEX_LOCATION))
    return {
        "model": VERTEX_MODEL,
        "kwargs": {
            "vertex_credentials": oauth.new_key(VERTEX_PROJECT).json,
            "vertex_ai_project": VERTEX_PROJECT,
            "vertex_ai_location": VERTEX_LOCATION,
        },
        "endpoint": fake.url,
    }


def main() -> None:
    with contextlib.ExitStack() as stack:
        answer: dict[str, Any] = {}
        for name, start in (("bedrock", bedrock), ("vertex", vertex)):
            try:
                answer[name] = start(stack)
            except ImportError as exc:
                answer[name] = {"missing": f"its fake or SDK is not available ({exc})"}
        print(json.dumps(answer), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
