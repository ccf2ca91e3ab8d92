"""The notebook-side training helper: the configs it builds pass the training engine's own validation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from cellseg_nb.errors import ConfigError
from cellseg_nb.pipeline import training


def settings(tmp_path: Path, **changes) -> training.TrainSettings:
    root = tmp_path / "data"
    (root / "annotations" / "LIVECell").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "LIVECell" / "livecell_coco_val.json").write_text("{}")
    return training.TrainSettings(str(root), str(tmp_path / "runs" / "r"), **changes)


def test_config_is_accepted_by_the_engine_and_points_into_the_run(tmp_path):
    from cellseg_nb.train import config_from_dict

    s = settings(tmp_path, steps=40, batch_size=2, crop_size=128, lr=3e-4, val_every=20, seed=4,
                 model_kwargs={"width_mult": 0.25})
    cfg = config_from_dict(training.train_config("unet_deep", "original", s))
    assert cfg.model.name == "unet_deep" and cfg.model.kwargs == {"width_mult": 0.25}
    assert cfg.steps == 40 and cfg.batch_size == 2 and cfg.data.crop_size == 128 and cfg.optim.lr == 3e-4
    assert cfg.seed == 4 and cfg.checkpoint_every == 40 and cfg.data.synthetic is None
    assert Path(cfg.output_dir) == tmp_path / "runs" / "r" / "models" / "unet_deep"
    assert cfg.data.train_annotations.endswith("annotations/LIVECell/livecell_coco_train.json")
    assert cfg.data.val_annotations.endswith("livecell_coco_val.json")
    no_val = config_from_dict(training.train_config("unet", "original", settings(tmp_path, val_every=0)))
    assert no_val.data.val_annotations is None


def test_extended_data_needs_notebook_02_and_gets_its_own_label(tmp_path):
    s = settings(tmp_path)
    with pytest.raises(ConfigError, match="run notebook 02 first"):
        training.train_config("unet", "extended", s)
    (Path(s.run_dir) / "synthetic").mkdir(parents=True)
    cfg = training.train_config("unet", "extended", s)
    assert cfg["data"]["synthetic"] == str(Path(s.run_dir) / "synthetic")
    assert cfg["output_dir"].endswith("models/unet_synth")
    assert training.variant_label("unet", "original") == "unet"
    with pytest.raises(ConfigError, match="train_data must be one of"):
        training.variant_label("unet", "synthetic")


def test_history_reads_the_engine_log(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"step": 10, "split": "train", "loss": 1.5}, {"step": 20, "split": "train", "loss": 0.75},
        {"step": 20, "split": "val", "AP": 0.1}]) + "\n")
    history = training.read_history(log, "unet")
    assert list(history["loss"].dropna()) == [1.5, 0.75] and set(history["model"]) == {"unet"}
    assert training.read_history(tmp_path / "missing.jsonl", "x").empty


def test_schedule_weight_decay_and_workers_reach_the_engine(tmp_path):
    from cellseg_nb.train import config_from_dict

    s = settings(tmp_path, steps=50, warmup_steps=7, weight_decay=0.05, num_workers=2)
    cfg = config_from_dict(training.train_config("unet", "original", s))
    assert cfg.schedule.warmup_steps == 7 and cfg.schedule.name == "cosine"
    assert cfg.optim.weight_decay == 0.05 and cfg.data.num_workers == 2 and cfg.checkpoint_every == 50
    livecell = settings(tmp_path, steps=100, lr=0.01, checkpoint_every=20,
                        optim={"name": "sgd", "momentum": 0.9, "grad_clip": None},
                        schedule={"name": "multistep", "milestones": [80, 90], "gamma": 0.1})
    cfg = config_from_dict(training.train_config("centermask_v99", "original", livecell))
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.optim.grad_clip) == ("sgd", 0.01, 0.9, None)
    assert cfg.schedule.name == "multistep" and cfg.schedule.milestones == [80, 90] and cfg.checkpoint_every == 20
    with pytest.raises(ConfigError, match="optim.nesterov: unknown key"):
        config_from_dict(training.train_config("unet", "original", settings(tmp_path, optim={"nesterov": True})))


def test_per_model_settings_replace_fields_and_merge_model_kwargs(tmp_path):
    s = settings(tmp_path, batch_size=16, model_kwargs={"width_mult": 1.0, "norm": "batch"}, optim={"grad_clip": 1.0},
                 per_model={"unet_deep": {"batch_size": 8, "model_kwargs": {"width_mult": 0.5},
                                          "optim": {"name": "sgd"}}})
    deep, plain = s.for_model("unet_deep"), s.for_model("unet")
    assert deep.batch_size == 8 and deep.model_kwargs == {"width_mult": 0.5, "norm": "batch"}
    assert deep.optim == {"grad_clip": 1.0, "name": "sgd"}
    assert plain == s
    bad = settings(tmp_path, per_model={"unet": {"batch": 8}})
    with pytest.raises(ConfigError, match=r"per_model\.unet: unknown setting\(s\) batch"):
        bad.for_model("unet")


def test_history_final_loss_is_the_mean_of_the_last_fifth():
    history = pd.DataFrame([{"step": k, "split": "train", "loss": float(k)} for k in range(1, 11)]
                           + [{"step": 10, "split": "val", "AP": 0.5}])
    model = training.TrainedModel("unet", "unet", "original", None, Path("p.json"), history, 1.0, 0.1)
    assert model.final_loss == pytest.approx(9.5)  # steps 9 and 10
    assert training.TrainedModel("u", "unet", "original", None, Path("p"), pd.DataFrame(), 0, 0).final_loss is None


def test_a_rerun_clears_the_previous_metrics_log_and_checkpoints(tmp_path):
    out = tmp_path / "models" / "unet"
    (out / "checkpoints").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 1, "split": "train", "loss": 1.0}\n')
    (out / "checkpoints" / "step_00000001.pt").write_bytes(b"x")
    (out / "keep.txt").write_text("not ours")
    training.clear_previous_run(out)
    assert not (out / "metrics.jsonl").exists() and not list((out / "checkpoints").glob("*.pt"))
    assert (out / "keep.txt").exists()
    training.clear_previous_run(tmp_path / "never_trained")  # nothing there: no error


def _save_cellseg_checkpoint(path: Path, name: str, kwargs: dict):
    import torch

    from cellseg_nb.models.registry import build_model
    from cellseg_nb.train.checkpoint import save_checkpoint

    torch.manual_seed(1)
    model = build_model(name, **kwargs)
    save_checkpoint(path, {"model_name": name, "model_kwargs": kwargs, "model": model.state_dict()})
    return model


def test_initial_weights_from_a_cellseg_checkpoint(tmp_path):
    import torch

    from cellseg_nb.errors import DataError

    source = _save_cellseg_checkpoint(tmp_path / "u.pt", "unet", {"width_mult": 0.125})
    s = settings(tmp_path, model_kwargs={"width_mult": 0.125}, init_checkpoint=str(tmp_path / "u.pt"))
    net, reports = training.initial_model("unet", s)
    assert reports[0]["format"] == "cellseg-nb" and reports[0]["missing"] == 0 and reports[0]["unexpected"] == 0
    for (key, mine), theirs in zip(net.state_dict().items(), source.state_dict().values()):
        assert torch.equal(mine, theirs), key
    assert training.initial_model("unet", settings(tmp_path)) == (None, [])
    wider = settings(tmp_path, model_kwargs={"width_mult": 0.25}, init_checkpoint=str(tmp_path / "u.pt"))
    with pytest.raises(DataError, match="does not fit this model"):
        training.initial_model("unet", wider)
    with pytest.raises(DataError, match="not found"):
        training.initial_model("unet", settings(tmp_path, init_checkpoint=str(tmp_path / "missing.pt")))


def test_timm_backbone_and_centermask2_files_are_told_apart(tmp_path):
    import timm
    import torch

    from cellseg_nb.errors import DataError
    from cellseg_nb.models.centermask import build_centermask
    from cellseg_nb.models.centermask.convert import to_centermask2_state_dict

    assert training.looks_like_timm_backbone({"stem.0.conv.weight": 0, "head.fc.weight": 0})
    assert training.looks_like_timm_backbone({"state_dict": {"module.stages.0.blocks.0.x": 0}})
    assert not training.looks_like_timm_backbone({"model": {"backbone.bottom_up.stem.x": 0}})
    assert not training.looks_like_timm_backbone({})

    trunk = timm.create_model("ese_vovnet19b_slim_dw", pretrained=False)
    torch.nn.init.constant_(trunk.stem[0].conv.weight, 0.25)
    torch.save(trunk.state_dict(), tmp_path / "timm.pth")
    lite = build_centermask("centermask_lite_v19_slim_dw", frozen_bn=False)
    report = training.load_initial_weights(lite, tmp_path / "timm.pth")
    assert report["format"] == "timm backbone" and report["missing"] == 0
    assert torch.all(lite.backbone.body.stem_0.conv.weight == 0.25)

    torch.save({"model": to_centermask2_state_dict(lite)}, tmp_path / "d2.pth")
    other = build_centermask("centermask_lite_v19_slim_dw", frozen_bn=False)
    report = training.load_initial_weights(other, tmp_path / "d2.pth")
    assert report["format"] == "centermask2" and report["missing"] == 0 and report["shape_mismatch"] == 0
    theirs = lite.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in other.state_dict().items()
               if not k.endswith("num_batches_tracked"))

    unet = _save_cellseg_checkpoint(tmp_path / "u.pt", "unet", {"width_mult": 0.125})
    with pytest.raises(DataError, match="only fit CenterMask"):
        training.load_initial_weights(unet, tmp_path / "d2.pth")


@pytest.mark.slow
def test_train_validate_predict_then_fine_tune(tmp_path, demo_root):
    """Two tiny runs through train_variants: from scratch with validation, then fine-tuned from the first
    run's checkpoint; each leaves predictions and only its own learning curve."""
    from cellseg_nb.data.splits import load_split

    eval_data = load_split(demo_root, "test", max_images=2)
    s = training.TrainSettings(str(demo_root), str(tmp_path / "run"), steps=2, batch_size=2, crop_size=64,
                               val_every=2, device="cpu", model_kwargs={"width_mult": 0.125})
    first, = training.train_variants(["unet"], ["original"], s, eval_data)
    assert first.predictions == tmp_path / "run" / "predictions" / "unet.json" and first.predictions.is_file()
    assert set(training.learning_table([first], "val")["step"]) == {2}
    assert first.result.best_checkpoint is not None
    tuned, = training.train_variants(["unet"], ["original"],
                                     replace(s, val_every=0, init_checkpoint=str(first.result.last_checkpoint)),
                                     eval_data)
    row = training.training_summary([tuned]).iloc[0]
    assert row["initial weights"] == "cellseg-nb" and row["steps"] == 2 and row["final train loss"] > 0
    assert list(training.learning_table([tuned], "train")["step"]) == [1, 2]  # the first run's log is gone
    assert training.learning_table([tuned], "val").empty
