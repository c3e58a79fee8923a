"""`shopsense retrain` saves a new engine version and flips CURRENT; `serve` loads it."""

from __future__ import annotations


def test_retrain_saves_and_serve_loads(served, monkeypatch):
    from shopsense.cli import build_parser, main
    from shopsense.cli.serve import load_or_build
    from shopsense.rank.build import current_folder

    settings = served[0]
    cmds = build_parser()._subparsers._group_actions[0].choices
    assert "serve" in cmds and "retrain" in cmds
    monkeypatch.setenv("SHOPSENSE_TEXT__ENCODER", "hashing")
    monkeypatch.setenv("SHOPSENSE_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("SHOPSENSE_RANK__RANKER", "rules")
    assert main(["--data-dir", str(settings.data_dir), "retrain", "--no-ranker"]) == 0
    folder = current_folder(settings.path("serving"))
    assert folder is not None and (folder / "cf" / "model.json").exists() and (folder / "search").exists()
    eng = load_or_build(settings)
    assert eng.version == folder.name and len(eng.items) == 4379
    user_rec = eng.recommend(None, None, 5)
    assert len(user_rec) == 5 and all(r["explanation"] for r in user_rec)
