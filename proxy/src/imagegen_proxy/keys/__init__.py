"""Virtual keys, spend logs and budgets for the proxy: `KeyAccess` and what it is built from."""

from .control import KeyAccess

__all__ = ["KeyAccess"]
