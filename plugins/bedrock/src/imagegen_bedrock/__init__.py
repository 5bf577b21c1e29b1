"""The AWS Bedrock provider (`bedrock/`): Stability (SDXL, SD3.5, Stable Image, the image services), Titan
Image Generator, Nova Canvas. Generations, edits (Titan/Nova task types, Stability image services, SD3.5
image-to-image) and variations (Titan/Nova IMAGE_VARIATION)."""

from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import quote

import httpx

from imagegen import hookimpl
from imagegen.exceptions import AuthenticationError, ImageGenError
from imagegen.provider import GenerationRequest, ProviderInfo, ProviderRequest
from imagegen.types import ImageResponse

from . import families
from .auth import CredentialSettings, SigV4Auth, credential_source
from .errors import error_from_response
from .models import MODELS, BedrockInfo, invocation_id

REGION_ENV = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
ENDPOINT_ENV = ("AWS_BEDROCK_RUNTIME_ENDPOINT", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
BEARER_TOKEN_ENV = "AWS_BEARER_TOKEN_BEDROCK"  # noqa: S105 (a variable name, not a secret)
SIGV4_SETTINGS = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_profile_name", "aws_role_name", "aws_web_identity_token"}
)
ROLE_SETTINGS = ("aws_external_id", "aws_web_identity_token")
"""Settings that only mean something when assuming a role (`aws_role_name`)."""

INFO = BedrockInfo(
    name="AWS Bedrock",
    models=MODELS,
    settings=frozenset(
        {
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_region_name",
            "aws_profile_name",
            "aws_role_name",
            "aws_session_name",
            "aws_sts_endpoint",
            "aws_external_id",
            "aws_web_identity_token",
            "aws_bedrock_runtime_endpoint",
            "model_id",
        }
    ),
    secret_settings=frozenset({"aws_secret_access_key", "aws_session_token", "aws_web_identity_token"}),
)


@hookimpl
def provider_info() -> ProviderInfo:
    return INFO


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    return families.request_body(request)


def _region(request: GenerationRequest) -> str | None:
    region = request.settings.get("aws_region_name", *REGION_ENV)
    if region is None:
        profile = request.settings.get("aws_profile_name", "AWS_PROFILE")
        region = _profile_region(profile)
    return str(region) if region else None


@functools.lru_cache(maxsize=32)
def _profile_region(profile: str | None) -> str | None:
    # The last resort, as boto3's: the region in ~/.aws/config, read once per profile (not on every call).
    import botocore.session  # type: ignore[import-untyped]
    from botocore.exceptions import ProfileNotFound  # type: ignore[import-untyped]

    try:
        region = botocore.session.Session(profile=profile).get_config_variable("region")
    except ProfileNotFound:
        return None  # no region then; the missing profile itself is reported when credentials are read
    return str(region) if region else None


def _bearer_token(request: GenerationRequest) -> str | None:
    """A Bedrock API key: `api_key`, else AWS_BEARER_TOKEN_BEDROCK unless SigV4 credentials were passed."""
    settings = request.settings
    if token := settings.get("api_key"):
        return str(token)
    if any(name in settings for name in SIGV4_SETTINGS):
        return None
    return os.environ.get(BEARER_TOKEN_ENV) or None


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    settings = request.settings
    token = _bearer_token(request)
    endpoint = settings.get("api_base") or settings.get("aws_bedrock_runtime_endpoint", *ENDPOINT_ENV)
    needs_region = token is None or endpoint is None  # to sign, or to name the regional endpoint
    region = _region(request) if needs_region else None
    if needs_region and region is None:
        raise request.refused(
            "no AWS region: pass aws_region_name=... or set AWS_REGION (or AWS_DEFAULT_REGION)", param="aws_region_name"
        )
    if endpoint is None:
        endpoint = f"https://bedrock-runtime.{region}.amazonaws.com"
    model_id = settings.get("model_id") or invocation_id(request.model)
    # Encoded as botocore encodes a path label: `:` and `/` of ARNs and profile ids too.
    url = f"{str(endpoint).rstrip('/')}/model/{quote(str(model_id), safe='-._~')}/invoke"
    headers = {"accept": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
        return ProviderRequest(url=url, json=body, headers=headers, secrets=[token])
    assert region is not None
    credentials = CredentialSettings(
        access_key_id=settings.get("aws_access_key_id"),
        secret_access_key=settings.get("aws_secret_access_key"),
        session_token=settings.get("aws_session_token"),
        profile=settings.get("aws_profile_name"),
        role_arn=settings.get("aws_role_name"),
        session_name=settings.get("aws_session_name"),
        sts_endpoint=settings.get("aws_sts_endpoint"),
        external_id=settings.get("aws_external_id"),
        web_identity_token=settings.get("aws_web_identity_token"),
        region=region,
    )
    if not credentials.role_arn and (needless := [name for name in ROLE_SETTINGS if name in settings]):
        raise AuthenticationError(
            f"{' and '.join(needless)} only apply when assuming a role: pass aws_role_name=... (the role's ARN) too",
            provider=request.provider,
            model=request.model,
        )
    if credentials.web_identity_token and credentials.external_id:
        raise AuthenticationError(
            "aws_external_id does not apply with aws_web_identity_token (AssumeRoleWithWebIdentity takes no "
            "external id): pass one of them",
            provider=request.provider,
            model=request.model,
        )
    if bool(credentials.access_key_id) != bool(credentials.secret_access_key):
        raise AuthenticationError(
            "pass both aws_access_key_id and aws_secret_access_key (or neither, to use the AWS credential chain)",
            provider=request.provider,
            model=request.model,
        )
    auth = SigV4Auth(credential_source(credentials), region, request.provider, request.model)
    secrets = [
        s for s in (credentials.secret_access_key, credentials.session_token, credentials.web_identity_token) if s
    ]
    return ProviderRequest(url=url, json=body, headers=headers, auth=auth, secrets=secrets)


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> ImageResponse:
    return families.parse_response(request, response)


@hookimpl
def parse_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError:
    return error_from_response(request, response)
