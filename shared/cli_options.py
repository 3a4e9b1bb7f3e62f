"""The command-line options every program shares (relay-stdio, relay, relay-web), defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def store_options(fn: F) -> F:
    """Add ``--config PATH`` (passed as ``config_path``), ``--data-dir DIR`` and ``--store URL``."""
    fn = click.option(
        "--store",
        metavar="URL",
        help="Where messages live: a postgresql://... URL shared across machines (default: the JSONL "
        "files in the data dir). Logs and hook state stay in the data dir.",
    )(fn)
    fn = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Store folder shared by the agents, the viewer and the CLI (default: the per-user data dir).",
    )(fn)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="PATH",
        help="Config file to read (default: $CLAUDE_CODEX_CONFIG, else the per-user config file).",
    )(fn)
