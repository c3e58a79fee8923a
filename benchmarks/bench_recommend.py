"""Recommendation benchmark: leave-one-out, full ranking over all items, HR/NDCG@10/@20.

    .venv/bin/python benchmarks/bench_recommend.py --dataset Beauty [--cold-start] [--models pop,als,id,fused]

Datasets: Beauty, Sports_and_Outdoors (amazon-seq, attribute ids as item "text") and Scientific
(amazon-text, real titles through all-MiniLM-L6-v2). In one run: popularity, ALS (implicit), ID-only
SASRec and fused SASRec (ours), trained on the training part, early-stopped on the validation item,
scored once on the test item. With --cold-start: 10% of items are removed from training entirely
(from every history and from the training softmax); HR@10 is reported for the test users whose target is
such an item, ID-only vs fused. Writes benchmarks/out/recommend_<dataset>[_cold].json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = Path(__file__).resolve().parent / "out"


def log(msg: str) -> None:
    print(f"[{datetime.now(timezone.utc):%H:%M:%S}] {msg}", flush=True)


def load(name: str):
    from shopsense.ingest.adapters import load_amazon_seq, load_amazon_text

    return load_amazon_text() if name == "Scientific" else load_amazon_seq(name)


def features_for(name: str, items, kind: str):
    from shopsense.recommend.features import attribute_csr, text_embeddings
    from shopsense.recommend.sasrec_net import ItemFeatures

    if kind == "none":
        return None
    if kind == "attributes":
        flat, off, vocab = attribute_csr(items)
        return ItemFeatures(attr_index=flat, attr_offsets=off, n_attrs=len(vocab))
    cache = OUT / f"emb_{name}_minilm.npy"
    if cache.exists():
        emb = np.load(cache)
    else:
        from shopsense.text.config import TextConfig
        from shopsense.text.encoder import get_encoder

        t0 = time.time()
        emb = text_embeddings(items, get_encoder(TextConfig(encoder="minilm")), progress=True)
        OUT.mkdir(parents=True, exist_ok=True)
        np.save(cache, emb)
        log(f"encoded {len(items)} item texts with MiniLM in {time.time() - t0:.0f}s")
    return ItemFeatures(text=emb)


def text_only_scorer(name: str, items, kind: str, last: int = 10):
    """Simple text-only baseline: cosine between the mean side vector of the last `last` history items and
    every item (MiniLM titles on Scientific; IDF-weighted attribute bags on amazon-seq)."""
    import scipy.sparse as sp

    from shopsense.recommend.features import attribute_csr

    if kind == "encoder":
        emb = features_for(name, items, "encoder").text
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    else:
        flat, off, vocab = attribute_csr(items)
        ends = np.append(off[1:], len(flat))
        rows = np.repeat(np.arange(len(items)), ends - off)
        m = sp.csr_matrix((np.ones(len(flat)), (rows, flat)), shape=(len(items), len(vocab)))
        idf = np.log(len(items) / (1.0 + np.asarray((m > 0).sum(0)).ravel()))
        m = m.multiply(idf).tocsr()
        norm = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
        emb = sp.diags(1.0 / np.maximum(norm, 1e-12)) @ m

    def score(hist):
        out = np.zeros((len(hist), len(items)), np.float32)
        for i, h in enumerate(hist):
            q = emb[np.asarray(h)[-last:]].mean(0)
            out[i] = np.asarray(emb @ np.asarray(q).ravel()).ravel()
        return out

    return score


def run_sasrec(label, n_items, train, valid, feats, cfg_over, catalog_mask=None, valid_users=0, impute=False,
               fit_bias=False, calib_tol=0.01):
    import torch

    from shopsense.evaluate.seq_eval import evaluate_full_ranking
    from shopsense.recommend.sasrec_net import SASRecNet, TrainConfig, train_net
    from shopsense.recommend.sequential import fit_unseen_bias, impute_unseen_ids, mark_unseen_items, net_scores

    torch.manual_seed(0)
    arch = {k: cfg_over.pop(k) for k in ("dim", "max_len", "n_layers", "n_heads", "dropout", "cold_id") if k in cfg_over}
    net = SASRecNet(n_items, features=feats, **arch)
    tcfg = TrainConfig(**cfg_over)

    # early stopping on the validation item only (a fixed random subset of users when valid_users > 0,
    # to keep each evaluation short on 2 cores); the test item is never looked at during training
    vidx = np.arange(len(train))
    if 0 < valid_users < len(train):
        vidx = np.sort(np.random.default_rng(1).choice(len(train), valid_users, replace=False))
    vhist, vtgt = [train[i] for i in vidx], valid[vidx]

    def validate(m):
        return evaluate_full_ranking(lambda h: net_scores(m, h), vhist, vtgt, ks=(10,))["NDCG@10"]

    mark_unseen_items(net, train)
    t0 = time.time()
    res = train_net(net, train, tcfg, validate=validate, catalog_mask=catalog_mask, progress=False,
                    log=lambda s: log(f"{label}{s}"))
    seen = mark_unseen_items(net, train)
    res.calibration = None
    if fit_bias:  # logit boost of never-seen items, chosen on ALL validation users (never on test)
        res.calibration = fit_unseen_bias(net, train, valid, calib_tol)
        log(f"{label}: unseen-item bias {res.calibration}")
    if impute:
        log(f"{label}: imputed ID vectors of {impute_unseen_ids(net, seen)} unseen items from their side part")
    log(f"{label}: best epoch {res.best_epoch} valid NDCG@10 {res.best_valid_ndcg10:.4f} "
        f"({res.epochs_run} epochs, {res.stopped}) in {time.time() - t0:.0f}s")
    return net, res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="Beauty")
    ap.add_argument("--models", default="pop,als,id,fused")
    ap.add_argument("--cold-start", action="store_true")
    ap.add_argument("--cold-frac", type=float, default=0.1)
    ap.add_argument("--cold-valid", action="store_true",
                    help="cold items may also be the validation target (reported as valid cold-* figures, used to "
                         "choose cold-start settings without looking at test); they stay out of training")
    ap.add_argument("--cold-id", default="zero", choices=["zero", "learned"],
                    help="fused model: ID vector of items without one (unseen / dropped)")
    ap.add_argument("--content", action="store_true",
                    help="fused model: content channel (cosine of fixed text/attribute vectors to the recent history)")
    ap.add_argument("--fit-unseen-bias", action="store_true",
                    help="fused model: after training, fit the logit boost of never-seen items on validation")
    ap.add_argument("--calib-tol", type=float, default=0.01,
                    help="relative validation NDCG@10 the fitted new-item boost may cost")
    ap.add_argument("--text-loss", type=float, default=0.0,
                    help="fused model: weight of the extra softmax over the text-only item table")
    ap.add_argument("--budget-min", type=float, default=12.0, help="training wall-time cap per SASRec model")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--id-dropout", type=float, default=0.1, help="fused model only")
    ap.add_argument("--align", type=float, default=0.0, help="alpha of the alignment term, fused model only")
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--tag", default="")
    ap.add_argument("--impute", action="store_true",
                    help="fused model: after training, predict ID vectors of unseen items from their side part")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per training process; with --parallel the two SASRec models train in two "
                         "1-thread processes at once (measured faster than one 2-thread process on the busy box)")
    ap.add_argument("--parallel", action="store_true", help="train ID-only and fused SASRec in two processes at once")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--valid-users", type=int, default=6000, help="validation subset size for early stopping (0 = all)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from shopsense.evaluate.seq_eval import cold_item_split, evaluate_full_ranking, loo_split, rank_targets, summarize
    from shopsense.recommend.cf import fit_factors, sequences_matrix
    from shopsense.recommend.config import CFConfig
    from shopsense.recommend.sequential import net_scores

    t_start = time.time()
    data = load(args.dataset)
    n_items = data.dataset.n_items
    seqs = data.sequences
    cold = None
    if args.cold_start:
        cold, seqs = cold_item_split(seqs, n_items, args.cold_frac, seed=0, keep_last=2 if args.cold_valid else 1)
    train, valid, test, _ = loo_split(seqs)
    test_hist = [np.concatenate([t, [v]]) for t, v in zip(train, valid)]
    cold_users = np.flatnonzero(cold[test]) if cold is not None else None
    cold_valid_users = np.flatnonzero(cold[valid]) if cold is not None else np.zeros(0, np.int64)
    catalog = None if cold is None else ~cold
    log(f"{args.dataset}: {len(train)} users, {n_items} items, {sum(len(s) for s in seqs)} interactions"
        + (f"; cold items {int(cold.sum())}, cold test users {len(cold_users)}" if cold is not None else ""))

    results: dict[str, dict] = {}

    def report(label, score_fn, wall, per_user_state=False):
        ranks = rank_targets(score_fn, test_hist, test)
        r = summarize(ranks)
        r["train_wall_s"] = round(wall, 1)
        if cold_users is not None:
            r["cold_HR@10"] = float(np.mean(ranks[cold_users] < 10)) if len(cold_users) else 0.0
            r["cold_NDCG@10"] = summarize(ranks[cold_users])["NDCG@10"]
            r["cold_n_users"] = int(len(cold_users))
            r["cold_HR@100"] = float(np.mean(ranks[cold_users] < 100)) if len(cold_users) else 0.0
            r["cold_median_rank"] = float(np.median(ranks[cold_users])) if len(cold_users) else 0.0
            r["cold_HR@20"] = float(np.mean(ranks[cold_users] < 20)) if len(cold_users) else 0.0
        if len(cold_valid_users) and not per_user_state:  # the same figures on cold *validation* targets (what settings are chosen on)
            vr = rank_targets(score_fn, [train[i] for i in cold_valid_users], valid[cold_valid_users])
            r.update({"valid_cold_n_users": int(len(vr)), "valid_cold_HR@10": float(np.mean(vr < 10)),
                      "valid_cold_NDCG@10": summarize(vr)["NDCG@10"], "valid_cold_HR@20": float(np.mean(vr < 20)),
                      "valid_cold_median_rank": float(np.median(vr))})
        results[label] = r
        log(f"{label}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))

    models = args.models.split(",")
    children = []
    if args.parallel:
        import subprocess

        for m in [m for m in ("id", "fused") if m in models]:
            argv, skip = [], False
            for a in sys.argv[1:]:  # the child gets the same arguments, minus --parallel/--models/--tag
                if skip:
                    skip = False
                elif a in ("--models", "--tag"):
                    skip = True
                elif a != "--parallel":
                    argv.append(a)
            cmd = [sys.executable, __file__, *argv, "--models", m, "--tag", f"{args.tag}_part_{m}"]
            children.append((m, subprocess.Popen(cmd)))
        models = [m for m in models if m not in ("id", "fused")]
    if "pop" in models:
        t0 = time.time()
        counts = np.bincount(np.concatenate(test_hist), minlength=n_items).astype(np.float64)
        report("Popularity", lambda h: np.tile(counts, (len(h), 1)), time.time() - t0)
    if "als" in models:
        t0 = time.time()
        cfg = CFConfig(factors=64, regularization=0.05, iterations=20, alpha=10.0)
        # the test history (train + valid item) is each user's known profile; hyper-parameters fixed, not tuned
        uf, itf = fit_factors(sequences_matrix(test_hist, n_items), cfg)
        if catalog is not None:
            itf = itf * catalog[:, None]  # the CF model never saw the cold items: zero factors
        wall = time.time() - t0
        report("ALS (implicit)", lambda h, _c=[0]: _als_batch(uf, itf, h, _c), wall, per_user_state=True)
    if "text" in models:
        kind = "encoder" if args.dataset == "Scientific" else "attributes"
        t0 = time.time()
        fn = text_only_scorer(args.dataset, data.dataset.items, kind)
        report(f"Text-only cosine ({'MiniLM text' if kind == 'encoder' else 'attribute bags'})", fn, time.time() - t0)
    sas_common = dict(dim=64, max_len=50, n_layers=2, n_heads=1, dropout=args.dropout, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, patience=args.patience, time_budget_s=args.budget_min * 60)
    if "id" in models:
        net, res = run_sasrec("SASRec ID-only", n_items, train, valid, None, dict(sas_common), catalog, args.valid_users)
        report("SASRec ID-only (ours)", lambda h: net_scores(net, h), res.wall_s)
        results["SASRec ID-only (ours)"].update(best_epoch=res.best_epoch, epochs_run=res.epochs_run,
                                                valid_ndcg10=res.best_valid_ndcg10)
    if "fused" in models:
        kind = "encoder" if args.dataset == "Scientific" else "attributes"
        feats = features_for(args.dataset, data.dataset.items, kind)
        if args.content:
            from shopsense.recommend.features import content_vectors

            feats.content = content_vectors(feats.text, feats.attr_index, feats.attr_offsets, feats.n_attrs)
        net, res = run_sasrec("SASRec fused", n_items, train, valid, feats,
                              dict(sas_common, id_dropout=args.id_dropout, align_alpha=args.align,
                                   cold_id=args.cold_id, text_loss=args.text_loss), catalog,
                              args.valid_users, impute=args.impute, fit_bias=args.fit_unseen_bias,
                              calib_tol=args.calib_tol)
        label = f"SASRec fused ({'MiniLM text' if kind == 'encoder' else 'attributes'}) (ours)"
        if res.calibration and res.calibration["bias"] != 0.0:  # the same model without the new-item boost
            boost = float(net.unseen_bias)
            net.unseen_bias.fill_(0.0)
            report(label + " without new-item boost", lambda h: net_scores(net, h), res.wall_s)
            net.unseen_bias.fill_(boost)
        report(label, lambda h: net_scores(net, h), res.wall_s)
        results[label].update(best_epoch=res.best_epoch, epochs_run=res.epochs_run, valid_ndcg10=res.best_valid_ndcg10,
                              calibration=res.calibration,
                              content_gain=None if net.content_gain is None else float(net.content_gain.detach()))

    for m, proc in children:
        if proc.wait() != 0:
            log(f"child for {m} failed")
            continue
        part = OUT / f"recommend_{args.dataset}{'_cold' if args.cold_start else ''}{args.tag}_part_{m}.json"
        results.update(json.loads(part.read_text())["results"])
    meta = {"dataset": args.dataset, "cold_start": args.cold_start, "args": vars(args),
            "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
            "load_avg_at_end": os.getloadavg(),
            "torch": torch.__version__, "total_wall_s": round(time.time() - t_start, 1), "results": results}
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"recommend_{args.dataset}{'_cold' if args.cold_start else ''}{args.tag}.json"
    out.write_text(json.dumps(meta, indent=2))
    print("\n| model | HR@10 | NDCG@10 | HR@20 | NDCG@20 | train wall s |" + (" cold HR@10 |" if cold is not None else ""))
    print("|---|---|---|---|---|---|" + ("---|" if cold is not None else ""))
    for k, r in results.items():
        print(f"| {k} | {r['HR@10']:.4f} | {r['NDCG@10']:.4f} | {r['HR@20']:.4f} | {r['NDCG@20']:.4f} | {r['train_wall_s']} |"
              + (f" {r['cold_HR@10']:.4f} |" if cold is not None else ""))
    log(f"wrote {out}")
    return 0


def _als_batch(uf, itf, hist, _c):
    # users are scored in order, so the batch's user rows follow a running counter
    start = _c[0]
    _c[0] += len(hist)
    return uf[start:start + len(hist)] @ itf.T


PUBLISHED = {  # S3-Rec paper, all-items table (from shared/README.md)
    "Beauty": {"PopRec": (0.0152, 0.0068, 0.0217, 0.0084), "SASRec": (0.0605, 0.0318, 0.0902, 0.0394),
               "S3-Rec": (0.0647, 0.0327, 0.0994, 0.0414)},
    "Sports_and_Outdoors": {"PopRec": (0.0094, 0.0053, 0.0192, 0.0078), "SASRec": (0.0350, 0.0192, 0.0507, 0.0231),
                            "S3-Rec": (0.0385, 0.0204, 0.0607, 0.0260)},
}


NOTES = [
    "## Protocol notes", "",
    "- Same protocol for every model: train = all but the last two items, validation = second-to-last "
    "(early stopping for SASRec, on a fixed random subset of validation users), test = last item, history "
    "(train + validation item) removed from the ranking, full ranking over all items.",
    "- Popularity counts and ALS are fitted on each user's test history (train + validation item), the same "
    "information SASRec reads at test time; ALS hyper-parameters are fixed (64 factors, reg 0.05, 20 iterations, "
    "alpha 10), not tuned.",
    "- SASRec (ours): 2 layers, 1 head, hidden 64, max_len 50, full-softmax cross-entropy at every position "
    "(= every prefix), Adam. Fused = ID embedding + mean of learned attribute embeddings (amazon-seq: the files "
    "carry attribute ids, no titles) or + a linear projection of all-MiniLM-L6-v2 title embeddings (Scientific).",
    "- Training was capped by a wall-time budget on a shared 2-core machine (load average ~8-12 from other "
    "work): the models stopped at the budget while validation NDCG was still rising, so the figures are "
    "under-trained, not converged. 'train wall s' is the training time of one model.",
    "- Sports: in the 4-model run both SASRec models trained at once under a 15-min cap on a heavily loaded box "
    "and stopped after 3 epochs; run `_fused_27min` re-trained the fused model alone (same settings and seed) "
    "with a 27-min cap, and it stopped early on validation (no gain for 3 epochs) after about 19 minutes. "
    "No ID-only model was re-trained with the longer cap, so that run compares only against the published figures.",
    "- Cold start: 10% of items (seed 0) removed from every training history and from the training softmax; the "
    "test target is kept, so 'cold-target users' are test users whose next item was never seen in training.",
    "- Runs tagged `_cv*` (`--cold-valid`): the validation item is kept even when cold (it stays out of training and "
    "out of the training softmax), so cold-start settings are compared on validation users whose validation item "
    "is cold; at test time such an item sits in the user's history as a brand-new item. Cold validation and cold "
    "test targets come from the same held-out 10% of items (different users / interactions).",
    "- Text-only cosine baseline: cosine between the mean vector of the last 10 history items and every item "
    "(MiniLM titles on Scientific; IDF-weighted attribute bags on Beauty), full ranking, nothing learned.",
    "",
]


def fused_setting(a: dict) -> str:
    out = (f"id_dropout {a.get('id_dropout')}, align alpha {a.get('align')}, "
           f"ID imputation for unseen items {'on' if a.get('impute') else 'off'}")
    if a.get("cold_id", "zero") != "zero" or a.get("content") or a.get("text_loss") or a.get("fit_unseen_bias"):
        out += (f", null ID {a.get('cold_id', 'zero')}, content channel {'on' if a.get('content') else 'off'}, "
                f"text loss {a.get('text_loss', 0.0)}, new-item boost "
                f"{'fitted on validation (tolerance ' + str(a.get('calib_tol', 0.0)) + ')' if a.get('fit_unseen_bias') else 'none'}")
    return out


def cold_validation_lines() -> list[str]:
    """Runs with --cold-valid: every model's cold-start figures on validation (what was chosen on) and test."""
    lines = ["## Cold start, validated on cold targets (runs `_cv*`)", "",
             "10% of items held out of training entirely; cold items may be the validation item (`--cold-valid`), "
             "so cold-start settings are chosen on validation users whose validation item is cold, never on test. "
             "'valid' columns: validation users (history = training part); 'test' columns: test users whose test "
             "item is cold (history = training part + validation item). Median rank: 0 = first, out of all items.",
             "", "| dataset | run | model | setting | valid cold HR@10 | valid cold NDCG@10 | valid all NDCG@10 "
             "| valid NDCG@10, early-stopping users | test cold users | test cold HR@10 | test cold NDCG@10 | test cold HR@20 | test cold median rank "
             "| test all-user NDCG@10 | train s | epochs (best) |", "|" + "---|" * 16]
    for f in sorted(OUT.glob("recommend_*_cold_cv*.json")):
        if "_part_" in f.name:
            continue
        meta = json.loads(f.read_text())
        a = meta["args"]
        for k, r in meta["results"].items():
            setting = fused_setting(a) if k.startswith("SASRec fused") else ""
            cal = r.get("calibration") or {}
            if cal and "without new-item boost" not in k:
                setting += f"; fitted boost {cal.get('bias')}"
            vall = ""
            if cal.get("ndcg10_by_bias"):
                grid, fitted = cal["ndcg10_by_bias"], f"{cal.get('bias', 0):g}"
                vall = f"{grid.get('0', float('nan')):.4f} (boost 0) / {grid.get(fitted, float('nan')):.4f} (fitted)"
            ep = f"{r['epochs_run']} ({r['best_epoch']})" if "epochs_run" in r else ""
            v_es = f"{r['valid_ndcg10']:.4f}" if "valid_ndcg10" in r else ""
            lines.append(
                f"| {meta['dataset']} | {a.get('tag')} | {k} | {setting} | {r.get('valid_cold_HR@10', float('nan')):.4f} | "
                f"{r.get('valid_cold_NDCG@10', float('nan')):.4f} | {vall} | {v_es} | {r['cold_n_users']} | "
                f"{r['cold_HR@10']:.4f} | {r['cold_NDCG@10']:.4f} | {r.get('cold_HR@20', float('nan')):.4f} | "
                f"{r['cold_median_rank']:.0f} | {r['NDCG@10']:.4f} | {r['train_wall_s']:.0f} | {ep} |")
    return lines + [""]


# which run holds each row of the cold-start summary (tags of benchmarks/out/recommend_<dataset>_cold<tag>.json)
COLD_SUMMARY = {
    "Scientific": [("ID-only SASRec", "_cv_base", "SASRec ID-only"), ("text-only cosine", "_cv_base", "Text-only"),
                   ("fused, before", "_cv_before", "SASRec fused"),
                   ("fused, new, without the new-item boost", "_cv_new_final", "SASRec fused*without"),
                   ("fused, new", "_cv_new_final", "SASRec fused")],
    "Beauty": [("ID-only SASRec", "_cv_before", "SASRec ID-only"), ("text-only cosine", "_cv_before", "Text-only"),
               ("fused, before", "_cv_before", "SASRec fused"),
               ("fused, new, without the new-item boost", "_cv_new", "SASRec fused*without"),
               ("fused, new", "_cv_new", "SASRec fused")],
}
WARM_CHECK = {ds: [("ID-only SASRec", "", "SASRec ID-only"), ("fused, before", "", "SASRec fused"),
                  ("fused, new, without the new-item boost", "_new", "SASRec fused*without"),
                  ("fused, new", "_new", "SASRec fused")] for ds in ("Beauty", "Scientific")}

COLD_V2_NOTES = [
    "What changed for never-seen items (fused model, `src/shopsense/recommend/`):",
    "- null ID: an item without an ID vector (never seen in training, or dropped by id_dropout in training) gets one "
    "learned vector instead of zeros (`cold_id = \"learned\"`);",
    "- content channel: every score gets + gain * cosine(mean fixed text/attribute vector of the last 10 history "
    "items, the item's vector) (MiniLM titles on Scientific; IDF-weighted attribute bags, SVD to 256 dims, on "
    "Beauty); only the gain is learned, so a never-seen item is scored exactly like a trained one "
    "(`content_channel`);",
    "- text loss: an extra softmax over the text-only item table (every item as if brand-new) trains the user state "
    "to find the next item from text alone (`text_loss`; Scientific only in these runs, for time);",
    "- new-item boost: one logit added to every item unseen in training, fitted after training on the validation "
    "users: the largest boost whose NDCG@10 over ALL validation users stays within 1% of the best boost on the "
    "grid (`calibrate_unseen`, `calibrate_tolerance`); without cold validation targets it stays 0.",
    "Chosen on validation (Scientific, runs `_cv_*`): id_dropout 0.1 over 0.5, learned null ID, content channel on, "
    "text loss 1.0 (best validation NDCG@10 on the early-stopping users and best validation cold HR@10 among the "
    "trained variants). The 1% tolerance of the boost was set after looking at the validation trade-off (boost vs "
    "validation NDCG@10 of all users and of cold-target users), never at test. Beauty: the "
    "headline row is the run planned first, with the same settings minus the text loss (`_cv_new`, one Beauty model "
    "takes 20-28 minutes on the shared box); a later run with the text loss (`_cv_new_tl1`, in the `_cv*` table "
    "below) was better on validation overall (NDCG@10) but worse on cold validation targets (its fitted boost is "
    "smaller), so the text loss trades Beauty's cold-item hits for overall accuracy; the product default keeps it "
    "on (text_loss 1.0, the Scientific choice). Training times are not comparable across rows: the box was shared with "
    "other benchmarks and training jobs (load average in the table), and the new model also computes the content "
    "channel (and on Scientific the text loss). Caps: the 'before' Beauty models trained under a 13-14 min wall-time "
    "cap, the new ones under 28 min (both stopped at their cap; the new cold-start model was still improving on "
    "validation at its last epoch), Scientific models under 6-10 min (stopped early on validation).",
    "On Beauty most of the cold-start gain comes from the fitted new-item boost; without it the new model ranks "
    "cold targets about as badly as before (row 'without the new-item boost').",
    "",
]


def _pick(ds: str, tag: str, prefix: str, cold: bool = True) -> tuple[dict, dict] | None:
    f = OUT / f"recommend_{ds}{'_cold' if cold else ''}{tag}.json"
    if not f.exists():
        return None
    meta = json.loads(f.read_text())
    want_without = prefix.endswith("*without")
    prefix = prefix.removesuffix("*without")
    rows = [r for k, r in meta["results"].items()
            if k.startswith(prefix) and ("without new-item boost" in k) == want_without]
    return (meta, rows[0]) if rows else None


def cold_summary_lines() -> list[str]:
    dates = sorted(m["date_utc"] for ds, picks in COLD_SUMMARY.items() for _, tag, pre in picks
                   if (m := (_pick(ds, tag, pre) or ({"date_utc": ""},))[0])["date_utc"])
    when = f"runs {dates[0][:16]} to {dates[-1][:16]} UTC" if dates else "no runs yet"
    lines = ["## Cold-start summary, validated protocol (" + ", ".join(COLD_SUMMARY) + f"; {when})", "",
             "Test users whose test item was held out of training entirely (10% of items); full ranking over all "
             "items. 'all-user NDCG@10' is every test user of the same run (warm and cold).", "",
             "| dataset | model | run | cold users | HR@10 | NDCG@10 | HR@20 | median rank | all-user NDCG@10 "
             "| train s | epochs (best) | load avg at end |", "|" + "---|" * 12]
    for ds, picks in COLD_SUMMARY.items():
        for name, tag, prefix in picks:
            got = _pick(ds, tag, prefix)
            if got is None:
                continue
            meta, r = got
            ep = f"{r['epochs_run']} ({r['best_epoch']})" if "epochs_run" in r else ""
            load = "/".join(f"{x:.1f}" for x in meta.get("load_avg_at_end", []))
            lines.append(f"| {ds} | {name} | {tag} | {r['cold_n_users']} | {r['cold_HR@10']:.4f} | {r['cold_NDCG@10']:.4f} | "
                         f"{r.get('cold_HR@20', float('nan')):.4f} | {r['cold_median_rank']:.0f} | {r['NDCG@10']:.4f} | "
                         f"{r['train_wall_s']:.0f} | {ep} | {load} |")
    lines.append("")
    for ds, picks in COLD_SUMMARY.items():  # the comparison the issue asks about, computed from the rows above
        got = {name: _pick(ds, tag, pre) for name, tag, pre in picks}
        if not all(got.get(k) for k in ("fused, new", "text-only cosine", "fused, before", "ID-only SASRec")):
            continue
        new_r, txt, bef, ido = (got[k][1] for k in ("fused, new", "text-only cosine", "fused, before", "ID-only SASRec"))
        lines.append(f"- {ds}: cold HR@10 {new_r['cold_HR@10']:.4f} (new) vs {bef['cold_HR@10']:.4f} (before), "
                     f"{ido['cold_HR@10']:.4f} (ID-only), {txt['cold_HR@10']:.4f} (text-only cosine: "
                     f"x{new_r['cold_HR@10'] / max(txt['cold_HR@10'], 1e-12):.2f}); cold NDCG@10 x"
                     f"{new_r['cold_NDCG@10'] / max(txt['cold_NDCG@10'], 1e-12):.2f} of text-only; median rank "
                     f"{new_r['cold_median_rank']:.0f} vs {txt['cold_median_rank']:.0f} (text-only); all-user NDCG@10 "
                     f"{new_r['NDCG@10'] / bef['NDCG@10'] - 1:+.1%} vs fused before.")
    lines += ["", "Warm check (standard leave-one-out, no items held out):", "",
              "| dataset | model | run | HR@10 | NDCG@10 | HR@20 | NDCG@20 | vs published S3-Rec NDCG@10 | train s "
              "| epochs (best) | load avg at end |", "|" + "---|" * 11]
    for ds, picks in WARM_CHECK.items():
        for name, tag, prefix in picks:
            got = _pick(ds, tag, prefix, cold=False)
            if got is None:
                continue
            meta, r = got
            ep = f"{r['epochs_run']} ({r['best_epoch']})" if "epochs_run" in r else ""
            load = "/".join(f"{x:.1f}" for x in meta.get("load_avg_at_end", []))
            gain = f"{r['NDCG@10'] / PUBLISHED[ds]['S3-Rec'][1] - 1:+.1%}" if ds in PUBLISHED else "n/a"
            lines.append(f"| {ds} | {name} | {tag or 'main'} | {r['HR@10']:.4f} | {r['NDCG@10']:.4f} | {r['HR@20']:.4f} | "
                         f"{r['NDCG@20']:.4f} | {gain} | {r['train_wall_s']:.0f} | {ep} | {load} |")
    return lines + [""] + COLD_V2_NOTES


def write_report(path: Path) -> None:
    """Markdown of every benchmarks/out/recommend_<dataset>[_cold].json (measured figures only)."""
    lines = ["# Recommendation benchmark (issue 4)", "",
             "Leave-one-out, full ranking over all items (history items removed, ties against the target), "
             "test = last item, early stopping on the second-to-last (validation) item only. "
             "Generated by `benchmarks/bench_recommend.py --report` from the JSON of each run.", ""]
    lines += cold_summary_lines()
    for f in sorted(OUT.glob("recommend_*.json")):
        if "_part_" in f.name or "_smoke" in f.name:
            continue
        meta = json.loads(f.read_text())
        ds, cold = meta["dataset"], meta["cold_start"]
        a = meta["args"]
        variant = f"fused model: {fused_setting(a)}"
        lines += [f"## {ds}{' — cold start (10% of items held out of training)' if cold else ''}"
                  f"{' — run ' + a['tag'] if a.get('tag') else ''}", "", variant + ".", "",
                  f"{meta['date_utc']}, {meta['machine'].replace(' (torch threads 2)', '')}, torch threads "
                  f"{meta['args']['threads']} per training process"
                  f"{' (ID-only and fused trained at once, in two processes)' if meta['args'].get('parallel') else ''}, "
                  f"torch {meta['torch']}, whole run {meta['total_wall_s']:.0f}s; "
                  f"args: `{json.dumps({k: v for k, v in meta['args'].items() if k not in ('tag',)})}`", ""]
        head = "| model | HR@10 | NDCG@10 | HR@20 | NDCG@20 | train wall s | epochs (best) |"
        sep = "|---|---|---|---|---|---|---|"
        if cold:
            head += " cold-target users | cold HR@10 | cold NDCG@10 |"
            sep += "---|---|---|"
        lines += [head, sep]
        for k, r in meta["results"].items():
            ep = f"{r['epochs_run']} ({r['best_epoch']})" if "epochs_run" in r else ""
            row = (f"| {k} | {r['HR@10']:.4f} | {r['NDCG@10']:.4f} | {r['HR@20']:.4f} | {r['NDCG@20']:.4f} | "
                   f"{r['train_wall_s']:.0f} | {ep} |")
            if cold:
                row += f" {r['cold_n_users']} | {r['cold_HR@10']:.4f} | {r['cold_NDCG@10']:.4f} |"
            lines.append(row)
        if not cold and ds in PUBLISHED:
            for name, v in PUBLISHED[ds].items():
                lines.append(f"| published {name} | {v[0]:.4f} | {v[1]:.4f} | {v[2]:.4f} | {v[3]:.4f} | | |")
            fused = [r for k, r in meta["results"].items() if k.startswith("SASRec fused")]
            if fused:
                s3 = PUBLISHED[ds]["S3-Rec"][1]
                gain = fused[0]["NDCG@10"] / s3 - 1
                lines += ["", f"Fused NDCG@10 vs published S3-Rec: {gain:+.1%} "
                              f"(target >= +10%: {'met' if gain >= 0.10 else 'NOT met'})."]
        if cold:
            extra = [f"{k}: cold HR@100 {r['cold_HR@100']:.4f}, median rank of the cold target {r['cold_median_rank']:.0f}"
                     for k, r in meta["results"].items() if "cold_HR@100" in r]
            lines += ([""] + ["- " + e for e in extra]) if extra else []
        lines.append("")
    lines += cold_validation_lines()
    lines += ["## Cold-start summary, earlier protocol (validation item never cold; runs without `_cv`)", "",
              "| dataset | run | model | cold users | cold HR@10 | cold NDCG@10 | all-user NDCG@10 |", "|---|---|---|---|---|---|---|"]
    for f in sorted(OUT.glob("recommend_*_cold*.json")):
        if "_part_" in f.name:
            continue
        meta = json.loads(f.read_text())
        for k, r in meta["results"].items():
            if k.startswith("SASRec"):
                lines.append(f"| {meta['dataset']} | {meta['args'].get('tag') or 'main'} | {k} | {r['cold_n_users']} | "
                             f"{r['cold_HR@10']:.4f} | {r['cold_NDCG@10']:.4f} | {r['NDCG@10']:.4f} |")
    lines += [""] + NOTES
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    if "--report" in sys.argv:
        write_report(Path(__file__).resolve().parent / "results" / "recommend.md")
        sys.exit(0)
    sys.exit(main())
