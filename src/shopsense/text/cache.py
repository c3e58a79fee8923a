"""On-disk embedding cache keyed by a fingerprint of (model, text).

Layout of a cache folder (no pickles):
    keys.json        list of hex fingerprints, row order of vectors.npy
    vectors.npy      float32 (n, dim)
    meta.json        {"model": name, "dim": dim}
Re-encoding an unchanged catalog encodes nothing; only texts whose fingerprint is new are sent to
the encoder, in batches with a progress bar. New rows are appended and the folder rewritten
atomically (write to temp, rename), so an interrupted run never leaves a corrupt cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsense.errors import DataError


def text_key(model: str, text: str) -> str:
    return hashlib.blake2b(f"{model}\x00{text}".encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Fingerprint -> vector store for one model in one folder."""

    def __init__(self, folder: str | Path, model: str, dim: int) -> None:
        self.folder = Path(folder)
        self.model, self.dim = model, dim
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, dim), np.float32)
        self._load()

    def _load(self) -> None:
        meta_p, keys_p, vec_p = self.folder / "meta.json", self.folder / "keys.json", self.folder / "vectors.npy"
        if not meta_p.exists():
            return
        meta = json.loads(meta_p.read_text())
        if meta.get("model") != self.model or int(meta.get("dim", -1)) != self.dim:
            raise DataError(f"embedding cache {self.folder} belongs to model {meta.get('model')!r} "
                            f"(dim {meta.get('dim')}), not {self.model!r} (dim {self.dim})",
                            hint="use a separate cache folder per model, or delete this one")
        keys = json.loads(keys_p.read_text())
        vec = np.load(vec_p)
        if vec.shape != (len(keys), self.dim):
            raise DataError(f"embedding cache {self.folder} is inconsistent ({len(keys)} keys, vectors {vec.shape})",
                            hint="delete the folder; it will be rebuilt on the next run")
        self._keys, self._vectors = keys, vec.astype(np.float32, copy=False)
        self._index = {k: i for i, k in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        """Row of each key in the cache, -1 when absent."""
        return np.fromiter((self._index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

    def get_rows(self, rows: np.ndarray) -> np.ndarray:
        return self._vectors[rows]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        new = [(k, i) for i, k in enumerate(keys) if k not in self._index]
        if not new:
            return
        start = len(self._keys)
        for j, (k, _) in enumerate(new):
            self._index[k] = start + j
            self._keys.append(k)
        self._vectors = np.concatenate([self._vectors, vectors[[i for _, i in new]].astype(np.float32)])

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_v, tmp_k = self.folder / "vectors.tmp.npy", self.folder / "keys.tmp.json"
        np.save(tmp_v, self._vectors)
        tmp_k.write_text(json.dumps(self._keys))
        os.replace(tmp_v, self.folder / "vectors.npy")
        os.replace(tmp_k, self.folder / "keys.json")
        (self.folder / "meta.json").write_text(json.dumps({"model": self.model, "dim": self.dim}))


class CachedEncoder:
    """Wraps any `Encoder`: same protocol, but vectors for already-seen (model, text) pairs come
    from the on-disk cache. `stats` counts hits and misses of the last `encode` call."""

    def __init__(self, encoder, folder: str | Path, chunk: int = 4096) -> None:
        self.encoder = encoder
        self.name, self.dim = encoder.name, encoder.dim
        self.cache = EmbeddingCache(folder, encoder.name, encoder.dim)
        self.chunk = chunk  # saved after every chunk so an interrupted run resumes where it stopped
        self.stats = {"hits": 0, "misses": 0}

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        keys = [text_key(self.name, t) for t in texts]
        rows = self.cache.lookup(keys)
        missing = np.flatnonzero(rows < 0)
        # de-duplicate identical texts so each is encoded once
        todo: dict[str, int] = {}
        for i in missing:
            todo.setdefault(keys[i], int(i))
        self.stats = {"hits": int(len(texts) - len(missing)), "misses": len(todo)}
        if todo:
            order = list(todo.values())
            bar = None
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=len(order), desc=f"encoding ({self.name})", unit="text")
            for s in range(0, len(order), self.chunk):
                part = order[s:s + self.chunk]
                vec = self.encoder.encode([texts[i] for i in part], progress=False)
                self.cache.add([keys[i] for i in part], vec)
                self.cache.save()
                if bar is not None:
                    bar.update(len(part))
            if bar is not None:
                bar.close()
            rows = self.cache.lookup(keys)
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.cache.get_rows(rows)


class CachedTokens:
    """`encode_tokens` of an encoder through an on-disk cache keyed like `EmbeddingCache` (so re-indexing
    an unchanged catalog runs no transformer for token vectors either). Stored int8 (x 127: the vectors
    are unit length) as ragged segments, one per chunk of newly encoded texts:

        meta.json                {"model", "dim", "segments": [name, ...]}
        <name>.keys.json         fingerprints of the segment's texts, in order
        <name>.offsets.npy       int64 (n + 1): where each text's token rows start in <name>.tokens.npy
        <name>.tokens.npy        int8 (rows, dim), memory-mapped when read

    Nothing stored is rewritten: a new chunk is written under temporary names, renamed, then listed in
    meta.json (itself replaced atomically), so an interrupted run leaves at most an unlisted segment that the
    next one overwrites. Reads are memory-mapped, so the cache (380 MB for the 54,667 Home Depot titles) is
    not held in memory. A folder of the earlier single-array layout (keys.json, offsets.npy, tokens.npy) reads
    as its first segment."""

    def __init__(self, encoder, folder: str | Path, chunk: int = 4096) -> None:
        self.encoder, self.folder, self.chunk = encoder, Path(folder), chunk
        self.name, self.dim = encoder.name, encoder.dim
        self._segments: list[str] = []
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # (offsets, token rows) per segment
        self._index: dict[str, tuple[int, int]] = {}  # fingerprint -> (segment, position)
        if (self.folder / "meta.json").exists():
            meta = json.loads((self.folder / "meta.json").read_text())
            if meta.get("model") != self.name or int(meta.get("dim", -1)) != self.dim:
                raise DataError(f"token cache {self.folder} belongs to model {meta.get('model')!r}, not {self.name!r}",
                                hint="use a separate cache folder per model, or delete this one")
            segments = meta.get("segments")
            if segments is None:  # the single-array layout: one unnamed segment
                segments = [""] if (self.folder / "keys.json").exists() else []
            for seg in segments:
                self._open(seg)

    def _path(self, seg: str, part: str) -> Path:
        return self.folder / (f"{seg}.{part}" if seg else part)

    def _open(self, seg: str) -> None:
        keys = json.loads(self._path(seg, "keys.json").read_text())
        offsets = np.load(self._path(seg, "offsets.npy"))
        data = np.load(self._path(seg, "tokens.npy"), mmap_mode="r" if offsets[-1] else None)
        if len(offsets) != len(keys) + 1 or offsets[-1] != len(data) or data.shape[1:] != (self.dim,):
            raise DataError(f"token cache {self.folder} is inconsistent (segment {seg or 'tokens.npy'!r})",
                            hint="delete the folder; it will be rebuilt on the next run")
        p = len(self._parts)
        self._parts.append((offsets, data))
        self._segments.append(seg)
        for i, k in enumerate(keys):
            self._index[k] = (p, i)

    def _append(self, keys: list[str], lists: list[np.ndarray]) -> None:
        lens = np.array([len(t) for t in lists], np.int64)
        rows = [np.round(t * 127).astype(np.int8) for t in lists if len(t)]
        data = np.concatenate(rows) if rows else np.zeros((0, self.dim), np.int8)
        seg = f"seg-{len(self._segments):06d}"
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self._path(seg, "offsets.tmp.npy"), np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))
        np.save(self._path(seg, "tokens.tmp.npy"), data)
        self._path(seg, "keys.tmp.json").write_text(json.dumps(keys))
        for part in ("offsets.npy", "tokens.npy", "keys.json"):
            os.replace(self._path(seg, part.replace(".", ".tmp.", 1)), self._path(seg, part))
        meta = {"model": self.name, "dim": self.dim, "segments": [*self._segments, seg]}
        (self.folder / "meta.tmp.json").write_text(json.dumps(meta))
        os.replace(self.folder / "meta.tmp.json", self.folder / "meta.json")
        self._open(seg)

    def encode_tokens(self, texts: Sequence[str], *, progress: bool = False) -> list[np.ndarray]:
        keys = [text_key(self.name, t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._index))
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        for s in range(0, len(todo), self.chunk):
            part = todo[s:s + self.chunk]
            self._append(part, self.encoder.encode_tokens([texts[first[k]] for k in part], progress=progress))
        out = []
        for k in keys:
            p, i = self._index[k]
            offsets, data = self._parts[p]
            out.append(np.asarray(data[offsets[i]:offsets[i + 1]], np.float32) * (1 / 127))
        return out
