"""The `liq` command group and what its commands share: the data root option, one-line errors, the terminal."""
from __future__ import annotations

import contextlib
import os
import sys

import click

from ..lib import heap
from ..lib.io import storage
from ..lib.params import ParameterError
from ..runtime import quiet_dagster_warnings


@contextlib.contextmanager
def own_stderr():
    """A stream of its own onto this process's stderr, for the progress bar. A single symbol's run executes in this
    process, and Dagster captures the run's output into its compute logs by redirecting the process's stderr file
    descriptor itself: the bar, writing to it, stopped being on a terminal and froze until the run ended. A
    duplicate of the descriptor taken before the run keeps pointing at the terminal."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):            # no descriptor (an in-memory stream in a test)
        yield sys.stderr
        return
    with open(fd, "w", buffering=1, encoding="utf-8", errors="replace") as stream:
        yield stream


def fail(msg: str) -> None:
    """One line on stderr, exit status 1."""
    click.echo(f"error: {msg}", err=True)
    sys.exit(1)


data_dir_option = click.option("--data-dir", default=None,
                               help="Data root: a folder or s3://BUCKET/PREFIX (default $LIQ_DATA_DIR, else ./data).")


def data_root(data_dir: str | None):
    """The data root (--data-dir, $LIQ_DATA_DIR, ./data; a local folder or s3://BUCKET/PREFIX), resolved once per
    command."""
    try:
        return storage.data_root(data_dir)
    except ParameterError as exc:
        fail(str(exc))


@click.group()
def main() -> None:
    """liq_pipeline: liquidation levels estimated from Binance USD-M data, and measured."""
    quiet_dagster_warnings()
    heap.tune_collector()
