"""Who may call the proxy, and what is recorded about each generation.

The server asks an `AccessControl` to `authenticate` the bearer key and `admit` the caller to a
model group before every generation, and hands it a `RequestRecord` after every one. The default,
`MasterKeyAccess`, knows only the master key; virtual keys, spend and budgets plug in here.
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ProxyError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute


class AllowedModels(Collection[str]):
    """The model groups a caller may use: names and `*` wildcards (`openai/*`, `*`), from each list that bounds
    it (its key's, its team's): a group is in it when every list has a name or a pattern matching it."""

    def __init__(self, *lists: Collection[str]) -> None:
        self._lists = [frozenset(names) for names in lists]
        self._patterns = [
            re.compile("(?:" + "|".join(re.escape(name).replace(r"\*", ".*") for name in names) + r")\Z")
            for names in lists
        ]

    def __contains__(self, group: object) -> bool:
        if not isinstance(group, str):
            return False
        return all(
            group in names or pattern.match(group) for names, pattern in zip(self._lists, self._patterns, strict=True)
        )

    def __iter__(self) -> Iterator[str]:
        """The names and patterns of the first list (what an error message shows)."""
        return iter(sorted(self._lists[0]) if self._lists else ())

    def __len__(self) -> int:
        return len(self._lists[0]) if self._lists else 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AllowedModels):
            return self._lists == other._lists
        return len(self._lists) == 1 and isinstance(other, Collection) and self._lists[0] == frozenset(other)

    __hash__ = None  # type: ignore[assignment]


ALL_MODELS = "all-proxy-models"  # LiteLLM's name for "every model group" in a key's `models`


def allowed_models(*lists: Collection[str]) -> AllowedModels | None:
    """What a key (and its team) may use; None: every model group (an empty list, `*` or `all-proxy-models`)."""
    bounding = tuple(tuple(names) for names in lists if names and ALL_MODELS not in names and "*" not in names)
    return _allowed(bounding) if bounding else None


@functools.lru_cache(maxsize=4096)
def _allowed(lists: tuple[tuple[str, ...], ...]) -> AllowedModels:
    return AllowedModels(*lists)  # built once per list: compiling its patterns costs ~60 µs


@dataclass(frozen=True)
class Caller:
    """Who is calling. `admit` returns it with what the request was admitted with (`admission`)."""

    is_admin: bool
    key_hash: str | None = None  # None for the master key / unauthenticated local use
    models: Collection[str] | None = None  # None = every model group; else `group in models` says
    metadata: Mapping[str, Any] = field(default_factory=dict)
    key_alias: str | None = None
    team_id: str | None = None
    end_user: str | None = None  # the request's `user`
    admission: object | None = None  # the access control's own note, from `admit` to `record`


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
    request_id: str | None = None  # the request's x-request-id
    operation: str = "generation"  # or "edit", "variation"
    metadata: Mapping[str, Any] | None = None  # the request body's `metadata`


class AccessControl(Protocol):
    async def startup(self) -> None: ...

    async def shutdown(self) -> None:
        """Flush pending work."""

    async def authenticate(self, token: str | None) -> Caller:
        """The caller holding `token` (None: no key was sent); raise ProxyError(401) to refuse."""

    async def admit(self, caller: Caller, model_group: str, params: Mapping[str, Any] | None = None) -> Caller:
        """The caller as admitted to `model_group` with these request `params` (its `user`, `n`, `quality`…), to
        hand back in the `RequestRecord`; raise ProxyError (403, 429, budget exceeded) if it may not now."""

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

    async def admit(self, caller: Caller, model_group: str, params: Mapping[str, Any] | None = None) -> Caller:
        return caller

    def record(self, record: RequestRecord) -> None:
        pass

    def routes(self) -> list[BaseRoute]:
        return []
