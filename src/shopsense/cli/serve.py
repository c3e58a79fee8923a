"""`shopsense serve` (HTTP API + shop page on localhost) and `shopsense retrain` (rebuild the models
from the store and swap them in atomically: on disk, and in a running server via POST /admin/reload).

The engine lives in <data_dir>/serving/<version>/ with <data_dir>/serving/CURRENT naming the live one.
Heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve search + recommendations + the shop page over HTTP (localhost)")
    p.add_argument("--host", help="bind address (default serve.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default serve.port, 8000)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the models from the store before serving")
    p.add_argument("--no-ranker", action="store_true", help="skip training the learned ranker when building")
    p.set_defaults(func=cmd_serve)

    r = sub.add_parser("retrain", help="retrain every model from the store and swap it in atomically")
    r.add_argument("--no-ranker", action="store_true", help="skip training the learned ranker")
    r.add_argument("--url", help="also hot-swap a running server, e.g. http://127.0.0.1:8000")
    r.add_argument("--key", help="admin API key for --url (default: the first serve.admin_keys)")
    r.set_defaults(func=cmd_retrain)


def build_and_save(settings: Any, train_ranker: bool = True, progress: bool = True):
    """Fit every model on the store's data, save it as a new version and point CURRENT at it."""
    from shopsense.errors import DataError
    from shopsense.rank.build import build_engine, save_engine
    from shopsense.store import open_store

    store = open_store(settings.resolved_store_url())
    try:
        ds = store.load_dataset()
    finally:
        store.close()
    if ds.n_items == 0:
        raise DataError("the catalog is empty", hint="run `shopsense ingest --items FILE` (or `shopsense demo`) first")
    eng = build_engine(settings, ds, train_ranker=train_ranker, progress=progress)
    save_engine(eng, settings.path("serving"))
    return eng


def load_or_build(settings: Any, rebuild: bool = False, train_ranker: bool = True):
    from shopsense.rank.build import current_folder, load_engine

    folder = None if rebuild else current_folder(settings.path("serving"))
    if folder is not None:
        try:
            return load_engine(settings, folder)
        except Exception as e:  # noqa: BLE001 - a stale/corrupt folder: rebuild rather than fail
            print(f"saved engine at {folder} could not be loaded ({e}); rebuilding")
    return build_and_save(settings, train_ranker)


def cmd_serve(args: argparse.Namespace, settings: Any) -> int:
    import uvicorn

    from shopsense.serve.app import create_app

    eng = load_or_build(settings, args.rebuild, not args.no_ranker)
    host = args.host or settings.serve.host
    port = args.port or settings.serve.port
    workers = settings.serve.workers
    print(f"shopsense is serving {len(eng.items)} items (engine {eng.version}, ranker {eng.ranker.name}, "
          f"{workers} process{'es' if workers > 1 else ''})")
    print(f"  shop page: http://{host}:{port}/    API docs: http://{host}:{port}/docs")
    if workers > 1:
        # each worker process loads the saved engine itself; settings reach it through the environment
        del eng
        _export_settings(settings, getattr(args, "config", None))
        from shopsense.serve.workers import run_workers

        run_workers("shopsense.serve.app:create_app_from_env", host, port, workers,
                    balance=settings.serve.balance_connections)
        return 0
    uvicorn.run(create_app(settings, engine=eng), host=host, port=port, log_level="warning", workers=1)
    return 0


def _export_settings(settings: Any, config: str | None) -> None:
    """Make worker processes load the same settings: the config file and the data dir (the two things
    the CLI can set besides the environment, which the workers inherit)."""
    import os
    from pathlib import Path

    if config:
        os.environ["SHOPSENSE_CONFIG"] = str(Path(config).resolve())
    os.environ["SHOPSENSE_DATA_DIR"] = str(Path(settings.data_dir).resolve())


def cmd_retrain(args: argparse.Namespace, settings: Any) -> int:
    eng = build_and_save(settings, not args.no_ranker)
    print(f"built engine {eng.version}: {json.dumps(eng.info, default=str)}")
    print(f"saved to {settings.path('serving', eng.version)} (CURRENT updated atomically)")
    if args.url:
        import httpx

        key = args.key or (settings.serve.admin_keys[0].get_secret_value() if settings.serve.admin_keys else None)
        if not key:
            print("error: --url needs an admin key (--key or serve.admin_keys)")
            return 1
        r = httpx.post(args.url.rstrip("/") + "/admin/reload", headers={"X-API-Key": key}, timeout=120)
        print(f"hot swap at {args.url}: HTTP {r.status_code} {r.text[:300]}")
        return 0 if r.status_code == 200 else 1
    return 0
