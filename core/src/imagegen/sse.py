"""Server-Sent Events framing (the WHATWG event-stream format), decoded from raw byte chunks.

Image events carry megabytes of base64 on one `data:` line, so the decoder never rescans or re-copies
what it has already buffered: each chunk is searched once for line ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its `event` name (default "message"), its `data` (lines joined by newlines), its `id`."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Feed it the bytes of an event stream as they arrive; it returns each event once complete."""

    def __init__(self) -> None:
        self._line: list[bytes] = []  # the pieces of the line not yet ended
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False  # the last chunk ended in "\r": a "\n" opening the next one belongs to it

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        start = 0
        if self._pending_cr and chunk.startswith(b"\n"):
            start = 1
        self._pending_cr = False
        while True:
            end = _line_end(chunk, start)
            if end < 0:
                if start < len(chunk):
                    self._line.append(chunk[start:])
                return events
            self._line.append(chunk[start:end])
            line = b"".join(self._line)
            self._line.clear()
            if chunk[end] == 0x0D:  # "\r", maybe "\r\n"
                if end + 1 == len(chunk):
                    self._pending_cr = True
                elif chunk[end + 1] == 0x0A:
                    end += 1
            start = end + 1
            event = self._line_done(line)
            if event is not None:
                events.append(event)

    def _line_done(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:  # a blank line dispatches the event
            if not self._data:
                self._event = "message"
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
            self._event, self._data = "message", []
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or "message"
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


def _line_end(chunk: bytes, start: int) -> int:
    newline = chunk.find(b"\n", start)
    carriage = chunk.find(b"\r", start, newline if newline >= 0 else len(chunk))
    return carriage if carriage >= 0 else newline
