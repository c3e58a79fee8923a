"""Encode search queries with ONNX Runtime instead of eager torch.

A search query is one short text encoded per request. For that shape eager PyTorch spends most of its
time in per-operator overhead: all-MiniLM-L6-v2 took p50 14 ms for a 1–4 word query on one idle core,
the same network exported to ONNX and run by ONNX Runtime 5 ms, same vectors (cosine 1.0 to 1e-6).
So the *query* path of a MiniLM encoder runs through ONNX Runtime; item (batch) encoding stays on
torch, where batching already amortises the overhead.

`OnnxQueryEncoder` wraps whatever sentence-transformers model the MiniLM encoder loaded (packaged or
fine-tuned), exports its transformer once with `torch.onnx.export` (no download; cached as
``<cache_dir>/<name>.onnx`` when a folder is given) and reproduces the model's head: attention-masked
mean pooling and L2 normalisation. It has the wrapped encoder's `name` and `dim`, so caches and saved
indexes keyed by the encoder name stay valid: the vectors are the same up to float rounding (a test
checks it).

With ``precision="int8"`` the exported network is also quantised once, dynamically (ONNX Runtime's
`quantize_dynamic`: int8 weights per output channel, activations quantised per call) — only the weight
MatMuls; the two attention MatMuls multiply activations by activations and stay float. On the benchmark
machine a one-query encode takes 1.5–1.8 ms instead of 3.8–4.4 (p50, one thread, 400 Home Depot test
queries, idle); the vectors move a little (cosine to fp32 0.993 mean, 0.976 min on those queries;
per-tensor scales gave ~0.965 on a few short ones, so per-channel it is). On Home
Depot test judgments (benchmarks/results/search.md) the fine-tuned dense retriever read NDCG@10 0.3233
vs 0.3245 and the full pipeline 0.4476 vs 0.4481, inside the run-to-run spread. Item vectors are never
quantised: only the query side of the comparison moves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsense.errors import ModelLoadError

log = logging.getLogger(__name__)

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _quantize(src: Path, path: Path) -> None:
    """int8 copy of the exported network at `path` (atomically): weight MatMuls only, per channel.

    The quantiser writes a shape-inferred copy *beside its input* under a fixed name and deletes it
    afterwards, so two worker processes quantising at once would delete each other's file: each
    works on its own copy of the input in a private folder, and the result is moved into place."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src)).graph
    weights = {i.name for i in graph.initializer}
    keep_float = [n.name for n in graph.node if n.op_type == "MatMul" and not weights.intersection(n.input)]
    root = logging.getLogger()
    was = root.disabled
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".quantise-") as work:
        mine = Path(work) / "fp32.onnx"
        shutil.copyfile(src, mine)
        try:
            root.disabled = True  # the quantiser logs "consider pre-processing" on the root logger every time
            quantize_dynamic(str(mine), str(Path(work) / "int8.onnx"), op_types_to_quantize=["MatMul"],
                             per_channel=True, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)
        finally:
            root.disabled = was
        os.replace(Path(work) / "int8.onnx", path)


def _built(path: Path, build, what: str, hint: str) -> Path:
    """`path`, made by `build(path)` first unless it exists (exports are cached across processes)."""
    if not path.exists():
        try:
            build(path)
        except Exception as e:  # noqa: BLE001 - exporter and quantiser failures come in many types
            raise ModelLoadError(f"{what} failed ({e}): {hint}") from e
    return path


def _export(auto_model, path: Path) -> None:
    """Export the transformer (inputs ids / mask / type ids → last hidden state) to `path`, atomically."""
    import torch

    class _Hidden(torch.nn.Module):  # positional inputs, one tensor out: what the exporter wants
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, ids, mask, types):
            return self.net(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    x = torch.ones(1, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "seq"} for n in (*_INPUTS, "hidden")}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shape-dependent Python branches: checked by a test
            torch.onnx.export(_Hidden(auto_model).eval(), (x, x, torch.zeros_like(x)), tmp, input_names=list(_INPUTS),
                              output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class OnnxQueryEncoder:
    """Query-time encoder: ONNX Runtime for up to `max_batch` texts, the wrapped encoder beyond."""

    def __init__(self, encoder, cache_dir: str | Path | None = None, threads: int = 1, max_batch: int = 16,
                 precision: str = "fp32") -> None:
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be 'fp32' or 'int8', not {precision!r}")
        try:
            import onnxruntime as ort
            st = encoder._model  # the SentenceTransformer the MiniLM encoder loaded
            net = st[0].auto_model
            self._tokenizer = st.tokenizer
        except (ImportError, AttributeError, TypeError) as e:
            raise ModelLoadError(f"no ONNX query path for encoder {getattr(encoder, 'name', encoder)!r} ({e}): "
                                 "install the 'ml' extra, or set search.query_runtime = 'torch'") from e
        self.name, self.dim, self.max_batch = encoder.name, encoder.dim, max_batch
        self._inner = encoder
        self._max_len = int(st.max_seq_length)
        self._fast = _fast_tokenizer(self._tokenizer, self._max_len)
        digest = hashlib.blake2b(f"{encoder.name}|{type(net).__name__}|{net.config.to_json_string()}".encode(),
                                 digest_size=8).hexdigest()
        folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "shopsense-onnx"
        path = folder / f"{encoder.name.replace('/', '_')}-{digest}.onnx"
        path = _built(path, lambda p: _export(net, p), f"exporting {encoder.name} to ONNX",
                      "install the 'ml' extra (it has onnx), or set search.query_runtime = 'torch'")
        if precision == "int8":
            fp32 = path
            path = _built(path.with_name(path.stem + "-int8.onnx"), lambda p: _quantize(fp32, p),
                          f"quantising {encoder.name} to int8", "set search.query_precision = 'fp32'")
        self.precision = precision
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.path = path

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), np.float32)
        if len(texts) > self.max_batch:
            return self._inner.encode(texts, progress=progress)
        return self.encode_with_tokens(texts)[0]

    def encode_tokens(self, texts: Sequence[str], *, progress: bool = False) -> list[np.ndarray]:
        """As `MiniLMEncoder.encode_tokens` (the re-ranker's soft term match), through ONNX Runtime."""
        if len(texts) > self.max_batch or len(texts) == 0:
            return self._inner.encode_tokens(texts, progress=progress)
        return self.encode_with_tokens(texts)[1]

    def encode_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode` and `encode_tokens` from one pass of the network (a query needs both when the
        re-ranker reads token vectors)."""
        if len(texts) > self.max_batch or len(texts) == 0:
            return self._inner.encode(texts), self._inner.encode_tokens(texts)
        hidden, mask = self._hidden(texts)
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        toks = []
        for h, n in zip(hidden, mask.sum(1).tolist()):
            t = h[1:max(1, n - 1)].astype(np.float32)
            toks.append(t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12))
        return pooled.astype(np.float32), toks

    def _hidden(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if self._fast is not None:
            enc = self._fast.encode_batch(list(texts))
            ids = np.array([e.ids for e in enc], np.int64)
            mask = np.array([e.attention_mask for e in enc], np.int64)
            types = np.array([e.type_ids for e in enc], np.int64)
        else:
            batch = self._tokenizer(list(texts), padding=True, truncation=True, max_length=self._max_len,
                                    return_tensors="np")
            ids = batch["input_ids"].astype(np.int64)
            mask = batch["attention_mask"].astype(np.int64)
            types = batch.get("token_type_ids")
            types = np.zeros_like(ids) if types is None else types.astype(np.int64)
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0], mask


def _fast_tokenizer(tokenizer, max_len: int):
    """The Rust tokenizer behind a transformers "fast" tokenizer, set to truncate and pad like the
    wrapper's call: a third of its per-query cost (0.12 vs 0.4 ms), same ids (the vectors test checks
    it). None when the tokenizer has no Rust backend; the wrapper is used then."""
    import copy

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    fast = copy.deepcopy(backend)  # the transformers wrapper re-configures its own backend per call
    fast.enable_truncation(max_len)
    fast.enable_padding(pad_id=tokenizer.pad_token_id or 0, pad_token=tokenizer.pad_token or "[PAD]")
    return fast


def query_encoder(encoder, runtime: str, cache_dir: str | Path | None = None, threads: int = 1,
                  precision: str = "fp32"):
    """The encoder search queries go through: `encoder` itself, or its ONNX query path (fp32 or int8)
    when runtime == 'onnx' and the encoder is a transformer. Falls back to `encoder` with a warning when
    ONNX is unavailable, so a missing optional package slows search down but never breaks it."""
    if runtime != "onnx" or not hasattr(encoder, "_model"):
        return encoder
    for p in dict.fromkeys((precision, "fp32")):  # int8 failing falls back to fp32 ONNX, then to torch
        try:
            return OnnxQueryEncoder(encoder, cache_dir, threads, precision=p)
        except ModelLoadError as e:
            log.warning("%s — %s", e, "trying fp32" if p != "fp32" else "queries are encoded with torch")
    return encoder


def encode_with_tokens(encoder, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors and token vectors of `texts`: one network pass on the ONNX path, two otherwise."""
    if hasattr(encoder, "encode_with_tokens"):
        return encoder.encode_with_tokens(texts)
    return encoder.encode(texts), encoder.encode_tokens(texts)


class WithTokens:
    """For the server's query batcher: `encode(texts)` gives each text's (vector, token vectors) from the
    engine's current query encoder, in one pass."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def encode(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        vecs, toks = encode_with_tokens(self.engine.query_encoder, texts)
        return list(zip(vecs, toks))
