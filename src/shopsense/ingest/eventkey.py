"""Content ids for events, computed identically row by row and column-wise.

An event without an explicit id is identified by (raw user, item, type, time, value, query,
session). Such content ids are even; an id the shop gives is hashed to an odd one. The store
identifies a content-id event by (time, id) — the id already hashes the time, and a time-ordered
key makes bulk inserts appends — and a given-id event by its id alone, whatever its time (a shop
re-sending an event may re-stamp it). Each text component is hashed once per distinct value (keyed BLAKE2b, so ids reveal
nothing without the key) and the components are folded with the splitmix64 finaliser. The scalar
(`event_key`) and vectorised (`event_keys`) forms give the same 64-bit ids, so a row ingested from
JSONL and the same row from a CSV are recognised as one event.
"""

from __future__ import annotations

import hashlib
import struct
from functools import lru_cache
from typing import Sequence

import numpy as np

_MASK = (1 << 64) - 1
_NONE = 0x6A09E667F3BCC909  # stands for a missing component
NONE = _NONE
_NONE_BYTES = _NONE.to_bytes(8, "little")


def _mix_int(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix_arr(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _float_bits(v: float | None) -> int:
    return _NONE if v is None else struct.unpack("<Q", struct.pack("<d", float(v)))[0]


class EventKeys:
    def __init__(self, key: bytes) -> None:
        self._key = key[:64]
        self._blake = hashlib.blake2b(digest_size=8, key=self._key)  # keyed once, copied per value
        self.text = lru_cache(maxsize=1 << 18)(self._text)

    def _text(self, s: str | None) -> int:
        if s is None:
            return _NONE
        h = self._blake.copy()
        h.update(s.encode("utf-8", "surrogateescape"))
        return int.from_bytes(h.digest(), "little")

    def event_key(self, user: int, item: str | None, etype: int, ts: float, value: float | None,
                  query: str | None, session: int) -> int:
        """`user` / `session` are the 64-bit components from `Pseudonymizer.user_parts` /
        `session_parts` (`NONE` for no session); item and query are hashed here."""
        h = 0
        for comp in (user, self.text(item), etype, _float_bits(ts), _float_bits(value),
                     self.text(query), session):
            h = _mix_int((h ^ comp) & _MASK)
        h &= ~1  # even: a content id (see the module docstring)
        return h - (1 << 64) if h >= (1 << 63) else h

    def given_key(self, given: str) -> int:
        h = _mix_int(self.text("id:" + str(given))) | 1  # odd: an id the shop gave
        return h - (1 << 64) if h >= (1 << 63) else h

    def texts(self, values: Sequence[str | None]) -> np.ndarray:
        """`text` of many distinct values at once: one keyed hash each (the ingest path remembers
        items and queries across blocks itself, columnar._Memo)."""
        copy = self._blake.copy

        def one(v: str | None) -> bytes:
            if v is None:
                return _NONE_BYTES
            h = copy()
            h.update(v.encode("utf-8", "surrogateescape"))
            return h.digest()

        return np.frombuffer(b"".join(map(one, values)), dtype="<u8").astype(np.uint64)

    def event_keys(self, user: np.ndarray, item: np.ndarray, etype: np.ndarray, ts: np.ndarray,
                   value: np.ndarray, query: np.ndarray, session: np.ndarray) -> np.ndarray:
        """Vectorised `event_key`: text components given as uint64 hashes (from `texts`), `etype`
        as ints, `ts`/`value` as float64 with NaN for a missing value."""
        vbits = value.astype(np.float64).view(np.uint64).copy()
        vbits[np.isnan(value)] = np.uint64(_NONE)
        h = np.zeros(len(user), dtype=np.uint64)
        for comp in (user, item, etype.astype(np.uint64), ts.astype(np.float64).view(np.uint64), vbits, query, session):
            h = _mix_arr(h ^ comp)
        return (h & ~np.uint64(1)).view(np.int64)
