"""Errors a user sees. Each names the file, row, partition or parameter at fault."""
from __future__ import annotations


class InputError(ValueError):
    """Source data is missing, corrupt or malformed."""


class SourceError(RuntimeError):
    """A remote source refused or failed in a way retrying will not fix."""


class PartitionError(InputError):
    """An InputError of one (day, symbol) partition: a range step reports it naming the partition."""

    def __init__(self, day, symbol: str, cause: Exception):
        self.day, self.symbol = day, symbol
        super().__init__(str(cause))
