"""The notebook-side training helper: the configs it builds pass the training engine's own validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cellseg_nb.errors import ConfigError
from cellseg_nb.pipeline import training


def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "annotations" / "LIVECell").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "LIVECell" / "livecell_coco_val.json").write_text("{}")
    return root


def plan(tmp_path: Path, models=("unet",), train_data=("original",), **kwargs) -> list[training.Variant]:
    return training.plan_variants(list(models), list(train_data), data_root=data_root(tmp_path),
                                  run_dir=tmp_path / "runs" / "r", **kwargs)


def test_config_is_validated_and_points_into_the_run(tmp_path):
    variant, = plan(tmp_path, ["unet_deep"], seed=4, device="cpu",
                    train={"steps": 40, "batch_size": 2, "data": {"crop_size": 128}, "optim.lr": 3e-4,
                           "val_every": 20, "model": {"kwargs": {"width_mult": 0.25}}})
    cfg = variant.config
    assert variant.label == "unet_deep" and cfg.model.name == "unet_deep" and cfg.model.kwargs == {"width_mult": 0.25}
    assert cfg.steps == 40 and cfg.batch_size == 2 and cfg.data.crop_size == 128 and cfg.optim.lr == 3e-4
    assert cfg.seed == 4 and cfg.device == "cpu" and cfg.data.synthetic is None
    assert Path(cfg.output_dir) == tmp_path / "runs" / "r" / "models" / "unet_deep"
    assert variant.predictions == tmp_path / "runs" / "r" / "predictions" / "unet_deep.json"
    assert cfg.data.train_annotations.endswith("annotations/LIVECell/livecell_coco_train.json")
    assert cfg.data.val_annotations.endswith("livecell_coco_val.json")
    no_val, = plan(tmp_path, train={"val_every": 0})
    assert no_val.config.data.val_annotations is None


def test_extended_data_needs_notebook_02_and_gets_its_own_label(tmp_path):
    with pytest.raises(ConfigError, match="run notebook 02 first"):
        plan(tmp_path, train_data=["extended"])
    (tmp_path / "runs" / "r" / "synthetic").mkdir(parents=True)
    original, extended = plan(tmp_path, train_data=["original", "extended"])
    assert extended.config.data.synthetic == str(tmp_path / "runs" / "r" / "synthetic")
    assert extended.label == "unet_synth" and extended.config.output_dir.endswith("models/unet_synth")
    assert original.label == "unet" and original.config.data.synthetic is None
    with pytest.raises(ConfigError, match="train_data must be one of"):
        training.variant_label("unet", "synthetic")


def test_a_named_base_config_is_the_same_schema_as_cellseg_nb_train(tmp_path):
    """``base_config`` "{model}" picks configs/<model>.yaml; ``train`` and ``per_model`` override it and
    the run's own keys (paths, device, seed) win over the YAML's."""
    from cellseg_nb.train import load_config

    deep, ens = plan(tmp_path, ["unet_deep", "ensemble"], base_config="{model}", device="cpu",
                     train={"steps": 50}, per_model={"ensemble": {"optim": {"lr": 5e-4}}})
    yaml_deep = load_config("configs/unet_deep.yaml")
    assert deep.config.batch_size == yaml_deep.batch_size == 8 and deep.config.steps == 50
    assert deep.config.schedule == yaml_deep.schedule and deep.config.model.kwargs == yaml_deep.model.kwargs
    assert ens.config.model.kwargs["base"] == "unet_deep" and ens.config.optim.lr == 5e-4
    assert deep.config.device == "cpu" and deep.config.data.images == str(data_root(tmp_path) / "images")


def test_bad_keys_and_values_name_the_variant_and_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"variant unet: optim.nesterov: unknown key"):
        plan(tmp_path, train={"optim": {"nesterov": True}})
    with pytest.raises(ConfigError, match=r"variant unet: optim.lr: must be a finite number > 0"):
        plan(tmp_path, train={"optim.lr": -1})
    with pytest.raises(ConfigError, match=r"per_model: unet_deep not among the models"):
        plan(tmp_path, per_model={"unet_deep": {"batch_size": 8}})
    with pytest.raises(ConfigError, match=r"no such config file, nor a name in configs/"):
        plan(tmp_path, base_config="no_such_config")


def test_per_model_changes_merge_into_train(tmp_path):
    deep, plain = plan(tmp_path, ["unet_deep", "unet"],
                       train={"batch_size": 16, "model": {"kwargs": {"width_mult": 1.0, "norm": "batch"}},
                              "optim": {"grad_clip": 1.0}},
                       per_model={"unet_deep": {"batch_size": 8, "model.kwargs": {"width_mult": 0.5},
                                                "optim": {"name": "sgd"}}})
    assert deep.config.batch_size == 8 and deep.config.model.kwargs == {"width_mult": 0.5, "norm": "batch"}
    assert (deep.config.optim.name, deep.config.optim.grad_clip) == ("sgd", 1.0)
    assert plain.config.batch_size == 16 and plain.config.optim.name == "adamw"
    table = training.plan_table([deep, plain])
    assert list(table["batch"]) == [8, 16] and list(table["model"]) == ["unet_deep", "unet"]


def test_history_reads_the_engine_log(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"step": 10, "split": "train", "loss": 1.5}, {"step": 20, "split": "train", "loss": 0.75},
        {"step": 20, "split": "val", "AP": 0.1}]) + "\n")
    history = training.read_history(log, "unet")
    assert list(history["loss"].dropna()) == [1.5, 0.75] and set(history["model"]) == {"unet"}
    assert training.read_history(tmp_path / "missing.jsonl", "x").empty


def test_livecell_schedule_reaches_the_engine(tmp_path):
    v99, = plan(tmp_path, ["centermask_v99"], train={
        "steps": 100, "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "grad_clip": None},
        "schedule": {"name": "multistep", "milestones": [80, 90], "gamma": 0.1, "warmup_steps": 7},
        "checkpoint_every": 20, "data.num_workers": 2, "optim.weight_decay": 0.05})
    cfg = v99.config
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.optim.grad_clip) == ("sgd", 0.01, 0.9, None)
    assert cfg.schedule.name == "multistep" and cfg.schedule.milestones == [80, 90] and cfg.checkpoint_every == 20
    assert cfg.schedule.warmup_steps == 7 and cfg.optim.weight_decay == 0.05 and cfg.data.num_workers == 2


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


@pytest.mark.slow
def test_train_validate_predict_then_fine_tune(tmp_path, demo_root):
    """Two tiny runs through train_variants: from scratch with validation, then fine-tuned from the first
    run's checkpoint (``model.init_weights``); each leaves predictions and only its own learning curve."""
    import torch

    from cellseg_nb.data.splits import load_split

    eval_data = load_split(demo_root, "test", max_images=2)
    train = {"steps": 2, "batch_size": 2, "data.crop_size": 64, "val_every": 2, "log_every": 1,
             "model": {"kwargs": {"width_mult": 0.125}}}
    kw = dict(data_root=demo_root, run_dir=tmp_path / "run", device="cpu")
    first, = training.train_variants(training.plan_variants(["unet"], ["original"], train=train, **kw), eval_data)
    assert first.predictions == tmp_path / "run" / "predictions" / "unet.json" and first.predictions.is_file()
    assert set(training.learning_table([first], "val")["step"]) == {2}
    assert first.result.best_checkpoint is not None
    assert training.training_summary([first]).iloc[0]["initial weights"] == "random"
    start = torch.load(first.result.last_checkpoint, weights_only=True)["model"]
    tuned_plan = training.plan_variants(["unet"], ["original"], **kw, train={
        **train, "val_every": 0, "model.init_weights": str(first.result.last_checkpoint)})
    tuned, = training.train_variants(tuned_plan, eval_data)
    assert tuned.init is not None and len(tuned.init.loaded) == len([k for k in start if "num_batches" not in k])
    row = training.training_summary([tuned]).iloc[0]
    assert row["initial weights"].startswith(first.result.last_checkpoint.name) and row["steps"] == 2 and row["final train loss"] > 0
    assert list(training.learning_table([tuned], "train")["step"]) == [1, 2]  # the first run's log is gone
    assert training.learning_table([tuned], "val").empty


def test_a_single_line_trains_on_its_own_file_or_the_filtered_wide_one(tmp_path):
    root = data_root(tmp_path)
    wide, = plan(tmp_path, cell_type="SH-SY5Y", per_line={"SHSY5Y": {"steps": 77}, "A172": {"steps": 5}})
    assert wide.label == "unet_SHSY5Y" and wide.cell_type == "SHSY5Y" and wide.config.steps == 77
    assert wide.config.data.cell_types == ["SHSY5Y"]
    assert wide.config.data.train_annotations.endswith("annotations/LIVECell/livecell_coco_train.json")
    own = root / "annotations" / "LIVECell_single_cells" / "shsy5y" / "train.json"
    own.parent.mkdir(parents=True)
    own.write_text("{}")
    single, = plan(tmp_path, cell_type="SHSY5Y")
    assert single.config.data.train_annotations == str(own) and single.config.steps == 1000
    assert single.predictions == tmp_path / "runs" / "r" / "predictions" / "single_type" / "unet_SHSY5Y.json"
