"""Who may call the proxy, and what is recorded about each generation.

The server asks an `AccessControl` to `authenticate` the bearer key and `admit` the caller to a
model group before every generation, and hands it a `RequestRecord` after every one. The default,
`MasterKeyAccess`, knows only the master key; virtual keys, spend and budgets plug in here.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ProxyError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from .config import ProxyConfig


@dataclass(frozen=True)
class Caller:
    """Who is calling."""

    is_admin: bool
    key_hash: str | None = None  # None for the master key / unauthenticated local use
    models: frozenset[str] | None = None  # None = every model group
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RequestRecord:
    """One request (a generation, an edit or a variation), after it finished (success or error)."""

    caller: Caller
    model_group: str
    deployment: str | None
    provider: str | None
    image_count: int
    size: str | None
    quality: str | None
    cost: float | None
    latency_ms: float
    status: int
    prompt: str | None = None  # only when general_settings.store_prompts is true
    operation: str = "generation"  # or "edit", "variation"


class AccessControl(Protocol):
    async def startup(self) -> None: ...

    async def shutdown(self) -> None:
        """Flush pending work."""

    async def authenticate(self, token: str | None) -> Caller:
        """The caller holding `token` (None: no key was sent); raise ProxyError(401) to refuse."""

    async def admit(self, caller: Caller, model_group: str) -> None:
        """Raise ProxyError (403, 429, budget exceeded) if `caller` may not use `model_group` now."""

    def record(self, record: RequestRecord) -> None:
        """Note a finished request. Must not block or await on the response path."""

    def routes(self) -> list[BaseRoute]:
        """Extra (admin) routes to serve."""


def presented_key(request: Request) -> str | None:
    """The key a client sent: `Authorization: Bearer <key>`, or Azure's `api-key` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("api-key") or None


ANONYMOUS = Caller(is_admin=False)
MASTER = Caller(is_admin=True)


class MasterKeyAccess:
    """One master key, compared in constant time; with none configured, everyone is anonymous."""

    def __init__(self, master_key: str | None) -> None:
        self._master_key = master_key.encode() if master_key else None

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def authenticate(self, token: str | None) -> Caller:
        if self._master_key is None:
            return ANONYMOUS
        if not token:
            raise ProxyError(
                401,
                "no API key: send `Authorization: Bearer <key>` (or an `api-key` header)",
                code="missing_api_key",
            )
        if not hmac.compare_digest(token.encode(), self._master_key):
            raise ProxyError(401, "invalid API key", code="invalid_api_key")
        return MASTER

    async def admit(self, caller: Caller, model_group: str) -> None:
        pass

    def record(self, record: RequestRecord) -> None:
        pass

    def routes(self) -> list[BaseRoute]:
        return []


def build_access(config: ProxyConfig) -> AccessControl:
    """The access control the config asks for: with a master key, it and the virtual keys it creates."""
    if config.master_key is None:
        return MasterKeyAccess(None)
    from .keys import KeyAccess

    return KeyAccess(config)
