"""How often a process that read Parquet aborts as the interpreter exits, by what Arrow was handed to read.

A Python file object (an open file, a BytesIO) makes Arrow's pool threads read under the GIL; one still alive when
the interpreter finalises is unwound and the process dies with "terminate called without an active exception"
(exit -6, apache/arrow#50482). An Arrow reader over Python's bytes does it too (a pool thread releases them).
That is how `liq status` once failed CI. The pipeline hands Arrow a path or a copy in Arrow's memory
(`storage.readable_parquet` / `parquet_source`); this counts aborts for each way over fresh processes.

    python bench/exit_abort.py [--runs 150]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

READ = """
import io, sys
import pyarrow.parquet as pq
from liq_pipeline.lib.io.storage import parquet_source
import pyarrow as pa
how, files = sys.argv[1], sys.argv[2:]
for p in files:
    if how == "open file":
        with open(p, "rb") as f:
            pq.read_table(f)
    elif how == "BytesIO":
        pq.read_table(io.BytesIO(open(p, "rb").read()))
    elif how == "path":
        pq.read_table(p)
    elif how == "Arrow reader over the bytes":
        pq.read_table(pa.BufferReader(open(p, "rb").read()))
    else:
        pq.read_table(parquet_source(open(p, "rb").read()))
"""
WAYS = ("open file", "BytesIO", "Arrow reader over the bytes", "path", "parquet_source (the pipeline's)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=150, help="fresh processes per way")
    ap.add_argument("--files", type=int, default=16, help="small Parquet files each process reads")
    args = ap.parse_args()
    import pandas as pd
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.files):
            path = Path(tmp) / f"{i}.parquet"
            pd.DataFrame({"ts": pd.date_range("2026-05-01", periods=24, freq="1h", tz="UTC"), "x": range(24)}
                         ).to_parquet(path)
            files.append(str(path))
        print(f"{args.runs} fresh processes per way, each reading {args.files} small Parquet files")
        for how in WAYS:
            aborted = sum(subprocess.run([sys.executable, "-c", READ, how, *files], capture_output=True).returncode != 0
                          for _ in range(args.runs))
            print(f"  {how:34s} {aborted:4d} aborted at exit ({aborted / args.runs:.0%})")


if __name__ == "__main__":
    main()
