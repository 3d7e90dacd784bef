"""Errors a user sees. Each names the file, row, partition or parameter at fault."""
from __future__ import annotations


class InputError(ValueError):
    """Source data is missing, corrupt or malformed."""


class SourceError(RuntimeError):
    """A remote source refused or failed in a way retrying will not fix."""
