from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from imagegen import transport
from tests.fakes.bedrock_fake import REGION, FakeBedrock

# Generated per run: no credential, real or fake, lives in the repository.
ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
SECRET_KEY = secrets.token_urlsafe(30)
SESSION_ACCESS_KEY = "ASIA" + secrets.token_hex(8).upper()
SESSION_SECRET_KEY = secrets.token_urlsafe(30)
SESSION_TOKEN = secrets.token_urlsafe(60)
API_KEY = "ABSK" + secrets.token_urlsafe(40)
ROLE_ARN = "arn:aws:iam::123456789012:role/imagegen-test"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)


@pytest.fixture
def fake_bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock(
        credentials={ACCESS_KEY: (SECRET_KEY, None), SESSION_ACCESS_KEY: (SESSION_SECRET_KEY, SESSION_TOKEN)},
        api_keys=(API_KEY,),
        roles=(ROLE_ARN,),
        application_profiles={"a1b2c3d4e5f6": "amazon.nova-canvas-v1:0"},
    ) as fake:
        yield fake


@pytest.fixture
def sigv4(fake_bedrock: FakeBedrock) -> dict[str, Any]:
    """Keyword arguments that sign with static keys against the fake."""
    return {
        "api_base": fake_bedrock.url,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "aws_region_name": REGION,
    }
