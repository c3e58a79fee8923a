"""Personal recommenders: CF through `implicit` (ALS/BPR) and the sequential, text-fused SASRec.

torch and implicit are imported inside methods only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.errors import ConfigError, DataError
from shopsense.recommend.base import Context, Recommender
from shopsense.recommend.config import CFConfig, SequentialConfig
from shopsense.types import EVENT_CODES, EVENT_NAMES, Dataset


def _event_weights(weights: dict[str, float], types: np.ndarray) -> np.ndarray:
    unknown = set(weights) - set(EVENT_NAMES)
    if unknown:
        raise ConfigError(f"unknown event types in event_weights: {sorted(unknown)} — use {EVENT_NAMES}")
    table = np.array([float(weights.get(n, 0.0)) for n in EVENT_NAMES])
    return table[types.astype(np.int64)]


class CFRecommender(Recommender):
    """Matrix factorisation on event-type-weighted implicit feedback (purchase > cart > click > view)."""

    kind = "cf"
    config_cls = CFConfig

    @property
    def source(self) -> str:  # type: ignore[override]
        return self.config.algorithm

    def _fit(self, dataset: Dataset) -> None:
        from shopsense.recommend.cf import fit_factors, weighted_matrix

        ev = dataset.events
        m = ev.item >= 0
        w = _event_weights(self.config.event_weights, ev.type[m])
        mat = weighted_matrix(ev.user[m], ev.item[m], w, dataset.n_users, dataset.n_items)
        if mat.nnz == 0:
            raise DataError("no weighted item events to train on", hint="check recommend.cf.event_weights")
        self.user_factors, self.item_factors = fit_factors(mat, self.config)

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        from shopsense.recommend.cf import fold_in

        out: list[tuple[np.ndarray, dict[str, Any]] | None] = []
        for ctx in contexts:
            if ctx.user >= 0 and len(ctx.history):
                u, how = self.user_factors[ctx.user], "user factors"
            elif len(ctx.history):
                w = np.full(len(ctx.history), self.config.event_weights.get("view", 1.0) or 1.0)
                u, how = fold_in(self.item_factors, ctx.history, w, self.config), "folded-in session"
            else:
                out.append(None)
                continue
            out.append((self.item_factors @ u, {"source": self.source, "via": how}))
        return out

    def _save_state(self, path: Path) -> dict[str, Any]:
        from shopsense.recommend.persist import save_npy

        save_npy(path, "user_factors", self.user_factors)
        save_npy(path, "item_factors", self.item_factors)
        return {}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        from shopsense.recommend.persist import load_npy

        self.user_factors, self.item_factors = load_npy(path, "user_factors"), load_npy(path, "item_factors")


class SequentialRecommender(Recommender):
    """SASRec-style transformer whose item vectors fuse an ID embedding with text (see sasrec_net)."""

    kind = "sequential"
    source = "sequential"
    config_cls = SequentialConfig

    def __init__(self, config: SequentialConfig | None = None, *, exclude_seen: bool = True, encoder=None,
                 text_config=None, progress: bool = True) -> None:
        super().__init__(config, exclude_seen=exclude_seen)
        self._encoder, self._text_config, self.progress = encoder, text_config, progress
        self.train_result = None

    def _features(self, dataset: Dataset):
        from shopsense.recommend.features import attribute_csr, has_attribute_ids, text_embeddings
        from shopsense.recommend.sasrec_net import ItemFeatures

        kind = self.config.text_features
        if kind == "auto":
            kind = "attributes" if has_attribute_ids(dataset.items) else "encoder"
        self.feature_kind, self.attr_vocab = kind, []
        if kind == "none":
            return None
        if kind == "attributes":
            flat, off, self.attr_vocab = attribute_csr(dataset.items)
            feats = ItemFeatures(attr_index=flat, attr_offsets=off, n_attrs=len(self.attr_vocab))
        else:
            enc = self._encoder
            if enc is None:
                from shopsense.text.encoder import get_encoder

                enc = get_encoder(self._text_config)
            feats = ItemFeatures(text=text_embeddings(dataset.items, enc, progress=self.progress))
        if self.config.content_channel:
            from shopsense.recommend.features import content_vectors

            feats.content = content_vectors(feats.text, feats.attr_index, feats.attr_offsets, feats.n_attrs,
                                            self.config.content_dim)
        return feats

    def _build(self, feats):
        from shopsense.recommend.sasrec_net import SASRecNet

        c = self.config
        return SASRecNet(self.n_items, c.dim, c.max_len, c.n_layers, c.n_heads, c.dropout, c.use_id, feats,
                         cold_id=c.cold_id, content_window=c.content_window)

    def _fit(self, dataset: Dataset) -> None:
        import torch

        from shopsense.evaluate.seq_eval import evaluate_full_ranking
        from shopsense.recommend.sasrec_net import TrainConfig, train_net
        from shopsense.recommend.sequential import fit_unseen_bias, impute_unseen_ids, mark_unseen_items, net_scores

        c = self.config
        torch.manual_seed(c.seed)
        seqs = [s for s in dataset.user_sequences(c.event_types) if len(s) >= 2]
        if not seqs:
            raise DataError("no user has two or more item events: a sequential model cannot be trained",
                            hint="ingest more events or use the trending recommender")
        self.net = self._build(self._features(dataset))
        validate, train, vh, vt = None, seqs, [], np.zeros(0, np.int64)
        if c.holdout_last:  # last item of each long-enough history: validation for early stopping only
            val_users = [s for s in seqs if len(s) >= 3]
            if val_users:
                train = [s[:-1] if len(s) >= 3 else s for s in seqs]
                vh, vt = [s[:-1] for s in val_users], np.array([s[-1] for s in val_users])

                def validate(net):
                    return evaluate_full_ranking(lambda h: net_scores(net, h), vh, vt, ks=(10,))["NDCG@10"]
        mark_unseen_items(self.net, train)
        tcfg = TrainConfig(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr, weight_decay=c.weight_decay,
                           loss=c.loss, n_negatives=c.n_negatives, align_alpha=c.align_alpha, id_dropout=c.id_dropout,
                           text_loss=c.text_loss,
                           patience=c.patience, time_budget_s=c.time_budget_minutes * 60, seed=c.seed)
        self.train_result = train_net(self.net, train, tcfg, validate=validate, progress=self.progress)
        seen = mark_unseen_items(self.net, train)
        self.calibration = None
        if c.calibrate_unseen and len(vt):  # items whose only events are validation targets are unseen in training
            self.calibration = fit_unseen_bias(self.net, vh, vt, c.calibrate_tolerance)
        if c.impute_unseen:  # brand-new items get an ID vector predicted from their text / attributes
            impute_unseen_ids(self.net, seen)

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        from shopsense.recommend.sequential import net_scores

        idx = [i for i, ctx in enumerate(contexts) if len(ctx.history)]
        out: list[tuple[np.ndarray, dict[str, Any]] | None] = [None] * len(contexts)
        if idx:
            scores = net_scores(self.net, [contexts[i].history for i in idx])
            reason = {"source": self.source, "fused": self.feature_kind}
            for j, i in enumerate(idx):
                out[i] = (scores[j], {**reason, "history_len": int(len(contexts[i].history))})
        return out

    def _explain(self, ctx: Context, item_rows: np.ndarray, reason: dict[str, Any]) -> list[dict[str, Any]]:
        out = super()._explain(ctx, item_rows, reason)
        if self.feature_kind != "none" and reason.get("source") == self.source:  # items never seen in training were ranked from their text alone
            new = self.net.id_mask[:, 0].numpy()[item_rows] == 0
            for r, is_new in zip(out, new):
                if is_new:
                    r["new_item"] = "never seen in training: scored from its text"
        return out

    def _save_state(self, path: Path) -> dict[str, Any]:
        import torch

        from shopsense.recommend.persist import save_npy

        feats = {}
        if self.net.attr_emb is not None:
            save_npy(path, "attr_index", self.net.attr_index.numpy())
            save_npy(path, "attr_offsets", self.net.attr_offsets.numpy())
            feats["n_attrs"] = int(self.net.attr_emb.weight.shape[0])
            (path / "attributes.json").write_text(json.dumps(self.attr_vocab))
        if self.net.text is not None:
            save_npy(path, "text_emb", self.net.text.numpy())
        if self.net.content is not None:
            save_npy(path, "content", self.net.content.numpy())
        torch.save(self.net.state_dict(), path / "net.pt")
        res = self.train_result
        return {"feature_kind": self.feature_kind, "features": feats,
                "train": None if res is None else {"best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                                                   "best_valid_ndcg10": res.best_valid_ndcg10,
                                                   "wall_s": round(res.wall_s, 1), "stopped": res.stopped},
                "calibration": getattr(self, "calibration", None)}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        import torch

        from shopsense.recommend.persist import load_npy
        from shopsense.recommend.sasrec_net import ItemFeatures

        self.feature_kind = meta["feature_kind"]
        f = ItemFeatures()
        if "n_attrs" in meta["features"]:
            f = ItemFeatures(attr_index=load_npy(path, "attr_index"), attr_offsets=load_npy(path, "attr_offsets"),
                             n_attrs=meta["features"]["n_attrs"])
            self.attr_vocab = json.loads((path / "attributes.json").read_text())
        if (path / "text_emb.npy").exists():
            f.text = load_npy(path, "text_emb")
        if (path / "content.npy").exists():
            f.content = load_npy(path, "content")
        self.net = self._build(f if (f.has_text or f.has_attrs) else None)
        state = torch.load(path / "net.pt", weights_only=True)
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if unexpected or set(missing) - {"id_null", "unseen_bias"}:  # older folders lack these (= zero)
            raise DataError(f"model state does not match the config: missing {missing}, unexpected {unexpected}",
                            source=str(path), hint="retrain with `shopsense train`")
        self.net.eval()
