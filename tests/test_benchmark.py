"""`memo bench` end to end on the tiny model: a small corpus taught from scratch, every
condition answered and judged, the report's numbers, and the user's data left alone."""

from __future__ import annotations

import json
from pathlib import Path

from memo_mlx.benchmark import CONDITIONS
from memo_mlx.catalog import Catalog
from memo_mlx.cli import main
from memo_mlx.settings import memo_home

FAST = "[training]\nrank = 4\nepochs = 1\n\n[teaching]\nexposures = 0\n"


def test_bench_reports_every_condition(tiny_model_env, tmp_path: Path, capsys):
    home = memo_home()
    (home / "settings.toml").write_text(FAST)  # taken along into the benchmark's own home
    with Catalog() as catalog:
        catalog.create_memory("mine")
    work = tmp_path / "work"
    assert main(["bench", "--json", "--documents", "6", "--distractors", "2", "--questions",
                 "10", "--work", str(work), "--out", str(tmp_path / "report.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert report["settings"] == "user"
    assert report["corpus"]["documents"] == 6 and report["corpus"]["questions"] == 10
    assert report["teach"]["reflections"] > 20 and report["teach"]["training"]["steps"] > 0
    assert report["distractor_teach"]["strategy"] == "incremental"
    assert list(report["conditions"]) == list(CONDITIONS)
    for name, c in report["conditions"].items():
        assert c["asked"] == 10 and 0 <= c["right"] <= 10, name
        assert c["accuracy"] == round(c["right"] / 10, 3)
        assert sum(k["asked"] for k in c["by_kind"].values()) == 10
        assert [a["correct"] for a in c["answers"]].count(True) == c["right"]
    assert report["conditions"]["rag"]["answers"][0]["sources"]  # chunks were retrieved
    assert (work / "corpus" / "questions.jsonl").is_file()
    assert memo_home() == home  # the user's data folder is left as it was
    with Catalog() as catalog:
        assert [m.name for m in catalog.memories()] == ["mine"]


def test_bench_usage_errors(tiny_model_env, tmp_path: Path, capsys):
    assert main(["bench", "--documents", "2"]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["bench", "--work", str(tmp_path / "full")]) == 2
    assert "--work must be a new or empty folder" in capsys.readouterr().err
