"""``lanes`` in a run config: those notebooks run side by side (proved by a rendezvous that a one-at-a-time
run cannot pass), the rest after them in config order, each kernel with OMP_NUM_THREADS = cores / lanes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cellseg_nb.errors import ConfigError
from cellseg_nb.pipeline import NotebookFailed, config_from_dict, read_status, run_pipeline
from cellseg_nb.pipeline.runner import schedule

from test_pipeline import make_notebook

# Each lane notebook leaves its flag and waits for the other lane's: only side-by-side kernels both pass.
RENDEZVOUS = (
    "import os, time\nfrom pathlib import Path\nPath(run_dir, me + '.flag').write_text(os.environ.get('OMP_NUM_THREADS', 'unset'))\n"
    "deadline = time.time() + 60\n"
    "while not Path(run_dir, other + '.flag').exists():\n"
    "    assert time.time() < deadline, 'the other lane never started: not side by side'\n"
    "    time.sleep(0.05)\n"
    "Path(run_dir, me + '.done').write_text(str(time.time()))"
)
AFTER = ("import time\nfrom pathlib import Path\n"
         "assert Path(run_dir, 'a.done').exists() and Path(run_dir, 'b.done').exists()\n"
         "Path(run_dir, 'c.done').write_text(str(time.time()))")


def lane_config(tmp_path: Path, lanes, *, failing_a: bool = False, names=("a", "b", "c")):
    nbs = tmp_path / "nbs"
    for me, other in (("a", "b"), ("b", "a")):
        cells = (RENDEZVOUS,) if not failing_a else (RENDEZVOUS, "time.sleep(3)  # a fails meanwhile")
        if failing_a and me == "a":  # leaves its flag (so lane b passes) and breaks
            cells = ("from pathlib import Path\nPath(run_dir, 'a.flag').write_text('x')\n"
                     "raise ValueError('lane a breaks')",)
        make_notebook(nbs / f"{me}.ipynb", f"run_dir = 'x'\nme = {me!r}\nother = {other!r}", *cells)
    make_notebook(nbs / "c.ipynb", "run_dir = 'x'", AFTER)
    make_notebook(nbs / "d.ipynb", "run_dir = 'x'", "from pathlib import Path\nPath(run_dir, 'd.done').write_text('1')")
    (tmp_path / "data" / "annotations").mkdir(parents=True, exist_ok=True)
    data = {"name": "lanes", "data_root": str(tmp_path / "data"), "notebooks_dir": str(nbs),
            "runs_dir": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
            "notebooks": {n: {} for n in names}, "lanes": lanes}
    return config_from_dict(data, source="lanes.yaml")


def test_schedule_puts_lanes_first_then_the_rest_in_config_order(tmp_path):
    config = lane_config(tmp_path, [["b"], ["c", "a"]], names=("a", "b", "c", "d"))
    steps = list(config.notebooks)
    phases = schedule(config, steps)
    assert [[[s.name for s in lane] for lane in phase] for phase in phases] == [[["b"], ["a", "c"]], [["d"]]]
    # --only keeps one lane: nothing side by side, config order
    only = config.select(["c", "d"])
    assert [[[s.name for s in lane] for lane in phase] for phase in schedule(config, only)] == [[["c", "d"]]]


@pytest.mark.parametrize("lanes, problem", [
    ([["a"]], "at least two"),
    ([["a"], []], "at least two non-empty"),
    ([["a"], ["zz"]], "'zz' is not a notebook"),
    ([["a", "b"], ["b"]], "'b' is in more than one place"),
    ("a,b", "must be a list"),
])
def test_bad_lanes_are_refused_naming_the_problem(tmp_path, lanes, problem):
    with pytest.raises(ConfigError, match=problem):
        lane_config(tmp_path, lanes)


@pytest.mark.slow
def test_lanes_run_side_by_side_then_the_rest(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    messages = []
    results = run_pipeline(lane_config(tmp_path, [["a"], ["b"]]), progress=False, say=messages.append)
    run_dir = tmp_path / "runs" / "lanes"
    assert [r.name for r in results] == ["a", "b", "c"]
    assert {k: v["status"] for k, v in read_status(run_dir).items()} == {"a": "ok", "b": "ok", "c": "ok"}
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert (run_dir / "a.flag").read_text() == threads and (run_dir / "b.flag").read_text() == threads
    assert float((run_dir / "c.done").read_text()) >= max(float((run_dir / n).read_text()) for n in ("a.done", "b.done"))
    assert "OMP_NUM_THREADS" not in os.environ  # set for the run's kernels only
    assert any(m.startswith("side by side: a | b") for m in messages)


@pytest.mark.slow
def test_a_failing_lane_stops_the_run_after_the_other_lane_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a value the user set is kept
    config = lane_config(tmp_path, [["a"], ["b", "d"]], failing_a=True, names=("a", "b", "d", "c"))
    with pytest.raises(NotebookFailed) as info:
        run_pipeline(config, progress=False, say=lambda m: None)
    assert info.value.notebook == "a" and "lane a breaks" in info.value.error
    status = read_status(tmp_path / "runs" / "lanes")
    assert status["a"]["status"] == "failed"
    assert status["b"]["status"] == "ok"  # the other lane finished its notebook
    assert "d" not in status and "c" not in status  # and started no other; nothing after the lanes ran
    assert os.environ["OMP_NUM_THREADS"] == "3"
