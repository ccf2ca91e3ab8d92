"""Transfer learning as the study did it: an 80-class COCO CenterMask into a 1-class one re-initialises exactly
the class-specific layers and loads the rest bit-exactly; frozen BatchNorm over a random backbone is refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cellseg_nb.errors import ConfigError
from cellseg_nb.models.centermask import build_centermask
from cellseg_nb.models.centermask.convert import to_centermask2_state_dict
from cellseg_nb.weights import CLASS_SPECIFIC, WeightsError, check_frozen_bn, init_weights, load_model

from test_weights_formats import LITE, SMALL, backbone_only, save_d2


def test_coco_80_classes_into_one_reinitialises_exactly_the_class_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    coco = build_centermask(LITE, num_classes=80, **SMALL)
    path = save_d2(tmp_path / "coco.pth", to_centermask2_state_dict(coco))
    torch.manual_seed(1)
    target = build_centermask(LITE, **SMALL)
    with torch.no_grad():  # a model whose class layers moved away from their initialisation
        target.fcos_head.cls_logits.bias.fill_(5.0)
        target.mask_head.predictor.weight.fill_(1.0)
        target.maskiou_head.maskiou.bias.fill_(2.0)
    report = init_weights(target, path)
    assert report.reinitialised == list(CLASS_SPECIFIC)
    assert sorted(report.shape_mismatch) == sorted(f"{m}.{p}" for m in CLASS_SPECIFIC for p in ("weight", "bias"))
    assert len(report.loaded) == 194 - 6 and not report.missing and not report.unexpected
    theirs = coco.state_dict()
    for key, value in target.state_dict().items():
        if not key.startswith(CLASS_SPECIFIC):
            assert torch.equal(value, theirs[key]), key
    # the model's own initialisation (spec §2.2-3.4): FCOS prior bias -log(99), weights N(0, 0.01);
    # mask predictor N(0, 0.001), bias 0; MaskIoU output N(0, 0.01), bias 0
    head = target.fcos_head.cls_logits
    assert head.weight.shape == (1, 128, 3, 3)
    assert torch.allclose(head.bias, torch.full((1,), -math.log(99.0)))
    assert 0.007 < float(head.weight.std()) < 0.013
    assert torch.all(target.mask_head.predictor.bias == 0) and float(target.mask_head.predictor.weight.std()) < 0.002
    assert target.mask_head.predictor.weight.shape == (1, 128, 1, 1)
    assert torch.all(target.maskiou_head.maskiou.bias == 0)
    assert 0.007 < float(target.maskiou_head.maskiou.weight.std()) < 0.013


def test_same_number_of_classes_is_not_reinitialised_and_other_mismatches_still_fail(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = build_centermask(LITE, **SMALL)
    path = save_d2(tmp_path / "one.pth", to_centermask2_state_dict(source))
    target = build_centermask(LITE, **SMALL)
    report = init_weights(target, path)
    assert report.reinitialised == [] and torch.equal(target.fcos_head.cls_logits.weight,
                                                      source.fcos_head.cls_logits.weight)
    coco = build_centermask(LITE, num_classes=80, fpn_channels=64, **SMALL)
    with pytest.raises(WeightsError, match="another shape"):
        init_weights(build_centermask(LITE, **SMALL), save_d2(tmp_path / "narrow.pth", to_centermask2_state_dict(coco)))


def test_fine_tuning_reports_the_files_normalisation_and_checks_it_only_when_asked(tmp_path: Path) -> None:
    torch.manual_seed(3)
    coco = build_centermask(LITE, num_classes=80, **SMALL)
    path = save_d2(tmp_path / "coco.pth", to_centermask2_state_dict(coco), mean=[103.53, 116.28, 123.675], std=1.0)
    report = init_weights(build_centermask(LITE, **SMALL), path)  # LIVECell fine-tuned with its own 128 / 11.578
    assert report.pixel_mean == pytest.approx([103.53, 116.28, 123.675]) and report.pixel_std == [1.0] * 3
    with pytest.raises(WeightsError, match="pixel_mean=114.495 pixel_std=1.0"):
        init_weights(build_centermask(LITE, **SMALL), path, check_normalisation=True)


def test_frozen_bn_over_a_random_backbone_is_a_config_error(tmp_path: Path) -> None:
    model = build_centermask(LITE, **SMALL)
    assert model.config.frozen_bn
    with pytest.raises(ConfigError, match=r"model.init_weights.*frozen_bn: false"):
        check_frozen_bn(model)
    check_frozen_bn(build_centermask(LITE, frozen_bn=False, **SMALL))  # trains its BatchNorm: fine
    source = build_centermask(LITE, **SMALL)
    imagenet = save_d2(tmp_path / "imagenet.pth", backbone_only(to_centermask2_state_dict(source)), wrap=False)
    init_weights(model, imagenet)
    check_frozen_bn(model)
    built_with_checkpoint = build_centermask(LITE, backbone_checkpoint=str(imagenet), **SMALL)
    check_frozen_bn(built_with_checkpoint)
    predicted, _ = load_model(save_d2(tmp_path / "full.pth", to_centermask2_state_dict(source)), **SMALL)
    check_frozen_bn(predicted)


def test_train_refuses_frozen_bn_over_a_random_backbone_before_any_step(tmp_path: Path) -> None:
    from cellseg_nb.train import train

    config = {"model": {"name": LITE, "kwargs": dict(SMALL)}, "output_dir": str(tmp_path / "run"), "steps": 1}
    with pytest.raises(ConfigError, match="frozen BatchNorm"):
        train(config)
    assert not (tmp_path / "run" / "checkpoints").exists()
