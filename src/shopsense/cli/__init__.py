"""`shopsense` command line. Each stage adds its sub-commands in its own module
(`cli/<stage>.py` with a `register(subparsers)` function) listed in `_MODULES`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from shopsense.errors import ShopsenseError

# Sub-command modules, in data-flow order. A module that is missing is skipped (optional stages).
_MODULES = ["config", "ingest", "quality", "search", "recommend", "serve", "privacy", "demo"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shopsense", description="Product search and recommendations for online shops.")
    p.add_argument("--config", help="TOML settings file (see configs/shopsense.example.toml)")
    p.add_argument("--data-dir", help="where the store, models and indexes live (default ./var)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in _MODULES:
        try:
            mod = importlib.import_module(f"shopsense.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"shopsense.cli.{name}":
                continue
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from shopsense.settings import load_settings
    try:
        overrides = {"data_dir": args.data_dir} if args.data_dir else {}
        settings = load_settings(args.config, **overrides)
        return int(args.func(args, settings) or 0)
    except ShopsenseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted — committed work is kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
