"""Polling a provider's job (submit, then poll) until it ends, within the call's one deadline.

The plugin says what a job is (`parse_response` returns a `Job`) and reads each poll (`parse_poll`); the
core owns the loop: the wait between polls starts at the provider's suggested interval (at least
`MIN_INTERVAL`) and backs off, a `Retry-After` is honoured, no wait ends past the call's deadline, 5xx
answers and broken connections are polled through until the deadline (except for a finished job's
outcome, whose error is final), and when the deadline passes the job is cancelled (best effort) and
the call fails with a `Timeout` carrying the job's id. The async loop waits on the event loop: polling
never holds a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from . import transport
from .calls import PreparedCall
from .exceptions import APIConnectionError, ImageGenError, Timeout
from .provider import GenerationRequest, Job
from .types import ImageResponse

BACKOFF = 1.5
MIN_INTERVAL = 0.1
"""The shortest wait between two polls of a running job, whatever the provider suggests: never a busy loop."""
MAX_INTERVAL = 10.0
"""The longest wait between two polls (unless the provider's own interval is longer)."""
CANCEL_TIMEOUT = 5.0


@dataclass
class JobPoller:
    """The polling policy of one job, shared by the sync and async loops."""

    call: PreparedCall
    request: GenerationRequest
    job: Job
    wait: float = -1.0
    polls: int = 0

    def __post_init__(self) -> None:
        self.wait = self._first_wait(self.job)

    def next_wait(self, response: httpx.Response | None) -> float:
        """Seconds to wait before the next poll: the provider's `Retry-After`, else the backed-off interval;
        never past the call's deadline (the loop then gives up instead of polling once more)."""
        advised = transport.advised_delay(response) if response is not None else None
        wait = self.wait if advised is None else max(advised, self._first_wait(self.job))
        self.wait = max(min(self.wait * BACKOFF, max(self.job.interval, MAX_INTERVAL)), MIN_INTERVAL)
        return max(0.0, min(wait, self.call.remaining()))

    @staticmethod
    def _first_wait(job: Job) -> float:
        """A finished job's outcome is fetched at once; a running one is polled `MIN_INTERVAL` apart at least."""
        return 0.0 if job.finished else max(job.interval, MIN_INTERVAL)

    def timed_out(self) -> Timeout:
        error = Timeout(
            f"job {self.job.id} did not finish within the call's timeout of {self.request.timeout:g} s "
            f"({self.polls} polls); it was cancelled where the provider allows",
            provider=self.request.provider,
            model=self.request.model,
        )
        error.job_id = self.job.id
        return error

    def read(self, response: httpx.Response) -> ImageResponse | Job | None:
        """What a poll's answer says: done, still running (the job), or None for a failed poll to retry."""
        self.polls += 1
        if not response.is_success:
            if transport.should_retry(response) and not self.job.finished:
                return None
            raise self._tagged(self.call.error(self.request, self.job.poll, response))
        try:
            outcome = self.call.parse_poll(self.request, self.job, response)
        except ImageGenError as error:
            raise self._tagged(error) from None
        if isinstance(outcome, Job):
            if outcome.poll is not self.job.poll:  # a new stage (e.g. fetching the result): no backed-off wait
                self.wait = self._first_wait(outcome)
            self.job = outcome
        return outcome

    def failed_poll(self, error: ImageGenError) -> None:
        """A poll that got no answer: polled again (until the deadline) if the connection broke, else raised."""
        self.polls += 1
        if not isinstance(error, APIConnectionError | Timeout):
            raise self._tagged(error)

    def _tagged(self, error: ImageGenError) -> ImageGenError:
        error.job_id = self.job.id
        return error


def wait_for(call: PreparedCall, request: GenerationRequest, job: Job) -> ImageResponse:
    """Poll `job` until it ends; its images, or its error (a Timeout at the deadline)."""
    poller = JobPoller(call, request, job)
    response: httpx.Response | None = None
    while True:
        time.sleep(poller.next_wait(response))
        if call.remaining() <= 0:
            break
        try:
            response = transport.send(poller.job.poll, **call.send_kwargs(kind="poll"))
        except ImageGenError as error:
            poller.failed_poll(error)
            response = None
            continue
        outcome = poller.read(response)
        if isinstance(outcome, ImageResponse):
            return outcome
    if poller.job.cancel is not None:
        with contextlib.suppress(ImageGenError):  # best effort: the job ends on its own at the provider
            transport.send(poller.job.cancel, **_cancel_kwargs(call))
    raise poller.timed_out()


async def await_job(call: PreparedCall, request: GenerationRequest, job: Job) -> ImageResponse:
    """The async twin of `wait_for`."""
    poller = JobPoller(call, request, job)
    response: httpx.Response | None = None
    while True:
        await asyncio.sleep(poller.next_wait(response))
        if call.remaining() <= 0:
            break
        try:
            response = await transport.asend(poller.job.poll, **call.send_kwargs(kind="poll"))
        except ImageGenError as error:
            poller.failed_poll(error)
            response = None
            continue
        outcome = poller.read(response)
        if isinstance(outcome, ImageResponse):
            return outcome
    if poller.job.cancel is not None:
        with contextlib.suppress(ImageGenError):  # best effort: the job ends on its own at the provider
            await transport.asend(poller.job.cancel, **_cancel_kwargs(call))
    raise poller.timed_out()


def _cancel_kwargs(call: PreparedCall) -> dict[str, Any]:
    return {**call.send_kwargs(kind="cancel"), "timeout": CANCEL_TIMEOUT}
