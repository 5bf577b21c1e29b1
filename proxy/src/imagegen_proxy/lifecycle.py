"""A worker's graceful stop: SIGTERM (or Ctrl-C) drains, a second one stops now; the spend log is written either way.

On the first signal the server (uvicorn) stops accepting connections, closes idle ones and waits for
the requests in flight; readiness answers 503 `draining` so load balancers look elsewhere. Those
requests get up to the drain timeout to finish. Then, or at once on a second signal, the ones still
running are stopped: each one whose response has not started is answered 503 with `Retry-After`
(the client retries on another replica), a streamed one is cut off, all are recorded. Then the
application's shutdown writes the pending spend rows, and the process exits.

The server's own signal handler stays in charge of the first signal; this one is chained in front
of it, and keeps later signals from it (uvicorn's answer to a second Ctrl-C skips the application's
shutdown, and with it the spend rows). With `--workers N` the supervising process passes every
signal on to the workers (uvicorn's passes only the first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess

logger = logging.getLogger("imagegen.proxy")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulStop:
    """Watches one worker's stop signals; calls `stop_requests` at the drain deadline or on the second signal."""

    def __init__(self, drain_timeout: float, stop_requests: Callable[[], None]) -> None:
        self.drain_timeout = drain_timeout
        self.draining = False
        self.stopped = False
        self._stop_requests = stop_requests
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Chain in front of the current handlers of SIGTERM and SIGINT (from the main thread, in the running loop)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        assert self._loop is not None
        if not self.draining:
            previous = self._previous.get(sig)
            if callable(previous):
                previous(sig, frame)  # the server starts its shutdown
            self._loop.call_soon_threadsafe(self._begin)
        else:
            self._loop.call_soon_threadsafe(self.stop_now)

    def _begin(self) -> None:
        if self.draining:
            return
        self.draining = True
        assert self._loop is not None
        logger.info(
            "stopping: finishing the requests in flight for up to %g s (a second SIGTERM or Ctrl-C stops them now)",
            self.drain_timeout,
        )
        self._deadline = self._loop.call_later(self.drain_timeout, self.stop_now)

    def stop_now(self) -> None:
        """Stop the requests still in flight (answered 503 where they can be), once."""
        self.draining = True
        if self.stopped:
            return
        self.stopped = True
        if self._deadline is not None:
            self._deadline.cancel()
        self._stop_requests()


def serve_workers(config: Config) -> None:
    """Run `config.workers` worker processes (as `uvicorn.run` does), passing a second stop signal on to them."""
    Supervisor(config, sockets=[config.bind_socket()]).run()


class Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, which once stopping still passes signals on to its workers."""

    def join_all(self) -> None:
        for process in self.processes:
            while process.process.is_alive():
                process.process.join(0.1)
                if self.signal_queue:  # a second SIGTERM or Ctrl-C: the workers stop their requests now
                    self.signal_queue.clear()
                    for worker in self.processes:
                        if worker.pid is not None:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(worker.pid, signal.SIGTERM)
