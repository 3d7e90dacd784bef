"""Reading raw files exactly as pulled: zips, their CHECKSUM files, sha256."""
from __future__ import annotations

import hashlib
import io
import zlib
import zipfile
from pathlib import Path

from ..errors import InputError
from .storage import parquet_rows, read_bytes


def sha256_of(data_or_path: bytes | Path) -> str:
    h = hashlib.sha256()
    if isinstance(data_or_path, bytes):
        h.update(data_or_path)
    else:
        with data_or_path.open("rb") as f:          # a local or an object-store path
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def parse_checksum_file(text: str, where: str) -> str:
    """An archive CHECKSUM file is `<sha256>  <name>`; return the hex digest."""
    digest = text.strip().split()[0].lower() if text.strip() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(f"{where}: not a sha256 CHECKSUM file (got {text[:80]!r})")
    return digest


def verify_checksum(data: bytes, checksum_text: str, where: str) -> str:
    expected = parse_checksum_file(checksum_text, f"{where}.CHECKSUM")
    actual = sha256_of(data)
    if actual != expected:
        raise InputError(f"{where}: checksum mismatch (CHECKSUM says {expected}, file has {actual})")
    return actual


def read_zip_csv(source: bytes | Path, where: str | None = None) -> bytes:
    """The one CSV inside an archive zip (its bytes, or its path), as bytes; a truncated or corrupt zip is an error
    naming it."""
    where = where or str(source)
    try:
        # read whole (on object storage one GET: zipfile's seeks on an object would each be a ranged GET); a zip
        # is several times smaller than the CSV read out of it
        data = source if isinstance(source, bytes) else read_bytes(source)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise InputError(f"{where}: expected one CSV inside the zip, found {names}")
            return zf.read(names[0])
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError(f"{where}: file not found") from None
        raise InputError(f"{where}: not a readable zip (truncated or corrupt: {exc})") from None


def count_rows(path: Path, fmt: str) -> int:
    """Data rows in a raw file as pulled (header lines not counted)."""
    if fmt == "archive-zip":
        lines = [ln for ln in read_zip_csv(path).splitlines() if ln.strip()]
        has_header = bool(lines) and not lines[0][:1].isdigit()
        return len(lines) - has_header
    if fmt == "truth-parquet":
        return parquet_rows(path)
    data = read_bytes(path)
    if fmt == "rest-json":
        import json
        return len(json.loads(data))
    lines = [ln for ln in data.splitlines() if ln.strip()]
    return len(lines) - (fmt == "liquidation-bars-csv")
