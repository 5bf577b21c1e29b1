"""Who asks for an insight: the caller, and whether they may see the operator's view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from ..access import Caller, presented_key

if TYPE_CHECKING:
    from ..app import Proxy


@dataclass(frozen=True)
class Viewer:
    """Who asks: `operator` is the master key, or anyone on a server without one (loopback only)."""

    caller: Caller
    operator: bool


async def viewer_of(proxy: Proxy, request: Request) -> Viewer:
    """The caller of `request` (401 for a wrong key)."""
    caller = await proxy.access.authenticate(presented_key(request))
    return Viewer(caller, caller.is_admin or proxy.config.master_key is None)
