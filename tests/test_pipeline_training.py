"""The notebook-side training helper: the configs it builds pass the training engine's own validation."""

from __future__ import annotations

import json
from pathlib import Path

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
