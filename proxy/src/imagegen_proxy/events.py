"""Server-Sent Events as bytes: where each event of a relayed stream ends, and what it says, without
parsing it whole; and the frames the proxy writes itself.

An image event is megabytes of base64 on one `data:` line. `EventFramer` finds the blank line that ends
each event (any of the three line endings, split across chunks or not) with memchr-speed searches and
hands back the event's chunks untouched; `summarize` reads an event's type, and the `usage` of a
completed one or the body of an error, from its first and last few KiB only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from imagegen.sse import SSEDecoder
from imagegen.types import ImageStreamEvent, Usage

from .charges import usage_near_edges

EDGE_BYTES = 4096  # an event's fields other than its image sit within this of either end
_TYPE = re.compile(rb'"type"\s*:\s*"([^"]{1,100})"')
_ERROR = re.compile(rb'"error"\s*:')  # an event's data with an `error` (base64 holds no quote: never in an image)


class EventFramer:
    """Feed it an event stream's chunks as they arrive; it returns each event, once complete, as the
    chunks (or slices of them) that hold it. What follows the last complete event stays pending."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._line_has_content = False
        self._event_has_content = False
        self._after_cr = False  # the last byte was "\r": a "\n" now completes a CRLF, it ends no line

    def feed(self, chunk: bytes) -> list[list[bytes]]:
        events: list[list[bytes]] = []
        start = position = 0
        size = len(chunk)
        while position < size:
            end = _line_end(chunk, position)
            if end < 0:
                self._line_has_content, self._after_cr = True, False
                break
            if end > position:
                self._line_has_content, self._after_cr = True, False
            elif chunk[end] == 0x0A and self._after_cr:  # the "\n" of a "\r\n"
                self._after_cr = False
                position = end + 1
                continue
            self._after_cr = chunk[end] == 0x0D
            position = end + 1
            if self._line_has_content:
                self._line_has_content = False
                self._event_has_content = True
                continue
            if not self._event_has_content:
                continue  # a blank line with no event before it: its bytes go with the next event
            if self._after_cr and position < size and chunk[position] == 0x0A:
                position += 1  # the blank line is a "\r\n": the event ends after it
                self._after_cr = False
            events.append([*self._pending, chunk[start:position]])
            self._pending = []
            self._event_has_content = False
            start = position
        if start < size:
            self._pending.append(chunk[start:] if start else chunk)
        return events

    @property
    def has_partial_event(self) -> bool:
        """Bytes of an event whose end has not arrived (an upstream that stops here broke off mid-event)."""
        return self._event_has_content or self._line_has_content


def _line_end(chunk: bytes, start: int) -> int:
    newline = chunk.find(b"\n", start)
    carriage = chunk.find(b"\r", start, newline if newline >= 0 else len(chunk))
    return carriage if carriage >= 0 else newline


@dataclass(frozen=True)
class EventSummary:
    """What the proxy needs of a relayed event: its `type`, a completed image's `usage`, an error's body."""

    type: str | None
    usage: Usage | None = None
    error: dict[str, Any] | None = None

    @property
    def completed(self) -> bool:
        return self.type is not None and self.type.endswith(".completed")


def summarize(pieces: list[bytes]) -> EventSummary:
    """An event's summary from its first and last `EDGE_BYTES` (an image event is never parsed whole); an
    error event, small, is decoded whole."""
    head = _head(pieces)
    if _ERROR.search(head):
        return _error(b"".join(pieces))
    found = _TYPE.search(head)
    kind = found[1].decode(errors="replace") if found else _event_name(head)
    completed = kind is not None and kind.endswith(".completed")
    return EventSummary(kind, usage_near_edges(_tail(pieces), head) if completed else None)


def _error(data: bytes) -> EventSummary:
    """An event whose data has an `error` (OpenAI's mid-stream failure): its body, to map and record."""
    for event in SSEDecoder().feed(data):
        try:
            payload = event.json()
        except ValueError:
            continue
        if isinstance(payload, dict) and isinstance(error := payload.get("error"), dict | str):
            return EventSummary("error", error={"error": error})
    return EventSummary(None)


def _event_name(head: bytes) -> str | None:
    for line in head.splitlines()[:-1]:  # the last line may be cut off
        if line.startswith(b"event:"):
            return line[6:].strip().decode(errors="replace")
    return None


def _head(pieces: list[bytes]) -> bytes:
    head = b""
    for piece in pieces:
        head += piece[: EDGE_BYTES - len(head)]
        if len(head) >= EDGE_BYTES:
            break
    return head


def _tail(pieces: list[bytes]) -> bytes:
    tail = b""
    for piece in reversed(pieces):
        tail = piece[-(EDGE_BYTES - len(tail)) :] + tail
        if len(tail) >= EDGE_BYTES:
            break
    return tail


def frame(event: ImageStreamEvent) -> bytes:
    """An image event in OpenAI's framing, serialised once, straight to bytes."""
    data = event.__pydantic_serializer__.to_json(event)
    return b"event: " + event.type.encode() + b"\ndata: " + data + b"\n\n"


def error_frame(body: dict[str, Any]) -> bytes:
    """An error event as OpenAI sends one mid-stream (`{"error": {...}}` in a `data` line, which the openai SDK
    raises as an APIError)."""
    return b"event: error\ndata: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"
