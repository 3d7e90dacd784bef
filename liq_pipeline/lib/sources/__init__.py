"""Sources behind one interface (base.Source). `SourceKind` is the one list of them: the CLI's choices, the
source resource's typed field and docs/sources.md's table are made from it."""
from __future__ import annotations

import enum


class SourceKind(str, enum.Enum):
    simulated = "simulated"    # the built-in agent-based market (lib/sim), the default: no network
    files = "files"            # a local folder in the archive's layout
    archive = "archive"        # the public bulk archive over HTTP, mirrored file by file
    binance = "binance"        # USD-M REST
    auto = "auto"              # archive for days it has published, REST for the recent days it has not


SOURCE_KINDS = tuple(k.value for k in SourceKind)
