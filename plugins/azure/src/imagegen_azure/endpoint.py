"""Where a call goes: the deployments URL of a dated `api_version`, or the v1 surface.

    {api_base}/openai/deployments/{deployment}/images/generations?api-version=2024-10-21
    {api_base}/openai/v1/images/generations          (api_version "v1"; "preview" adds ?api-version=preview)

Edits go to `images/edits` the same two ways (Azure documents them from 2025-04-01-preview).

On the v1 surface the deployment travels in the body as `model`; on the deployments URL it is in the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from imagegen.provider import GenerationRequest
from imagegen_openai.wire import PATHS

API_BASE_ENV = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
API_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")
V1_API_VERSIONS = frozenset({"v1", "preview"})


@dataclass(frozen=True)
class Endpoint:
    url: str
    v1: bool
    """The v1 surface: the body names the deployment as `model`."""


def endpoint(request: GenerationRequest) -> Endpoint:
    """The URL of a call; a missing api_base or api_version is an error naming the setting and its variable."""
    api_base = _required(request, "api_base", API_BASE_ENV, "https://<resource>.openai.azure.com")
    api_version = _required(request, "api_version", API_VERSION_ENV, "2024-10-21, or v1")
    resource = _resource_url(api_base)
    path = PATHS[request.operation]
    if api_version in V1_API_VERSIONS:
        query = "?api-version=preview" if api_version == "preview" else ""
        return Endpoint(f"{resource}/openai/v1/{path}{query}", v1=True)
    deployment = quote(request.model, safe="")
    version = quote(api_version, safe="")
    return Endpoint(f"{resource}/openai/deployments/{deployment}/{path}?api-version={version}", v1=False)


def _required(request: GenerationRequest, name: str, env_names: tuple[str, ...], example: str) -> str:
    value = request.settings.get(name, *env_names)
    if not value:
        raise request.refused(
            f"Azure needs `{name}`: pass {name}=... (e.g. {example}) or set the {env_names[0]} environment variable",
            param=name,
        )
    return str(value)


def _resource_url(api_base: str) -> str:
    # People paste the resource URL with or without the `/openai` or `/openai/v1` path: accept all three.
    base = api_base.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        base = base.removesuffix(suffix)
    return base
