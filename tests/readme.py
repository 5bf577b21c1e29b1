"""The Python examples of the READMEs, for the tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def python_example(heading: str, readme: Path = ROOT / "README.md") -> str:
    """The first ```python block after `heading` in `readme`."""
    section = readme.read_text().split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"{readme.name}'s {heading!r} section has a python example"
    return match.group(1)
