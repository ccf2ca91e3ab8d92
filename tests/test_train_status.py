"""The training status line: what it prints, how often, and that the pipeline turns it on."""

from __future__ import annotations

import io

from cellseg_nb.train.status import StatusLine


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_line_rate_and_time_left_by_hand():
    clock, out = FakeClock(), io.StringIO()
    status = StatusLine("unet", total=500, every_s=15, start_step=100, stream=out, clock=clock)
    clock.now += 10
    status.update(120, loss=0.41234)            # 10 s < 15 s: silent
    assert out.getvalue() == ""
    clock.now += 30                             # 40 s for 200 steps since step 100 -> 5 steps/s
    status.update(300)
    assert out.getvalue().strip() == "[unet] step 300/500 (60%)  loss 0.4123  5.00 steps/s  elapsed 0:40  left ~0:40"
    clock.now += 1
    status.update(301)                          # 1 s after the last line: silent
    status.update(500, final=True)
    assert out.getvalue().count("\n") == 2 and "step 500/500 (100%)" in out.getvalue()


def test_status_line_off_by_default_and_on_in_runs(tmp_path):
    out = io.StringIO()
    status = StatusLine("x", total=10, every_s=0, stream=out)
    status.update(10, final=True)
    assert out.getvalue() == "" and not status.enabled
    from cellseg_nb.pipeline.training import plan_variants

    (tmp_path / "data" / "annotations" / "LIVECell").mkdir(parents=True)
    variant, = plan_variants(["unet"], ["original"], data_root=tmp_path / "data", run_dir=tmp_path / "run")
    assert variant.config.status_every_s == 30.0 and variant.config.progress is False
    custom, = plan_variants(["unet"], ["original"], data_root=tmp_path / "data", run_dir=tmp_path / "run",
                            train={"status_every_s": 5})
    assert custom.config.status_every_s == 5.0


def test_the_engine_prints_status_lines_while_training(tmp_path, capsys):
    from _train_helpers import DiscDataset

    from cellseg_nb.train import config_from_dict, train

    cfg = config_from_dict({"model": {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256]}},
                            "steps": 3, "batch_size": 2, "log_every": 1, "device": "cpu", "amp": "none",
                            "output_dir": str(tmp_path / "tiny"), "progress": False, "status_every_s": 1e-9})
    train(cfg, train_dataset=DiscDataset(4))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[tiny]")]
    assert [ln.split()[2] for ln in lines] == ["1/3", "2/3", "3/3"] and all("loss" in ln for ln in lines)
