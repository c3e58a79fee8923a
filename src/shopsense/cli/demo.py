"""`shopsense demo`: build the engine on the bundled sample (idempotent) and show what it does."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="ingest the bundled sample, build search + recommenders, show results")
    p.add_argument("--sample", default=str(SAMPLE), help="folder with items.csv and events.csv")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console

    from shopsense.cli.ingest import cmd_ingest, cmd_stats
    from shopsense.errors import DataError

    console = Console()
    sample = Path(args.sample)
    items, events = sample / "items.csv", sample / "events.csv"
    if not items.exists() or not events.exists():
        raise DataError(f"the sample is not at {sample}", hint="pass --sample DIR with items.csv and events.csv")
    console.rule("1. ingest the bundled sample (idempotent: a second run loads nothing twice)")
    rc = cmd_ingest(argparse.Namespace(items=[str(items)], events=[str(events)], format=None), settings)
    console.rule("2. what was loaded")
    cmd_stats(argparse.Namespace(), settings)
    for step in _STEPS:
        rc |= step(settings, console)
    return rc


def _steps() -> list:
    """Later stages register demo steps here (search, recommend, serve) as they land."""
    steps = []
    try:
        from shopsense.cli.demo_steps import STEPS
        steps.extend(STEPS)
    except ModuleNotFoundError:
        pass
    return steps


_STEPS = _steps()
