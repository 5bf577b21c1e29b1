"""AWS credentials for Bedrock: botocore's credential chain, STS assume-role (with an external id, or with
a web identity token), and SigV4 signing in httpx.

botocore is imported only here, and only when a request is signed, so importing the plugin stays cheap.
Credential sources are cached per settings, so a profile, an instance role or an assumed role is resolved
once and refreshed by botocore before it expires. The async path resolves or refreshes off the event loop.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

from imagegen.auth import BlockingCredentialAuth
from imagegen.exceptions import AuthenticationError

if TYPE_CHECKING:
    from botocore.credentials import ReadOnlyCredentials  # type: ignore[import-untyped]

SIGNING_NAME = "bedrock"
DEFAULT_SESSION_NAME = "imagegen"
# The environment botocore's chain reads: part of the cache key, so a changed environment is seen.
_CHAIN_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
)  # fmt: skip
_NO_CREDENTIALS_HELP = (
    "pass aws_access_key_id and aws_secret_access_key (or aws_profile_name, aws_role_name with "
    "aws_web_identity_token, or api_key with a Bedrock API key), "
    "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or AWS_BEARER_TOKEN_BEDROCK"
)


@dataclass(frozen=True)
class CredentialSettings:
    """Everything that decides which AWS credentials a call uses (hashable: the cache key)."""

    access_key_id: str | None
    secret_access_key: str | None = field(repr=False)
    session_token: str | None = field(repr=False)
    profile: str | None
    role_arn: str | None
    session_name: str | None
    external_id: str | None
    web_identity_token: str | None = field(repr=False)
    sts_endpoint: str | None
    region: str
    environment: tuple[str | None, ...] = field(default=(), repr=False)


class CredentialSource:
    """One set of AWS credentials, resolved on first use and refreshed by botocore before expiry."""

    def __init__(self, settings: CredentialSettings) -> None:
        self._settings = settings
        self._credentials: Any = None  # botocore Credentials or RefreshableCredentials
        self._lock = threading.Lock()

    def ready(self) -> ReadOnlyCredentials | None:
        """The credentials if they can be had without I/O, else None (resolve them off the event loop)."""
        credentials = self._credentials
        if credentials is None:
            return None
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            return None
        frozen: ReadOnlyCredentials = credentials.get_frozen_credentials()
        return frozen

    def resolve(self) -> ReadOnlyCredentials:
        """The credentials, resolving or refreshing them first if needed (may block on the network)."""
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        try:
            with self._lock:
                if self._credentials is None:
                    self._credentials = self._load()
            frozen: ReadOnlyCredentials = self._credentials.get_frozen_credentials()
        except (BotoCoreError, ClientError) as exc:
            raise AuthenticationError(f"could not get AWS credentials: {exc}", secrets=self._secrets()) from None
        return frozen

    def _secrets(self) -> list[str | None]:
        settings = self._settings
        return [settings.secret_access_key, settings.session_token, settings.web_identity_token]

    def _load(self) -> Any:
        # botocore.auth and .awsrequest are imported here, off the event loop, for `SigV4Auth.apply`.
        import botocore.auth  # type: ignore[import-untyped]
        import botocore.awsrequest  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]
        from botocore.credentials import Credentials

        settings = self._settings
        session = botocore.session.Session(profile=settings.profile)
        if settings.web_identity_token:  # the token alone is the credential: no base credentials
            return self._assume_role(session, None)
        if settings.access_key_id and settings.secret_access_key:
            base = Credentials(settings.access_key_id, settings.secret_access_key, settings.session_token)
        else:
            base = session.get_credentials()
            if base is None:
                raise AuthenticationError(f"no AWS credentials found: {_NO_CREDENTIALS_HELP}")
        if settings.role_arn:
            return self._assume_role(session, base)
        return base

    def _assume_role(self, session: Any, base: Any) -> Any:
        from botocore import UNSIGNED
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.credentials import RefreshableCredentials

        settings = self._settings

        def assume_role() -> dict[str, str]:
            role = {"RoleArn": settings.role_arn, "RoleSessionName": settings.session_name or DEFAULT_SESSION_NAME}
            if settings.web_identity_token:
                sts = session.create_client(
                    "sts", region_name=settings.region, endpoint_url=settings.sts_endpoint,
                    config=Config(signature_version=UNSIGNED),  # AssumeRoleWithWebIdentity is not signed
                )  # fmt: skip
                answer = sts.assume_role_with_web_identity(**role, WebIdentityToken=settings.web_identity_token)
            else:
                frozen = base.get_frozen_credentials()  # the base may itself be refreshed (an instance role)
                sts = session.create_client(
                    "sts",
                    region_name=settings.region,
                    endpoint_url=settings.sts_endpoint,
                    aws_access_key_id=frozen.access_key,
                    aws_secret_access_key=frozen.secret_key,
                    aws_session_token=frozen.token,
                )
                if settings.external_id:
                    role["ExternalId"] = settings.external_id
                answer = sts.assume_role(**role)
            answer = answer["Credentials"]
            return {
                "access_key": answer["AccessKeyId"],
                "secret_key": answer["SecretAccessKey"],
                "token": answer["SessionToken"],
                "expiry_time": answer["Expiration"].isoformat(),
            }

        return RefreshableCredentials.create_from_metadata(assume_role(), assume_role, "assume-role")


@functools.lru_cache(maxsize=64)
def _cached_source(settings: CredentialSettings) -> CredentialSource:
    return CredentialSource(settings)


def credential_source(settings: CredentialSettings) -> CredentialSource:
    """The shared source for `settings` (and the current AWS environment)."""
    environment = tuple(os.environ.get(name) for name in _CHAIN_ENV)
    return _cached_source(replace(settings, environment=environment))


class SigV4Auth(BlockingCredentialAuth["ReadOnlyCredentials"]):  # botocore is imported on first use only
    """Signs each attempt (retries included) with AWS Signature Version 4, as botocore does."""

    requires_request_body = True

    def __init__(self, source: CredentialSource, region: str, provider: str, model: str) -> None:
        self._source = source
        self._region = region
        self._provider = provider
        self._model = model

    def cached(self, request: httpx.Request) -> ReadOnlyCredentials | None:
        return self._source.ready()

    def obtain(self, request: httpx.Request) -> ReadOnlyCredentials:
        try:
            return self._source.resolve()
        except AuthenticationError as exc:
            exc.provider, exc.model = self._provider, self._model
            raise

    def apply(self, request: httpx.Request, credentials: ReadOnlyCredentials) -> None:
        from botocore.auth import SigV4Auth as BotocoreSigV4Auth
        from botocore.awsrequest import AWSRequest

        # Sign exactly the headers that matter; httpx's own (user-agent, connection…) stay unsigned.
        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={name: request.headers[name] for name in ("content-type", "accept") if name in request.headers},
        )
        BotocoreSigV4Auth(credentials, SIGNING_NAME, self._region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
