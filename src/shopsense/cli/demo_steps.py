"""Demo steps run by `shopsense demo` after ingest + stats: build the serving engine on the sample,
show a search and recommendations with their explanations, then serve the shop page on localhost
(skipped when SHOPSENSE_DEMO_NO_SERVE=1)."""

from __future__ import annotations

import os
from typing import Any


class _Demo:
    """The steps share the engine they build (the demo's own small state; the server has none)."""

    def __init__(self) -> None:
        self.engine = None

    def build(self, settings: Any, console: Any) -> int:
        from shopsense.cli.serve import load_or_build

        console.rule("3. build search, recommenders and the ranker (saved; a second run loads them)")
        self.engine = load_or_build(settings)
        eng = self.engine
        console.print(f"engine {eng.version}: sources {sorted(eng.sources.models)}"
                      f"{' + search' if eng.sources.search_engine else ''}, ranker [bold]{eng.ranker.name}[/]")
        rep = eng.info.get("ranker") or {}
        if "ndcg10_rules" in rep:
            console.print(f"held-out NDCG@10: rule-based {rep['ndcg10_rules']:.4f} vs LightGBM {rep['ndcg10_lgbm']:.4f}"
                          f" ({rep['eval_queries']} users; candidate recall {rep['eval_recall']:.2f})")
        return 0

    def show(self, settings: Any, console: Any) -> int:
        from shopsense.store import open_store

        eng = self.engine
        if eng is None:
            return 1
        console.rule("4. a search and recommendations, with the reason for every result")
        res = eng.search("3d printer filament", None, 5)
        console.print(f"[bold]search[/] '3d printer filament' ({res['total']} matches):")
        for r in res["results"]:
            console.print(f"  {r['item_id']}  {r['title'][:60]:60}  [dim]{r['explanation']}[/]")
        store = open_store(settings.resolved_store_url())
        try:
            ds = store.load_dataset()
        finally:
            store.close()
        from shopsense.rank.profile import ProfileBook

        book = ProfileBook(settings.rank.event_weights, settings.rank.profile_recent)
        book.load_dataset(ds, eng.items.get)
        user = ds.user_vocab.ids[0]
        console.print(f"[bold]recommendations[/] for shopper {user[:12]}… ({book.get(user).n_events} events):")
        for r in eng.recommend(user, book.get(user), 5):
            console.print(f"  {r['item_id']}  {r['title'][:60]:60}  [dim]{r['explanation']}[/]")
        return 0

    def serve(self, settings: Any, console: Any) -> int:
        if os.environ.get("SHOPSENSE_DEMO_NO_SERVE") == "1":
            console.print("SHOPSENSE_DEMO_NO_SERVE=1: not starting the server "
                          "(run `shopsense serve` to try the shop page)")
            return 0
        import uvicorn

        from shopsense.serve.app import create_app

        host, port = settings.serve.host, settings.serve.port
        console.rule("5. the shop page")
        app = create_app(settings, engine=self.engine)
        console.print(f"open [bold]http://{host}:{port}/[/] (API docs at /docs) — Ctrl+C to stop")
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return 0


_demo = _Demo()
STEPS = [_demo.build, _demo.show, _demo.serve]
