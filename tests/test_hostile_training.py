"""Class 2 (engine part) of issue #12: training that diverges stops with a named error, never a NaN checkpoint."""

from __future__ import annotations

import pytest
import torch

from cellseg_nb.errors import CellsegError, TrainingDiverged
from cellseg_nb.train import config_from_dict, load_checkpoint, train
from _train_helpers import DiscDataset

TINY = {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256]}}


def _cfg(out, **extra):
    base = {"model": TINY, "steps": 4, "batch_size": 2, "checkpoint_every": 2, "log_every": 1,
            "device": "cpu", "amp": "none", "output_dir": str(out), "progress": False,
            "optim": {"name": "sgd", "lr": 0.01}}
    base.update(extra)
    return config_from_dict(base)


def test_infinite_learning_rate_stops_at_the_first_step(tmp_path):
    cfg = _cfg(tmp_path, max_nonfinite_steps=100)
    # the config schema refuses lr=inf on its own; the engine must still catch a diverging update
    object.__setattr__(cfg.optim, "lr", float("inf"))
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1: non-finite weights") as info:
        train(cfg, train_dataset=DiscDataset(4))
    assert isinstance(info.value, CellsegError)          # the CLI prints it as one line, exit status 2
    assert not any((tmp_path / "checkpoints").glob("*.pt"))   # nothing saved from the diverged weights


class _PoisonAfter(torch.nn.Module):
    """Wraps a U-Net; from call ``bad_from`` on, one weight is set to NaN before the forward pass
    (weights gone bad outside the optimiser step, e.g. by a hook); the loss is then NaN and skipped."""

    def __init__(self, inner, bad_from):
        super().__init__()
        self.inner, self.bad_from, self.calls = inner, bad_from, 0

    def forward(self, images, targets=None):
        self.calls += 1
        if self.training and self.calls > self.bad_from:
            with torch.no_grad():
                next(self.inner.parameters()).view(-1)[0] = float("nan")
        return self.inner(images, targets)


def test_no_checkpoint_is_written_from_nonfinite_weights(tmp_path):
    from cellseg_nb.models import build_model

    model = _PoisonAfter(build_model("unet", **TINY["kwargs"]), bad_from=2)
    with pytest.raises(TrainingDiverged, match=r"before saving step_00000004\.pt.*last good checkpoint: .*step_00000002"):
        train(_cfg(tmp_path, steps=6, max_nonfinite_steps=10, checkpoint_every=2), train_dataset=DiscDataset(4),
              model=model)
    saved = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert saved == ["step_00000002.pt"]
    for value in load_checkpoint(tmp_path / "checkpoints" / "step_00000002.pt")["model"].values():
        assert torch.isfinite(value.float()).all()
