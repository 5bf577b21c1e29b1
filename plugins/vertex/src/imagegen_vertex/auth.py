"""Google credentials for Vertex AI: loaded once per source, access tokens cached until near expiry.

google-auth is imported here only when a credential is first needed, never at plugin import.
Every blocking step (reading a key file, Application Default Credentials discovery, the OAuth token
exchange) runs on the caller's thread in the sync path and on a worker thread in the async path:
in the async path nothing here blocks the event loop, so a project that only the credentials know
is put into the URL by `BearerTokenAuth`, once they are loaded.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from imagegen import transport
from imagegen.auth import BlockingCredentialAuth
from imagegen.exceptions import APIConnectionError, AuthenticationError, ImageGenError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TOKEN_EXCHANGE_TIMEOUT = 30.0
_HOW_TO_AUTHENTICATE = (
    "pass vertex_credentials=... (the path or the JSON of a service-account key), set "
    "GOOGLE_APPLICATION_CREDENTIALS to a key file, or run `gcloud auth application-default login`"
)

CredentialSource = str | Mapping[str, Any] | None
"""What `vertex_credentials` holds: a key file path, its JSON text, its parsed dict; None for ADC."""

MAX_CACHED_CREDENTIALS = 64


class GoogleCredentials:
    """One source of Google credentials, shared by every call that uses it (see `credentials_for`)."""

    def __init__(self, source: CredentialSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._credentials: Any = None  # google.auth.credentials.Credentials, once loaded
        self._project: tuple[str | None] | None = _inline_project(source)
        """(project,) once known: from a key given inline (no I/O), else from loading the credentials."""
        self.secrets = _secrets_of(source)
        """Values to mask in error messages: the key's JSON and its private key."""

    @property
    def project_known(self) -> bool:
        """Whether `project_id()` answers without I/O (and so without blocking)."""
        return self._project is not None

    def project_id(self) -> str | None:
        """The project the credentials belong to (blocking on first use, unless `project_known`)."""
        project = self._project
        if project is None:
            with self._lock:
                self._load()
            project = self._project
            assert project is not None
        return project[0]

    def cached_headers(self) -> dict[str, str] | None:
        """The auth headers if the cached token is still fresh; None when a load or refresh (blocking) is due."""
        credentials = self._credentials
        if credentials is None or not credentials.valid:
            return None
        headers: dict[str, str] = {}
        credentials.apply(headers)
        return headers

    def headers(self) -> dict[str, str]:
        """The auth headers, loading the credentials or refreshing the token first if needed (blocking)."""
        with self._lock:  # one token exchange at a time, however many calls are waiting for it
            self._load()
            if not self._credentials.valid:
                self._credentials.refresh(TokenEndpointRequest())
            headers: dict[str, str] = {}
            self._credentials.apply(headers)
            return headers

    def _load(self) -> None:
        if self._credentials is not None:
            return
        if self._source is None:
            import google.auth

            # TokenEndpointRequest is duck-typed as google-auth's transport (its ABC would import google.auth).
            credentials, project = google.auth.default(
                scopes=SCOPES,
                request=TokenEndpointRequest(),  # type: ignore[arg-type]
            )
        else:
            credentials, project = _from_key(_key_info(self._source))
        self._project = (project,)  # before the credentials: whoever sees them loaded sees the project
        self._credentials = credentials


def _key_info(source: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The key as a dict, from a dict, its JSON text or the path of its file."""
    if isinstance(source, Mapping):
        return source
    text = source
    if not source.lstrip().startswith("{"):
        with open(os.path.expanduser(source), encoding="utf-8") as file:
            text = file.read()
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, Mapping):
        # Not chained: the decoder's message may quote the key material.
        raise ValueError("it is not valid JSON (expected a service-account key, a JSON object)")
    return info


def _from_key(info: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Credentials of a service-account key or of gcloud user credentials, and the key's project.

    Other credential types (external accounts, impersonation) can make google-auth run commands or
    call arbitrary URLs, so they are only taken from Application Default Credentials, never from an
    argument that a proxy client might have supplied.
    """
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        return credentials, info.get("project_id")
    if kind == "authorized_user":
        from google.oauth2 import credentials as user_credentials

        user = user_credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        return user, None
    raise ValueError(
        f"vertex_credentials of type {kind!r} are not supported here: give a service-account key or "
        "gcloud user credentials, or point GOOGLE_APPLICATION_CREDENTIALS at the file to use it through "
        "Application Default Credentials"
    )


def _inline_project(source: CredentialSource) -> tuple[str | None] | None:
    """The project of a key given as JSON or a dict (no I/O); None when only loading can tell."""
    if source is None or (isinstance(source, str) and not source.lstrip().startswith("{")):
        return None
    try:
        info = _key_info(source)
    except ValueError:
        return None  # reported, with the fix, when the credentials are loaded
    kind = info.get("type")
    if kind == "authorized_user":
        return (None,)  # gcloud user credentials name no project
    if kind == "service_account":
        project = info.get("project_id")
        return (project if isinstance(project, str) else None,)
    return None  # refused, with the reason, when the credentials are loaded


def _secrets_of(source: CredentialSource) -> list[str]:
    if source is None or (isinstance(source, str) and not source.lstrip().startswith("{")):
        return []  # a file path or ADC: no key material passes through imagegen's arguments
    secrets = [source] if isinstance(source, str) else []
    try:
        info = source if isinstance(source, Mapping) else json.loads(source)
    except ValueError:
        return secrets
    for name in ("private_key", "client_secret", "refresh_token"):
        value = info.get(name) if isinstance(info, Mapping) else None
        if isinstance(value, str):
            secrets.append(value)
    return secrets


# Least recently used last out; a proxy may see many sources, so the cache is bounded.
_cache: OrderedDict[tuple[str, ...], GoogleCredentials] = OrderedDict()
_cache_lock = threading.Lock()


def credentials_for(source: CredentialSource) -> GoogleCredentials:
    """The shared credentials of `source`, so their token is reused across calls.

    No I/O but a `stat` of a key file: a file rewritten with a rotated key is a new source.
    """
    if source is None:
        # ADC depends on the environment: a changed GOOGLE_APPLICATION_CREDENTIALS is a new source.
        key: tuple[str, ...] = ("adc", *_file_version(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")))
    elif isinstance(source, Mapping):
        key = ("info", json.dumps(source, sort_keys=True))
    elif source.lstrip().startswith("{"):
        key = ("text", source)
    else:
        key = ("file", *_file_version(source))
    with _cache_lock:
        credentials = _cache.get(key)
        if credentials is None:
            credentials = _cache[key] = GoogleCredentials(source)
            if len(_cache) > MAX_CACHED_CREDENTIALS:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
        return credentials


def _file_version(path: str) -> tuple[str, str]:
    """A key file's path and modification time (empty when there is no such file: loading reports it)."""
    if not path:
        return path, ""
    try:
        return path, str(os.stat(os.path.expanduser(path)).st_mtime_ns)
    except OSError:
        return path, ""


@contextmanager
def auth_errors(provider: str, model: str, secrets: list[str]) -> Iterator[None]:
    """Turn google-auth's failures into imagegen's errors, naming the fix."""
    try:
        yield
    except ImageGenError:
        raise
    except Exception as exc:
        raise _auth_error(exc, provider, model, secrets) from None


def _auth_error(exc: Exception, provider: str, model: str, secrets: list[str]) -> ImageGenError:
    import google.auth.exceptions as google_errors

    where: dict[str, Any] = {"provider": provider, "model": model, "secrets": secrets}
    if isinstance(exc, google_errors.TransportError):
        return APIConnectionError(f"could not reach Google's token endpoint: {exc}", **where)
    if isinstance(exc, google_errors.RefreshError):
        return AuthenticationError(f"Google refused the credentials when issuing an access token: {exc}", **where)
    if isinstance(exc, google_errors.DefaultCredentialsError):
        return AuthenticationError(f"no usable Google credentials ({exc}); {_HOW_TO_AUTHENTICATE}", **where)
    if isinstance(exc, ValueError | OSError):
        return AuthenticationError(f"could not load vertex_credentials: {exc}; {_HOW_TO_AUTHENTICATE}", **where)
    return AuthenticationError(f"Google authentication failed: {type(exc).__name__}: {exc}", **where)


URLForProject = Callable[[str | None], str]
"""Builds a call's URL for the project of its credentials (raising when there is none, or a bad one)."""


class BearerTokenAuth(BlockingCredentialAuth[dict[str, str]]):
    """Adds the OAuth bearer token of shared `GoogleCredentials` to each request (and each retry).

    With `url_for_project`, the project is the credentials' own, known only once they are loaded
    (a key file, ADC): the request's URL is rewritten with it, after loading, which may block.
    """

    def __init__(
        self, credentials: GoogleCredentials, provider: str, model: str, url_for_project: URLForProject | None = None
    ) -> None:
        self._credentials = credentials
        self._provider = provider
        self._model = model
        self._url_for_project = url_for_project

    def cached(self, request: httpx.Request) -> dict[str, str] | None:
        return self._credentials.cached_headers()  # fresh, so loaded: the project is known too

    def obtain(self, request: httpx.Request) -> dict[str, str]:
        """Load the credentials or refresh the token (blocking)."""
        self._route(request)  # first: a missing project fails before any token exchange
        with auth_errors(self._provider, self._model, self._credentials.secrets):
            return self._credentials.headers()

    def apply(self, request: httpx.Request, credential: dict[str, str]) -> None:
        self._route(request)
        request.headers.update(credential)

    def _route(self, request: httpx.Request) -> None:
        if self._url_for_project is None:
            return
        with auth_errors(self._provider, self._model, self._credentials.secrets):
            project = self._credentials.project_id()
        request.url = httpx.URL(self._url_for_project(project))


@dataclass
class TokenEndpointResponse:
    """google-auth's `transport.Response` interface."""

    status: int
    headers: Mapping[str, str]
    data: bytes


class TokenEndpointRequest:
    """google-auth's `transport.Request` interface over the core's pooled httpx client.

    google-auth calls it to exchange a signed JWT (or a refresh token) for an access token, and to
    probe the metadata server during ADC discovery. Using httpx spares a dependency on `requests`.
    """

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> TokenEndpointResponse:
        try:
            response = transport.sync_client().request(
                method, url, content=body, headers=headers, timeout=timeout or TOKEN_EXCHANGE_TIMEOUT
            )
        except httpx.HTTPError as exc:
            import google.auth.exceptions

            message = f"{type(exc).__name__}: {exc}"
            raise google.auth.exceptions.TransportError(message) from exc  # type: ignore[no-untyped-call]
        return TokenEndpointResponse(response.status_code, response.headers, response.content)
