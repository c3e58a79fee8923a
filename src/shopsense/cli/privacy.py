"""`shopsense forget`: erase a shopper on request (by their raw id; it is pseudonymised first)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("forget", help="delete a shopper's events and profile (right to erasure)")
    p.add_argument("user_id", help="the shopper's id as the shop knows it (pseudonymised with the key before lookup)")
    p.set_defaults(func=cmd_forget)


def cmd_forget(args: argparse.Namespace, settings: Any) -> int:
    from shopsense.ingest.pseudonym import Pseudonymizer
    from shopsense.store import open_store

    key = Pseudonymizer(settings.hmac_key()).user(args.user_id.strip())
    n = open_store(settings.resolved_store_url()).delete_user(key)
    print(f"deleted {n} events of shopper {key} (pseudonym); the deletion is recorded in the audit log")
    return 0
