"""Resumable fine-tunes: a checkpoint folder beside the model folder, written every N steps.

A fine-tune on a shop's CPU runs for tens of minutes to hours (Home Depot: 406-472 steps of 2-7 s); a
crash, a redeploy or a closed laptop must not throw that away. Every `checkpoint_every` steps `finetune()`
writes `<out>.partial/`:

    model.safetensors      the network's weights
    optimizer.safetensors  AdamW's moment tensors and step counters, keyed "<param index>.<name>"
    rng.npy                torch's CPU random state (dropout), so a resumed run draws what an unbroken one would
    state.json             step, losses so far, seconds trained, optimizer param groups, scheduler state, and
                           the key (settings fingerprint + training-pair digest + base model) it belongs to

No pickles: tensors as safetensors, the rest as JSON and .npy. A run into the same `out` with the same key
continues from the checkpoint (the batch plan is a pure function of the seed, so the skipped batches are
exactly the ones already trained on); a checkpoint with another key is ignored and overwritten. The folder
is replaced atomically (written to `.tmp`, then renamed over) and removed once the model is saved.
Our own code because sentence-transformers' trainer checkpoints pickle the optimizer (torch.save) and we
train with a plain loop (finetune.py says why).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def checkpoint_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".partial")


def _replace(tmp: Path, folder: Path) -> None:
    """Put `tmp` where `folder` is; at every moment one complete checkpoint exists on disk."""
    old = folder.with_name(folder.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(folder: Path, key: str, net, opt, sched, *, step: int, total: int, losses: list[float],
                    window: list[float], seconds: float) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp / "model.safetensors"))
    st = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, entry in st["state"].items():
        for name, v in entry.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{name}"] = v.detach().contiguous()
            else:
                scalars[f"{pid}.{name}"] = v
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    np.save(tmp / "rng.npy", torch.get_rng_state().numpy())
    sched_state = {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}
    (tmp / STATE_FILE).write_text(json.dumps({
        "key": key, "step": step, "total": total, "losses": losses, "window": window, "seconds": seconds,
        "param_groups": st["param_groups"], "optimizer_scalars": scalars, "scheduler": sched_state}))
    _replace(tmp, folder)


def load_checkpoint(folder: Path, key: str, net, opt, sched) -> dict[str, Any] | None:
    """Restore weights, optimizer, scheduler and random state from `folder` when it holds a checkpoint of
    this very run (`key`); returns its state (step, losses, window, seconds), else None (nothing touched)."""
    if not (folder / STATE_FILE).exists():
        old = folder.with_name(folder.name + ".old")  # a crash between the two renames of _replace
        if not (old / STATE_FILE).exists():
            return None
        folder = old
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if state.get("key") != key:
        return None
    import numpy as np
    import torch
    from safetensors.torch import load_file

    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    per_param: dict[int, dict[str, Any]] = {}
    for name, v in {**load_file(str(folder / "optimizer.safetensors")), **state["optimizer_scalars"]}.items():
        pid, field = name.split(".", 1)
        per_param.setdefault(int(pid), {})[field] = v
    opt.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    sched.load_state_dict({**state["scheduler"], "lr_lambdas": [None] * len(opt.param_groups)})
    torch.set_rng_state(torch.from_numpy(np.load(folder / "rng.npy")))
    return state


def remove_checkpoint(folder: Path) -> None:
    for f in (folder, folder.with_name(folder.name + ".old"), folder.with_name(folder.name + ".tmp")):
        if f.exists():
            shutil.rmtree(f)
