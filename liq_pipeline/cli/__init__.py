"""The `liq` command: one module per command group over plain functions of lib/ and the launcher of runtime/."""
from . import market, ops, read, run  # noqa: F401  (each registers its commands on the group)
from .base import main

__all__ = ["main"]
