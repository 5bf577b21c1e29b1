"""The web console at `/ui`: plain ES modules and CSS from this package, served with a strict security policy.

Nothing is built or fetched from elsewhere (no CDN, no fonts): the files under `static/` are the console.
It signs in with a key kept in the tab's sessionStorage and talks to the proxy's public HTTP API only.
Its files are read once, on the first request for them; `general_settings.ui: false` leaves the routes out.
"""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

PREFIX = "/ui"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}  # fmt: skip


class ConsoleFiles:
    """The files under `static/`, by their path below `/ui/`, read on first use."""

    def __init__(self, root: Traversable) -> None:
        self.root = root
        self._files: dict[str, tuple[bytes, str, str]] | None = None

    def files(self) -> dict[str, tuple[bytes, str, str]]:
        """path → (content, content type, ETag)."""
        if self._files is None:
            found: dict[str, tuple[bytes, str, str]] = {}
            pending: list[tuple[str, Traversable]] = [("", self.root)]
            while pending:
                prefix, folder = pending.pop()
                for entry in folder.iterdir():
                    path = f"{prefix}{entry.name}"
                    if entry.is_dir():
                        pending.append((f"{path}/", entry))
                    elif entry.is_file():
                        content = entry.read_bytes()
                        suffix = "." + entry.name.rpartition(".")[2]
                        kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                        found[path] = (content, kind, f'"{hashlib.sha256(content).hexdigest()[:16]}"')
            self._files = found
        return self._files

    async def serve(self, request: Request) -> Response:
        path = request.path_params["path"] or "index.html"
        found = self.files().get(path)
        if found is None:
            return Response("Not found: the console's pages live at /ui/", 404, SECURITY_HEADERS, "text/plain")
        content, kind, etag = found
        # Revalidated every time (cheap: an ETag), so an upgraded proxy never serves yesterday's script.
        headers = {**SECURITY_HEADERS, "etag": etag, "cache-control": "no-cache"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(content, 200, headers, kind)  # to HEAD too: the server sends no body, only its length


async def _to_index(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", 308, headers=SECURITY_HEADERS)


def console_routes(enabled: bool) -> list[BaseRoute]:
    """`/ui` and its files, unless the console is turned off (`general_settings.ui: false`)."""
    if not enabled:
        return []
    files = ConsoleFiles(resources.files(__package__).joinpath("static"))
    return [
        Route(PREFIX, _to_index, methods=["GET"]),  # Starlette answers HEAD for every GET route
        Route(f"{PREFIX}/{{path:path}}", files.serve, methods=["GET"]),
    ]
