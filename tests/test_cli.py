from __future__ import annotations

from pathlib import Path

from shopsense.cli import main
from shopsense.cli.config import example_toml

REPO = Path(__file__).resolve().parents[1]


def test_ingest_and_stats_on_the_bundled_sample(tmp_path, capsys):
    s = REPO / "data" / "sample"
    args = ["--data-dir", str(tmp_path), "ingest", "--items", str(s / "items.csv"), "--events", str(s / "events.csv")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4379 items, 20326 events, 2500 users" in out
    assert main(args) == 0
    assert "already" in capsys.readouterr().out  # (rich may wrap "already ingested")
    assert main(["--data-dir", str(tmp_path), "stats"]) == 0
    out = capsys.readouterr().out
    assert "purchase" in out and "2018" in out


def test_bad_input_gives_a_clear_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "ingest"]) == 1
    assert "pass --items FILE" in capsys.readouterr().err
    f = tmp_path / "x.csv"
    f.write_text("foo,bar\n1,2\n")
    assert main(["--data-dir", str(tmp_path), "ingest", "--events", str(f)]) == 1
    assert "required column(s) user_id, type, timestamp" in capsys.readouterr().out


def test_example_config_is_in_sync():
    assert (REPO / "configs" / "shopsense.example.toml").read_text() == example_toml(), \
        "regenerate it: shopsense config --example > configs/shopsense.example.toml"


def test_forget_deletes_a_shopper_by_raw_id(tmp_path, capsys):
    f = tmp_path / "ev.csv"
    f.write_text("user_id,item_id,type,timestamp\nann,A,view,1600000000\nann,B,view,1600000001\nbob,A,view,1600000002\n")
    assert main(["--data-dir", str(tmp_path), "ingest", "--events", str(f)]) == 0
    assert main(["--data-dir", str(tmp_path), "forget", "ann"]) == 0
    assert "deleted 2 events" in capsys.readouterr().out
    from shopsense.store import open_store

    assert open_store(f"sqlite:///{tmp_path / 'shop.db'}").count("events") == 1


def test_search_index_learns_searches_logged_since_the_last_run(tmp_path, capsys, monkeypatch):
    """Category intent's query logs follow the store's events even when no item changed."""
    from shopsense.search.engine import SearchEngine

    monkeypatch.setenv("SHOPSENSE_TEXT__ENCODER", "hashing")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,category\nA,red mug,Kitchen > Mugs\nB,blue mug,Kitchen > Mugs\n"
                     "C,mug rack,Storage > Racks\n")
    d = ["--data-dir", str(tmp_path)]
    assert main([*d, "ingest", "--items", str(items)]) == 0
    assert main([*d, "search-index"]) == 0
    folder = tmp_path / "search" / "index"
    assert SearchEngine.load(folder).intent.log_counts == {}
    ev = tmp_path / "ev.csv"
    ev.write_text("user_id,item_id,type,timestamp,query\nann,C,purchase,1600000000,Mug  Holder\n"
                  "bob,C,click,1600000001,mug holder\nbob,A,view,1600000002,mug holder\n")
    assert main([*d, "ingest", "--events", str(ev)]) == 0
    capsys.readouterr()
    assert main([*d, "search-index"]) == 0
    assert "query_logs 2" in capsys.readouterr().out
    eng = SearchEngine.load(folder)
    assert eng.intent.log_counts == {"mug holder": {eng.catalog.paths.index("Storage > Racks"): 4.0}}
    assert main([*d, "search-index"]) == 0  # re-run: the same counts
    assert SearchEngine.load(folder).intent.log_counts == eng.intent.log_counts
