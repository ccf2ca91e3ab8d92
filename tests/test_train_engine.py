"""Training engine: configs, schedules, AMP/scaler/channels_last on CPU, non-finite guard, validation."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch

from cellseg_nb.errors import ConfigError, DataError
from cellseg_nb.train import NonFiniteLossError, config_from_dict, load_checkpoint, load_config, train
from cellseg_nb.train.config import ScheduleConfig
from cellseg_nb.train.runtime import lr_factor
from _train_helpers import DiscDataset, disc_gt

TINY = {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256]}}


def _cfg(out, **extra):
    base = {"model": TINY, "steps": 4, "batch_size": 2, "checkpoint_every": 2, "log_every": 1,
            "device": "cpu", "amp": "none", "output_dir": str(out), "progress": False}
    base.update(extra)
    return config_from_dict(base)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^optim\.betas: unknown key"):
        config_from_dict({"optim": {"betas": 1}})
    with pytest.raises(ConfigError, match=r"^steps: expected int"):
        config_from_dict({"steps": "ten"})
    with pytest.raises(ConfigError, match=r"^data\.crop_size: expected int, got bool"):
        config_from_dict({"data": {"crop_size": True}})
    with pytest.raises(ConfigError, match="schedule.name: must be one of"):
        config_from_dict({"schedule": {"name": "linear"}})
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\noptim:\n  lr: 0.1\n")
    cfg = load_config(path, ["optim.lr=3e-4", "model.kwargs={width_mult: 0.5}"])
    assert cfg.steps == 5 and cfg.optim.lr == 3e-4 and cfg.model.kwargs == {"width_mult": 0.5}
    with pytest.raises(ConfigError, match=r"c\.yaml: optim\.lr: expected float"):
        load_config(path, ["optim.lr=fast"])


def test_lr_schedules_hand_values():
    cos = ScheduleConfig(name="cosine", warmup_steps=4)
    assert [lr_factor(s, 14, cos) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(9, 14, cos) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert lr_factor(14, 14, cos) == pytest.approx(0.0)
    step = ScheduleConfig(name="step", step_size=3, gamma=0.5)
    assert [lr_factor(s, 10, step) for s in (0, 2, 3, 6)] == [1, 1, 0.5, 0.25]
    # LIVECell's CenterMask schedule shape: warm-up, then x0.1 at 80k and again at 90k (here 8 and 9)
    multi = ScheduleConfig(name="multistep", warmup_steps=2, milestones=[8, 9], gamma=0.1)
    assert [lr_factor(s, 10, multi) for s in (0, 1, 2, 7)] == [0.5, 1.0, 1.0, 1.0]
    assert lr_factor(8, 10, multi) == pytest.approx(0.1) and lr_factor(9, 10, multi) == pytest.approx(0.01)


@pytest.mark.parametrize("amp,channels_last,optim", [("bf16", True, "adamw"), ("fp16", False, "sgd")])
def test_amp_paths_run_on_cpu(tmp_path, amp, channels_last, optim):
    res = train(_cfg(tmp_path, amp=amp, channels_last=channels_last, optim={"name": optim, "lr": 0.01}),
                train_dataset=DiscDataset(4))
    ckpt = load_checkpoint(res.last_checkpoint)
    assert ckpt["step"] == 4
    assert (ckpt["scaler"] is not None) == (amp == "fp16")
    if amp == "fp16":
        assert ckpt["scaler"]["scale"] > 0
    log = [json.loads(x) for x in res.metrics_log.read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in log)


class _NaNAfter(torch.nn.Module):
    """Wraps a U-Net; its loss turns NaN from call ``bad_from`` on."""

    def __init__(self, inner, bad_from):
        super().__init__()
        self.inner, self.bad_from, self.calls = inner, bad_from, 0

    def forward(self, images, targets=None):
        out = self.inner(images, targets)
        self.calls += 1
        if self.training and self.calls > self.bad_from:
            out = {k: v * float("nan") for k, v in out.items()}
        return out


def test_nonfinite_steps_are_skipped_then_stop(tmp_path):
    from cellseg_nb.models import build_model

    inner = build_model("unet", **TINY["kwargs"])
    model = _NaNAfter(inner, bad_from=2)
    with pytest.raises(NonFiniteLossError, match="3 non-finite steps"):
        train(_cfg(tmp_path, steps=10, max_nonfinite_steps=2, checkpoint_every=1), train_dataset=DiscDataset(4),
              model=model)
    # the two good steps were checkpointed; the skipped ones left the weights finite and unchanged
    c2 = load_checkpoint(tmp_path / "checkpoints" / "step_00000002.pt")
    c4 = load_checkpoint(tmp_path / "checkpoints" / "step_00000004.pt")
    assert c4["nonfinite"] == 2
    for k, v in c2["model"].items():
        assert torch.equal(v, c4["model"][k]) and torch.isfinite(v.float()).all()


def test_validation_best_checkpoint_and_early_stopping(tmp_path):
    data = DiscDataset(4, flip=False)
    res = train(_cfg(tmp_path, steps=30, val_every=2, early_stopping_patience=2, val_metric="AP",
                     optim={"name": "adamw", "lr": 1e-30}),  # no change: the metric never improves
                train_dataset=data, val_dataset=data, val_gt=disc_gt(data))
    assert res.stopped_early and res.steps == 6
    assert res.best_checkpoint is not None and load_checkpoint(res.best_checkpoint)["step"] == 2
    vals = [json.loads(x) for x in res.metrics_log.read_text().splitlines() if '"val"' in x]
    assert [v["step"] for v in vals] == [2, 4, 6]
    assert {"AP", "F1", "AFNR", "pixel_F1"} <= set(vals[0])


def test_checkpoint_never_unpickles_objects(tmp_path):
    res = train(_cfg(tmp_path, steps=2), train_dataset=DiscDataset(4))
    ckpt = torch.load(res.last_checkpoint, weights_only=True)  # plain containers only
    assert ckpt["config"]["model"]["name"] == "unet" and ckpt["model_name"] == "unet"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    with open(bad, "wb") as fh:
        pickle.dump({"model_name": "unet", "model_kwargs": {}, "model": Evil()}, fh)
    with pytest.raises(DataError, match="cannot load checkpoint"):
        load_checkpoint(bad)


def test_dataset_smaller_than_batch_is_an_error(tmp_path):
    with pytest.raises(Exception, match="smaller than one batch"):
        train(_cfg(tmp_path, batch_size=8), train_dataset=DiscDataset(4))


class _EpochRecorder(DiscDataset):
    """Records which epoch each item was drawn in (datasets draw crops per seed, epoch and index)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epoch, self.seen = 0, []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i):
        self.seen.append(self.epoch)
        return super().__getitem__(i)


def test_each_epoch_reaches_the_datasets_inside_a_concat(tmp_path):
    """Without the epoch a dataset would give the same crop of each image for the whole run."""
    parts = [_EpochRecorder(4), _EpochRecorder(4)]
    data = torch.utils.data.ConcatDataset(parts)
    train(_cfg(tmp_path, steps=12, checkpoint_every=12), train_dataset=data)  # 8 items, batch 2: 3 epochs
    seen = sorted(set(parts[0].seen) | set(parts[1].seen))
    assert seen == [0, 1, 2]


def test_shipped_training_configs_load_and_name_known_models():
    from pathlib import Path

    import yaml

    from cellseg_nb.models.registry import model_names

    configs = [p for p in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
               if "model" in (yaml.safe_load(p.read_text()) or {})]
    assert {"unet.yaml", "centermask_v99.yaml", "centermask_lite_v19_slim_dw.yaml"} <= {p.name for p in configs}
    for path in configs:
        cfg = load_config(path)
        assert cfg.model.name in model_names(), path.name


@pytest.mark.parametrize("native,expected", [(True, "bf16"), (False, "none")])
def test_auto_amp_on_cpu_follows_native_bf16(monkeypatch, native, expected):
    """`amp: auto` on CPU is bf16 only where the CPU multiplies bf16 in hardware (emulated bf16 is slower)."""
    from cellseg_nb.train import runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    assert runtime.resolve_amp("auto", torch.device("cpu")) == expected
    assert runtime.resolve_amp("none", torch.device("cpu")) == "none"  # an explicit choice is kept
    assert runtime.resolve_amp("fp16", torch.device("cpu")) == "fp16"


def test_native_bf16_probe_reads_the_cpu_flags(monkeypatch):
    from cellseg_nb.train import runtime

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert runtime.cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert runtime.cpu_has_native_bf16() is True


@pytest.mark.parametrize("optim", ["adamw", "sgd"])
def test_optimizer_uses_fused_kernel_on_cpu_and_matches_plain(tmp_path, optim):
    """The fused optimizer (torch >= 2.4 on CPU) takes the same steps as the plain one."""
    from cellseg_nb.train.engine import _fused_if_supported

    cls = torch.optim.AdamW if optim == "adamw" else torch.optim.SGD
    kwargs = {"lr": 0.1, "weight_decay": 1e-2, **({"momentum": 0.9} if optim == "sgd" else {})}
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(5))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    fused, plain = _fused_if_supported(cls, a, kwargs), cls(b, **kwargs)
    assert fused.defaults.get("fused") is True
    for _ in range(3):
        for p, q in zip(a, b):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        fused.step()
        plain.step()
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
