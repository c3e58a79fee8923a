"""Pseudonymisation of shopper ids.

Raw user ids never reach the store: at ingest each one is replaced by
``HMAC-SHA256(key, raw_id)`` (hex, first 32 chars = 128 bits). With the key, the same shopper always
maps to the same pseudonym (so histories join up across files and the API can look a shopper up by
their raw id); without the key, a pseudonym cannot be reversed or re-computed from a guessed id.
The key comes from settings (``SHOPSENSE_PSEUDONYM_KEY``) or a random per-installation key file.
Rotating the key severs every stored history from future events — do it only with a re-ingest.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        # lru_cache per instance: shoppers repeat a lot within a file
        self.user = lru_cache(maxsize=1 << 18)(self._user)

    def _user(self, raw_id: str) -> str:
        return hmac.new(self._key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def event_id(self, content: str) -> int:
        """Keyed 64-bit id of an event's content (or of its given id), signed for SQLite INTEGER."""
        d = hashlib.blake2b(content.encode("utf-8", "surrogateescape"), digest_size=8, key=self._key[:64]).digest()
        return int.from_bytes(d, "little", signed=True)
