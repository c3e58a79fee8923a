import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core box, torch's spinning thread pool is ~30x slower than one
    thread for these tiny models (measured: 120 s vs 3 s for the same fit)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def own_cold_item_wins():
    """Share of withheld users (user ids `(…, g)`) whose own never-seen item `g{g}new0` scores strictly first
    among the never-seen items `cold`; `check(out)` runs on every answer."""
    def wins(rec, ds, withheld, cold, check=None) -> float:
        out_w = []
        for u in withheld:
            out = rec.recommend(u, n=ds.n_items, filters={"item_ids": cold})
            s = dict(zip(out.ids, out.scores))
            own = f"g{u[1]}new0"
            out_w.append(s[own] > max(v for k, v in s.items() if k != own))
            if check is not None:
                check(out)
        return float(np.mean(out_w))
    return wins
