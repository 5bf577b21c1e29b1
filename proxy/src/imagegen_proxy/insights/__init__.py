"""Read-only endpoints for dashboards such as the web console: who is calling, the models, their health, spend.

`GET /auth/info`, `GET /model_group/info`, `GET /model/info`, and with virtual keys (a master key is set)
`GET /spend/summary`, `GET /spend/logs/ui`, `GET /spend/logs/export`. A virtual key sees only the model
groups it may use and its own spend; deployments and their health are the master key's. Nothing here
calls an upstream or writes anything, and none of it is on a generation's path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from ..access import presented_key
from ..openapi import ApiRoute, Operation
from .health import HealthWindow, deployment_totals
from .models import deployment_info, group_info, visible_groups
from .viewer import viewer_of

if TYPE_CHECKING:
    from ..app import Proxy
    from ..config import Deployment
    from ..keys import KeyAccess


class Insights:
    """The handlers, over one worker's proxy state."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.window = HealthWindow()
        self.keys = _key_access(proxy) is not None

    async def auth_info(self, request: Request) -> Response:
        """Who the key is (`admin`, `key`, or `open` where no master key is set), and what the proxy records."""
        if self.proxy.config.master_key is not None and presented_key(request) is None:
            return JSONResponse({"role": "anonymous", "key_required": True, "features": self._features()})
        viewer = await viewer_of(self.proxy, request)
        role = "admin" if viewer.caller.is_admin else "key" if viewer.caller.key_hash else "open"
        return JSONResponse({"role": role, "key_required": self.proxy.config.master_key is not None,
                             "features": self._features()})  # fmt: skip

    def _features(self) -> dict[str, bool]:
        return {"keys": self.keys, "spend_logs": self.keys and self.proxy.config.spend_logs}

    def _listed(self) -> dict[str, list[Deployment]]:
        """What /v1/models lists (the groups, visible aliases, the names each wildcard serves), with the
        deployments serving each."""
        names = self.proxy.router.names
        return {name: names.serving(name) for name in names.listed()}

    async def model_group_info(self, request: Request) -> Response:
        """The model groups the caller may use, with what each takes (LiteLLM's /model_group/info)."""
        viewer = await viewer_of(self.proxy, request)
        groups = visible_groups(self._listed(), viewer.caller.models)
        return JSONResponse({"data": [group_info(name, deployments) for name, deployments in groups.items()]})

    async def model_info(self, request: Request) -> Response:
        """Every deployment with its health for the master key; a virtual key gets its groups, not deployments."""
        viewer = await viewer_of(self.proxy, request)
        if not viewer.operator:
            groups = visible_groups(self._listed(), viewer.caller.models)
            data: list[dict[str, Any]] = [
                {"model_name": name, "model_info": group_info(name, deployments)}
                for name, deployments in groups.items()
            ]
            return JSONResponse({"data": data})
        configured = {**self.proxy.served, **self.proxy.router.names.wildcards}  # each deployment once, as written
        groups = visible_groups(configured, viewer.caller.models)
        recent = self.window.recent(deployment_totals(self.proxy.metrics.collect()))
        router = self.proxy.router
        data = [
            deployment_info(deployment, router.state(deployment), recent)
            for deployments in groups.values()
            for deployment in deployments
        ]
        return JSONResponse({"data": data, "health_since": datetime.fromtimestamp(recent.since, UTC).isoformat()})


def _key_access(proxy: Proxy) -> KeyAccess | None:
    """The proxy's virtual keys and spend log, if it has them (a master key is set)."""
    if proxy.config.master_key is None:
        return None
    from ..keys import KeyAccess

    return proxy.access if isinstance(proxy.access, KeyAccess) else None


TAG = "console"


def insight_routes(proxy: Proxy) -> list[BaseRoute]:
    insights = Insights(proxy)
    routes: list[BaseRoute] = [
        ApiRoute("/auth/info", insights.auth_info, "GET", Operation("Who the key is", TAG, errors=(401,))),
        ApiRoute("/model_group/info", insights.model_group_info, "GET",
                 Operation("The model groups the key may use, with what each takes", TAG, errors=(401,))),
        ApiRoute("/model/info", insights.model_info, "GET",
                 Operation("Every deployment with its health (groups only, for a virtual key)", TAG, errors=(401,))),
    ]  # fmt: skip
    if (access := _key_access(proxy)) is not None:
        from .spend import SpendInsights

        routes += SpendInsights(proxy, access).routes()
    return routes
