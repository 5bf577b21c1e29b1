"""Durations as LiteLLM spells them for `duration` and `budget_duration`: `30s`, `10m`, `12h`, `30d`, `1w`, `1mo`."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}


def parse_duration(text: str, field: str) -> timedelta:
    """`"30d"` → 30 days; raises ValueError naming `field` and the accepted forms."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"`{field}` must be a positive number followed by s, m, h, d, w or mo (e.g. '30s', '1h', '30d'), "
            f"got {text!r}"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
