"""Pseudonymisation of shopper ids.

Raw user ids never reach the store: at ingest each one is replaced by
``HMAC-SHA256(key, raw_id)`` (hex, first 32 chars = 128 bits). With the key, the same shopper always
maps to the same pseudonym (so histories join up across files and the API can look a shopper up by
their raw id); without the key, a pseudonym cannot be reversed or re-computed from a guessed id.
The key comes from settings (``SHOPSENSE_PSEUDONYM_KEY``) or a random per-installation key file.
Rotating the key severs every stored history from future events — do it only with a re-ingest.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from shopsense.ingest.eventkey import EventKeys


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)  # copied per id: cheaper than a new HMAC
        self._blake = hashlib.blake2b(digest_size=20, key=key[:64])  # keyed once, copied per session id
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
        h = self._blake.copy()
        h.update(raw_id.encode("utf-8", "surrogateescape"))
        d = h.digest()
        return d[:12].hex(), int.from_bytes(d[12:20], "little")

    def user_parts_many(self, raw_ids: Sequence[str]) -> tuple[list[str], Any]:
        """`user_parts` for many distinct ids at once (the columnar ingest path): the same values,
        with the per-id Python work cut to one MAC; hex and integer parts are split out by numpy.
        Not cached here: the ingest path remembers shoppers across blocks itself (columnar._Memo)."""
        return _split(_digests(self._hmac, raw_ids), 32, 16)

    def session_parts_many(self, raw_ids: Sequence[str]) -> tuple[list[str], Any]:
        """`session_parts` for many distinct ids at once. Not cached: a session rarely spans blocks."""
        hexes, comps = _split(_digests(self._blake, raw_ids), 20, 12)
        return hexes, comps

    def user(self, raw_id: str) -> str:
        return self.user_parts(raw_id)[0]

    def session(self, raw_id: str) -> str:
        return self.session_parts(raw_id)[0]

    @property
    def key_bytes(self) -> bytes:
        """The key itself, for a worker process that must compute the same pseudonyms."""
        return self._key

    @property
    def keys(self) -> "EventKeys":
        """Keyed event-content ids (see `shopsense.ingest.eventkey`)."""
        if self._keys is None:
            from shopsense.ingest.eventkey import EventKeys

            self._keys = EventKeys(self._key)
        return self._keys


def _digests(base: Any, values: Sequence[str]) -> bytes:
    def one(v: str, copy: Callable[[], Any] = base.copy) -> bytes:
        h = copy()
        h.update(v.encode("utf-8", "surrogateescape"))
        return h.digest()

    return b"".join(map(one, values))


def _split(blob: bytes, size: int, shown: int) -> tuple[list[str], Any]:
    """Digests of `size` bytes each -> (hex of the first `shown` bytes, next 8 bytes as uint64)."""
    import numpy as np

    d = np.frombuffer(blob, dtype=np.uint8).reshape(-1, size)
    hexes = np.frombuffer(binascii.hexlify(d[:, :shown].tobytes()), dtype=f"S{2 * shown}")
    comp = np.ascontiguousarray(d[:, shown:shown + 8]).view("<u8").ravel().astype(np.uint64)
    return hexes.astype(f"U{2 * shown}").tolist(), comp
