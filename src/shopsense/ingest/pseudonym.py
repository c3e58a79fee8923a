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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shopsense.ingest.eventkey import EventKeys


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)  # copied per id: cheaper than a new HMAC
        # lru_cache per instance: shoppers and sessions repeat a lot within a file
        self.user_parts = lru_cache(maxsize=1 << 17)(self._user_parts)
        self.session_parts = lru_cache(maxsize=1 << 15)(self._session_parts)
        self._keys: EventKeys | None = None

    def _user_parts(self, raw_id: str) -> tuple[str, int]:
        """(pseudonym, 64-bit event-key component) from ONE HMAC: the first 16 bytes of the digest
        are the pseudonym, the next 8 feed the event id (so ingest hashes each id once)."""
        h = self._hmac.copy()
        h.update(raw_id.encode("utf-8", "surrogateescape"))
        d = h.digest()
        return d[:16].hex(), int.from_bytes(d[16:24], "little")

    def _session_parts(self, raw_id: str) -> tuple[str, int]:
        """Session ids can embed user ids, so they are pseudonymised too (keyed BLAKE2b, a MAC)."""
        d = hashlib.blake2b(raw_id.encode("utf-8", "surrogateescape"), digest_size=20, key=self._key[:64]).digest()
        return d[:12].hex(), int.from_bytes(d[12:20], "little")

    def user(self, raw_id: str) -> str:
        return self.user_parts(raw_id)[0]

    def session(self, raw_id: str) -> str:
        return self.session_parts(raw_id)[0]

    @property
    def keys(self) -> "EventKeys":
        """Keyed event-content ids (see `shopsense.ingest.eventkey`)."""
        if self._keys is None:
            from shopsense.ingest.eventkey import EventKeys

            self._keys = EventKeys(self._key)
        return self._keys
