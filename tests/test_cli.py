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
