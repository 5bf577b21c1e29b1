"""An in-process provider that answers with jobs, and its fake: for testing the core's job polling.

POST /v1/submit        → 202 {"id", "polling_url"}
GET  /v1/jobs/{id}     → {"status": "Pending"} (with Retry-After on every second poll), then
                         {"status": "Ready", "result": {"sample": "<url>"}}; "Moderated" → 400-ish;
                         with `fetch_results`, {"status": "Ready", "result_url": ".../v1/results/{id}"}
GET  /v1/results/{id}  → {"result": {...}}, or the job's own error (`result_status`)
DELETE /v1/jobs/{id}   → cancels
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen import hookimpl
from imagegen.exceptions import ContentPolicyViolationError
from imagegen.plugins import PluginEntry, _load_provider
from imagegen.provider import ANY, GenerationRequest, Job, ModelSpec, ProviderInfo, ProviderRequest
from imagegen.testing import TINY_PNG, FakeRequest, FakeResponse, FakeUpstream
from imagegen.types import Image, ImageResponse

PREFIX = "jobby"


@hookimpl
def provider_info() -> ProviderInfo:
    return ProviderInfo(
        name="Jobby",
        models=(ModelSpec("slow-1", {"n": ANY, "response_format": {"url", "b64_json"}}, max_images_per_call=1),),
        max_concurrent_requests=2,
    )


@hookimpl
def map_params(request: GenerationRequest) -> dict[str, Any]:
    return {"prompt": request.prompt}


@hookimpl
def build_request(request: GenerationRequest, body: dict[str, Any]) -> ProviderRequest:
    return ProviderRequest(url=f"{request.settings.get('api_base')}/v1/submit", json=body)


@hookimpl
def parse_response(request: GenerationRequest, response: httpx.Response) -> Job:
    body = response.json()
    return Job(
        id=body["id"],
        poll=ProviderRequest(url=body["polling_url"], method="GET"),
        cancel=ProviderRequest(url=body["polling_url"], method="DELETE"),
        interval=0.01,
    )


@hookimpl
def parse_poll(request: GenerationRequest, job: Job, response: httpx.Response) -> ImageResponse | Job:
    body = response.json()
    if body["status"] == "Pending":
        return job
    if body["status"] == "Moderated":
        raise ContentPolicyViolationError("moderated", provider=request.provider, model=request.model)
    if "result_url" in body:  # the job ended: its outcome is fetched from elsewhere
        return Job(id=job.id, poll=ProviderRequest(url=body["result_url"], method="GET"), interval=0, finished=True)
    return ImageResponse(data=[Image(url=body["result"]["sample"], expires_at=body["result"]["expires_at"])])


class FakeJobs(FakeUpstream):
    def __init__(self, polls_until_ready: int = 2) -> None:
        super().__init__()
        self.polls_until_ready = polls_until_ready
        self.polls: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.moderate = False
        self.fetch_results = False
        self.result_status = 200

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "POST" and request.path == "/v1/submit":
            job = f"job-{len(self.polls) + 1}"
            self.polls[job] = 0
            return FakeResponse(202, {"id": job, "polling_url": f"{self.url}/v1/jobs/{job}"})
        if request.path.startswith("/files/"):
            return FakeResponse(200, TINY_PNG, {"content-type": "image/png"})
        job = request.path.rpartition("/")[2]
        if request.path.startswith("/v1/results/"):
            if self.result_status != 200:
                return FakeResponse(self.result_status, {"error": {"message": "the model failed"}})
            return FakeResponse(
                200, {"status": "Ready", "result": {"sample": f"{self.url}/files/{job}.png", "expires_at": 1}}
            )
        if request.method == "DELETE":
            self.cancelled.append(job)
            return FakeResponse(200, {"id": job, "status": "Cancelled"})
        self.polls[job] += 1
        if self.hold_jobs or self.polls[job] < self.polls_until_ready:
            return FakeResponse(200, {"id": job, "status": "Pending"}, {"retry-after": "0"})
        if self.moderate:
            return FakeResponse(200, {"id": job, "status": "Moderated"})
        if self.fetch_results:
            return FakeResponse(200, {"id": job, "status": "Ready", "result_url": f"{self.url}/v1/results/{job}"})
        return FakeResponse(200, {"id": job, "status": "Ready",
                                  "result": {"sample": f"{self.url}/files/{job}.png", "expires_at": 1700000000}})  # fmt: skip

    def error(self, kind: str) -> FakeResponse:
        return FakeResponse({"server_error": 500, "rate_limit": 429}.get(kind, 400), {"error": {"message": kind}})


def install() -> PluginEntry:
    """This module as the `jobby` provider, loaded through the core's own plugin loading."""
    entry = PluginEntry(prefix=PREFIX, module=__name__, distribution="imagegen-jobby", version="0")
    entry.provider = _load_provider(entry)
    return entry
