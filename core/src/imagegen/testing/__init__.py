"""The conformance kit: a fake-upstream server base and the standard tests a provider plugin subclasses.

Requires pytest (`pip install imagegen-core[testing]`).
"""

from .conformance import ProviderConformanceTests
from .fake_upstream import (
    ERROR_KINDS,
    TINY_PNG,
    TINY_PNG_B64,
    FakeFile,
    FakeRequest,
    FakeResponse,
    FakeUpstream,
    event_stream,
)
from .images import noise_png, png_image

__all__ = [
    "ERROR_KINDS",
    "TINY_PNG",
    "TINY_PNG_B64",
    "FakeFile",
    "FakeRequest",
    "FakeResponse",
    "FakeUpstream",
    "ProviderConformanceTests",
    "event_stream",
    "noise_png",
    "png_image",
]
