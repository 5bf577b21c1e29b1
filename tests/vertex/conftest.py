from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex, ServiceAccountKey

PROJECT = "adroit-crow-413218"  # the seed example's
LOCATION = "us-central1"


@pytest.fixture(scope="session")
def oauth() -> Iterator[FakeGoogleOAuth]:
    with FakeGoogleOAuth() as fake:
        yield fake


@pytest.fixture
def key(oauth: FakeGoogleOAuth) -> ServiceAccountKey:
    """A fresh service-account key per test, so no test sees another's cached token."""
    return oauth.new_key()


@pytest.fixture
def vertex(oauth: FakeGoogleOAuth) -> Iterator[FakeVertex]:
    with FakeVertex(oauth.is_valid, PROJECT, LOCATION) as fake:
        yield fake


@pytest.fixture
def vertex_kwargs(vertex: FakeVertex, key: ServiceAccountKey) -> dict[str, Any]:
    return {
        "api_base": vertex.url,
        "vertex_credentials": key.json,
        "vertex_ai_project": PROJECT,
        "vertex_ai_location": LOCATION,
    }
