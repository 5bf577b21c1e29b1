"""How many requests a worker can keep in flight: its open file descriptors against its limit.

An image takes 10 to 60 s, so a worker's ceiling is how many requests it holds at once, and each holds
two descriptors (the client's connection and the upstream's). Nothing caps that below the process's
file-descriptor limit: `imagegen serve` raises the soft `RLIMIT_NOFILE` to the hard one at start, the
upstream pool has no connection cap, and a worker refuses new generations with a fast 503 and
`Retry-After` only when its descriptors are truly near the limit, keeping a reserve so it can still
accept connections, answer them, retry and write its spend log. Never a silent queue.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass

FD_DIRECTORIES = ("/proc/self/fd", "/dev/fd")
"""Where a process's open descriptors are listed: Linux's, else the BSDs' and macOS's. With neither, they are
not counted and nothing is refused for want of them."""
_RECOUNT_SECONDS = 0.01
"""How often the count is taken again under load; in between, each admitted request counts as one more."""
_FALLBACK_RECOUNT_SECONDS = 1.0
"""Where counting means listing every descriptor (no `/proc/self/fd` size: Linux before 6.2, other systems)."""


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft `RLIMIT_NOFILE` to the hard limit (the kernel's `nr_open` when it is unlimited).

    Returns the (soft, hard) limits now in force. Child processes (`--workers N`) inherit them.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else _kernel_maximum()
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # a container may forbid it: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _kernel_maximum() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as nr_open:
            return int(nr_open.read())
    except (OSError, ValueError):
        return 1 << 20


def reserve_for(limit: int) -> int:
    """Descriptors kept back from new generations: 5 % of the limit, at least 64."""
    return max(64, limit // 20)


@dataclass
class Usage:
    """A worker's descriptors at one moment."""

    open: int
    limit: int
    reserve: int

    @property
    def refusing_above(self) -> int:
        """New generations are refused from this many open descriptors on."""
        return self.limit - self.reserve

    def as_dict(self) -> dict[str, int]:
        return {"open": self.open, "limit": self.limit, "refusing_above": self.refusing_above}


class FileDescriptors:
    """This process's open descriptors against its soft limit; `has_room` is the admission check."""

    def __init__(self) -> None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.limit = soft if soft != resource.RLIM_INFINITY else _kernel_maximum()
        self.reserve = reserve_for(self.limit)
        self.directory = next((path for path in FD_DIRECTORIES if os.path.isdir(path)), None)
        """Where the descriptors are counted; None: nowhere (`count` is 0 and `has_room` always true)."""
        # Linux 6.2+ reports the open count as the size of /proc/self/fd: one stat, ~3 µs. Else list it.
        self._by_size = self.directory == FD_DIRECTORIES[0] and _size_count(self.directory) > 0
        self._recount = _RECOUNT_SECONDS if self._by_size else _FALLBACK_RECOUNT_SECONDS
        self._open = self.count()
        self._counted_at = time.monotonic()

    def count(self) -> int:
        """The number of descriptors open now (0 where they cannot be counted)."""
        if self.directory is None:
            return 0
        if self._by_size:
            return _size_count(self.directory)
        try:
            return len(os.listdir(self.directory))
        except OSError:  # the listing itself needs a descriptor: at the limit, there is no room
            return self.limit

    def usage(self) -> Usage:
        return Usage(self.count(), self.limit, self.reserve)

    def has_room(self) -> bool:
        """Whether a new request may start: one more upstream connection stays clear of the reserve.

        Counted at most every 10 ms; in between, each admission counts as one more descriptor (an
        overestimate, never an underestimate), so a busy worker does not count on every request.
        """
        if self.directory is None:
            return True
        now = time.monotonic()
        if now - self._counted_at >= self._recount:
            self._open, self._counted_at = self.count(), now
        if self._open + 1 > self.limit - self.reserve:
            return False
        self._open += 1
        return True


def _size_count(directory: str) -> int:
    try:
        return os.stat(directory).st_size
    except OSError:
        return 0
