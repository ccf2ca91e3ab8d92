"""Threads shared by side-by-side lanes: the run's grant file, a training following it, and a lane that
finishes handing its cores to the lanes still running."""

from __future__ import annotations

import json
import os

import pytest
import torch

from cellseg_nb.pipeline import run_pipeline
from cellseg_nb.train import config_from_dict, train
from cellseg_nb.train.threads import GRANT_ENV, ThreadFollower, ThreadGrant, granted_threads

from _train_helpers import DiscDataset
from test_pipeline import make_notebook
from test_pipeline_lanes import lane_config


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_grant_divides_the_cores_among_running_lanes(tmp_path):
    grant = ThreadGrant(tmp_path / "g.json", cores=4, lanes=2)
    assert json.loads((tmp_path / "g.json").read_text()) == {"cores": 4, "lanes_running": 2, "threads": 2}
    grant.lane_finished()
    assert granted_threads(tmp_path / "g.json") == 4
    grant.lane_finished()  # never below one lane
    assert grant.lanes == 1 and granted_threads(tmp_path / "g.json") == 4
    assert ThreadGrant(tmp_path / "h.json", cores=2, lanes=3).threads == 1  # at least one thread
    grant.remove()
    assert granted_threads(tmp_path / "g.json") is None  # gone: nothing changes


def test_unreadable_or_absent_grants_change_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(GRANT_ENV, raising=False)
    assert granted_threads() is None and not ThreadFollower().active
    (tmp_path / "bad.json").write_text("{not json")
    assert granted_threads(tmp_path / "bad.json") is None
    (tmp_path / "zero.json").write_text('{"threads": 0}')
    assert granted_threads(tmp_path / "zero.json") is None


def test_follower_applies_a_changed_grant(tmp_path, monkeypatch, restore_threads):
    torch.set_num_threads(1)
    grant = ThreadGrant(tmp_path / "g.json", cores=2, lanes=2)
    monkeypatch.setenv(GRANT_ENV, str(grant.path))
    follower = ThreadFollower(every_s=0.0)
    assert follower.poll() is None and torch.get_num_threads() == 1  # one thread each: as it is
    grant.lane_finished()
    assert follower.poll() == 2 and torch.get_num_threads() == 2


def test_training_takes_the_threads_a_finished_lane_left(tmp_path, monkeypatch, restore_threads):
    torch.set_num_threads(1)
    grant = ThreadGrant(tmp_path / "g.json", cores=2, lanes=1)
    monkeypatch.setenv(GRANT_ENV, str(grant.path))
    train(config_from_dict({"model": {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128]}},
                            "steps": 2, "batch_size": 2, "device": "cpu", "amp": "none", "progress": False,
                            "output_dir": str(tmp_path / "out")}), train_dataset=DiscDataset(4, size=32))
    assert torch.get_num_threads() == 2


@pytest.mark.slow
def test_a_finished_lane_hands_its_cores_to_the_other(tmp_path, monkeypatch):
    """Lane a ends at once; lane b waits until the run's grant says one lane runs, and records it."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = lane_config(tmp_path, [["a"], ["b"]])
    nbs = tmp_path / "nbs"
    make_notebook(nbs / "a.ipynb", "run_dir = 'x'", "print('a done')")
    make_notebook(nbs / "b.ipynb", "run_dir = 'x'", (
        "import json, os, time\nfrom pathlib import Path\nfrom cellseg_nb.train.threads import GRANT_ENV\n"
        "path = Path(os.environ[GRANT_ENV])\ndeadline = time.time() + 60\n"
        "while json.loads(path.read_text())['lanes_running'] != 1:\n"
        "    assert time.time() < deadline, 'lane a never released its cores'\n    time.sleep(0.05)\n"
        "Path(run_dir, 'b.grant').write_text(json.dumps({'path': str(path), **json.loads(path.read_text())}))"))
    make_notebook(nbs / "c.ipynb", "run_dir = 'x'", "print('c')")
    run_pipeline(config, progress=False, say=lambda m: None)
    run_dir = tmp_path / "runs" / "lanes"
    seen = json.loads((run_dir / "b.grant").read_text())
    assert seen["lanes_running"] == 1 and seen["threads"] == max(1, os.cpu_count() or 1)
    assert seen["path"].startswith(str(run_dir.resolve()))
    assert not (run_dir / ".thread_grant.json").exists() and GRANT_ENV not in os.environ  # run's own
