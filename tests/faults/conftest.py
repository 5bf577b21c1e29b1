"""The fault-injecting upstream for every test here, and the check that nothing was left open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.proxy.conftest import start_proxy  # noqa: F401 (the fixture, shared)

from .upstream import HANGS, Fault, FaultyUpstream, open_fds, wait_until

DRIP_INTERVAL = 0.2
HANG_TIMEOUT = 0.5
"""The timeout for faults that hang: longer than a drip's interval, so only a whole-answer deadline cuts a drip."""
TIMEOUT = 20.0
"""The timeout for everything else: a fault that should fail fast must not fail by timing out on a busy machine."""


def timeout_for(fault: Fault) -> float:
    return HANG_TIMEOUT if fault in HANGS else TIMEOUT


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(drip_interval=DRIP_INTERVAL) as fake:
        yield fake


class Descriptors:
    """A process's file descriptors other than its connections to `upstream`, counted before and after faults.

    When the process is this one, each open connection to the fake is two descriptors (both ends).
    """

    def __init__(self, upstream: FaultyUpstream, pid: int | str = "self") -> None:
        self.upstream = upstream
        self.pid = pid
        self.per_connection = 2 if pid == "self" else 1
        self.baseline = self._others()

    def _others(self) -> int:
        return open_fds(self.pid) - self.per_connection * self.upstream.open_connections

    def assert_nothing_left_open(self) -> None:
        """Every connection to the upstream closed but at most one idle pooled one, and no other descriptor leaked."""

        def settled() -> bool:
            return self.upstream.open_connections <= 1 and self._others() <= self.baseline

        wait_until(settled, 20, f"connections closed ({self.upstream.open_connections} open to the upstream, "
                                f"{self._others()} other descriptors, {self.baseline} before)")  # fmt: skip
