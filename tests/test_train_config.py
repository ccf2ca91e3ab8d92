"""The one training-config schema: ranges checked at parse time, --set errors name the key, named configs
compose with partial overrides, and every shipped config loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellseg_nb.errors import ConfigError
from cellseg_nb.train.config import (apply_overrides, compose_config, config_from_dict, config_names,
                                     load_config, merge_overrides)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("override, key", [
    ("optim.lr=-1", "optim.lr"), ("optim.lr=.inf", "optim.lr"), ("optim.lr=.nan", "optim.lr"),
    ("optim.lr=0", "optim.lr"), ("optim.weight_decay=-0.1", "optim.weight_decay"),
    ("optim.momentum=1.5", "optim.momentum"), ("optim.grad_clip=0", "optim.grad_clip"),
    ("schedule.warmup_steps=-5", "schedule.warmup_steps"), ("schedule.gamma=0", "schedule.gamma"),
    ("schedule.min_lr_ratio=2", "schedule.min_lr_ratio"), ("schedule.milestones=[90, 80]", "schedule.milestones"),
    ("data.crop_size=0", "data.crop_size"), ("data.num_workers=-1", "data.num_workers"),
    ("steps=0", "steps"), ("batch_size=-2", "batch_size"), ("checkpoint_every=0", "checkpoint_every"),
    ("val_every=-1", "val_every"), ("log_every=0", "log_every"), ("seed=-1", "seed"),
    ("device=gpu0", "device"), ("val_metric=accuracy", "val_metric"), ("amp=fp8", "amp"),
])
def test_out_of_range_values_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=rf"^{key.replace('.', r'[.]')}: "):
        config_from_dict(apply_overrides({}, [override]))


def test_multistep_needs_milestones_and_valid_values_pass():
    with pytest.raises(ConfigError, match="schedule.milestones"):
        config_from_dict({"schedule": {"name": "multistep"}})
    cfg = config_from_dict(apply_overrides({}, ["optim.lr=3e-4", "schedule.name=multistep",
                                                "schedule.milestones=[80, 90]", "device=cuda:1", "seed=0"]))
    assert cfg.optim.lr == 3e-4 and cfg.schedule.milestones == [80, 90] and cfg.device == "cuda:1"


def test_a_set_value_that_is_not_yaml_names_the_key():
    with pytest.raises(ConfigError, match=r"--set optim.lr: value '\[1' is not valid YAML"):
        apply_overrides({}, ["optim.lr=[1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["optim.lr"])
    with pytest.raises(ConfigError, match="optim is not a mapping"):
        apply_overrides({"optim": 3}, ["optim.lr=1"])


def test_overrides_merge_nested_and_dotted_keys():
    data = {"model": {"name": "unet", "kwargs": {"width_mult": 1.0, "norm": "batch"}}, "steps": 10}
    merge_overrides(data, {"model": {"kwargs": {"width_mult": 0.5}}, "optim.lr": 0.5, "steps": 20})
    assert data == {"model": {"name": "unet", "kwargs": {"width_mult": 0.5, "norm": "batch"}},
                    "optim": {"lr": 0.5}, "steps": 20}
    with pytest.raises(ConfigError, match="expected a mapping"):
        merge_overrides(data, ["steps=3"])


def test_named_configs_compose_with_layers_and_set_strings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # names resolve from the repository's configs/ too
    cfg = compose_config("unet_deep", {"steps": 7}, {"optim.lr": 2e-3}, overrides=["batch_size=3"])
    assert (cfg.model.name, cfg.steps, cfg.optim.lr, cfg.batch_size) == ("unet_deep", 7, 2e-3, 3)
    assert cfg.schedule.warmup_steps == 500  # from configs/unet_deep.yaml
    with pytest.raises(ConfigError, match=r"unet_deep.yaml: steps: must be >= 1"):
        compose_config("unet_deep", {"steps": 0})
    with pytest.raises(ConfigError, match="known: .*centermask_v99.*unet"):
        compose_config("unet_huge")
    assert "demo" not in config_names() and {"unet", "ensemble", "centermask_v99"} <= set(config_names())


def test_every_shipped_training_config_loads_and_names_a_known_model():
    from cellseg_nb.models.registry import model_names, target_kind

    names = config_names()
    assert len(names) >= 7
    for name in names:
        cfg = load_config(name)
        assert cfg.model.name in model_names(), name
        if target_kind(cfg.model.name) == "instance":
            frozen = cfg.model.kwargs.get("frozen_bn", True)
            assert cfg.model.init_weights or not frozen, \
                f"{name}: frozen BatchNorm over a random backbone (give model.init_weights or frozen_bn: false)"


def test_every_centermask_entry_of_the_run_configs_names_init_weights_or_trains_its_batchnorm():
    """Run configs compose the training schema per notebook: check what 04 would train."""
    import yaml

    for path in sorted((REPO / "configs").glob("*.yaml")):
        run = yaml.safe_load(path.read_text())
        if "notebooks" not in run:
            continue
        for stem, params in run["notebooks"].items():
            for model in (params or {}).get("models") or []:
                if not model.startswith("centermask"):
                    continue
                base = (params.get("base_config") or "").format(model=model) or None
                cfg = compose_config(base, params.get("train"), (params.get("per_model") or {}).get(model))
                frozen = cfg.model.kwargs.get("frozen_bn", True)
                assert cfg.model.init_weights or not frozen, f"{path.name} {stem} {model}"


def test_init_weights_named_by_shipped_configs_are_model_zoo_entries_of_the_same_architecture():
    from cellseg_nb.weights import zoo_entries

    zoo = zoo_entries()
    named = {name: load_config(name) for name in config_names()}
    starts = {name: cfg.model.init_weights for name, cfg in named.items() if cfg.model.init_weights}
    assert starts == {"centermask_lite_v19_slim_dw": "imagenet-vovnet19-slim-dw-d2",
                      "centermask_v99": "imagenet-vovnet99-d2",
                      "centermask_lite_v19_slim_dw_coco": "coco-centermask-lite-v19-slim-dw",
                      "centermask_v99_coco": "coco-centermask-v99"}
    for name, weights in starts.items():
        assert weights in zoo and zoo[weights].model == named[name].model.name, name


def test_a_yaml_can_start_from_another(tmp_path, monkeypatch):
    """The COCO-start configs are LIVECell's with one key changed; chains are followed, loops refused."""
    coco, imagenet = load_config("centermask_v99_coco"), load_config("centermask_v99")
    assert coco.model.init_weights == "coco-centermask-v99" and coco.output_dir == "runs/centermask_v99_coco"
    assert (coco.schedule, coco.optim, coco.steps, coco.model.kwargs) == \
        (imagenet.schedule, imagenet.optim, imagenet.steps, imagenet.model.kwargs)
    (tmp_path / "a.yaml").write_text("base_config: b.yaml\nsteps: 3\n")
    (tmp_path / "b.yaml").write_text("base_config: a.yaml\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="loops back"):
        load_config("a.yaml")
    (tmp_path / "b.yaml").write_text("batch_size: 7\nsteps: 9\n")
    cfg = load_config("a.yaml")
    assert (cfg.steps, cfg.batch_size) == (3, 7)
