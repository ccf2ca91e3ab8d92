"""Notebooks that read a run default to the newest run under runs/ and say which they use."""

from __future__ import annotations

import os

from cellseg_nb.pipeline.artifacts import choose_run, newest_run


def _run(root, name, mtime):
    folder = root / name / "predictions"
    folder.mkdir(parents=True)
    path = folder / "model.json"
    path.write_text("[]")
    os.utime(path, (mtime, mtime))
    return root / name


def test_newest_run_is_the_one_whose_predictions_were_written_last(tmp_path):
    assert newest_run(tmp_path / "absent") is None
    old = _run(tmp_path, "b_old", 1_000_000)
    new = _run(tmp_path, "a_new", 2_000_000)
    (tmp_path / "c_empty" / "predictions").mkdir(parents=True)  # no predictions: not a run to read
    (tmp_path / "c_empty" / "predictions" / "notes.txt").write_text("x")
    assert newest_run(tmp_path) == new
    os.utime(old / "predictions" / "model.json", (3_000_000, 3_000_000))
    assert newest_run(tmp_path) == old


def test_choose_run_says_which_run_and_why(tmp_path):
    chosen, why = choose_run("runs/mine", tmp_path)
    assert str(chosen) == "runs/mine" and "run_dir parameter" in why
    chosen, why = choose_run("", tmp_path)
    assert chosen == tmp_path / "interactive" and "no run with predictions" in why
    run = _run(tmp_path, "demo", 1_000_000)
    chosen, why = choose_run("", tmp_path)
    assert chosen == run and "newest run" in why and str(run) in why
