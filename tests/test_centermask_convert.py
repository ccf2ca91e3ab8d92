"""centermask2 / LIVECell key mapping: documented key names and shapes (spec §1.3, §6), counts, and a
strict round trip through a d2-style file (the weights package's own tests cover formats and errors)."""

from __future__ import annotations

import pytest
import torch

from cellseg_nb.errors import DataError
from cellseg_nb.models.centermask import build_centermask
from cellseg_nb.models.centermask.convert import (centermask2_key_to_ours, load_centermask2_checkpoint,
                                                  to_centermask2_state_dict)

from test_centermask_overfit import TINY

BB = "backbone.bottom_up."
V99_SHAPES = {
    BB + "stem.stem_1/conv.weight": (64, 3, 3, 3),
    BB + "stem.stem_3/conv.weight": (128, 64, 3, 3),
    BB + "stage2.OSA2_1.layers.0.OSA2_1_0/conv.weight": (128, 128, 3, 3),
    BB + "stage4.OSA4_2.layers.0.OSA4_2_0/conv.weight": (192, 768, 3, 3),
    BB + "stage4.OSA4_2.concat.OSA4_2_concat/conv.weight": (768, 1728, 1, 1),
    BB + "stage4.OSA4_2.ese.fc.weight": (768, 768, 1, 1),
    "backbone.fpn_lateral3.weight": (256, 512, 1, 1),
    "backbone.fpn_lateral5.weight": (256, 1024, 1, 1),
    "backbone.top_block.p7.weight": (256, 256, 3, 3),
    "proposal_generator.fcos_head.cls_tower.9.weight": (256, 256, 3, 3),
    "proposal_generator.fcos_head.cls_tower.10.weight": (256,),
    "proposal_generator.fcos_head.cls_logits.weight": (1, 256, 3, 3),
    "proposal_generator.fcos_head.ctrness.weight": (1, 256, 3, 3),
    "proposal_generator.fcos_head.scales.4.scale": (1,),
    "roi_heads.mask_head.mask_fcn4.weight": (256, 256, 3, 3),
    "roi_heads.mask_head.spatialAtt.conv.weight": (1, 2, 3, 3),
    "roi_heads.mask_head.deconv.weight": (256, 256, 2, 2),
    "roi_heads.mask_head.predictor.weight": (1, 256, 1, 1),
    "roi_heads.maskiou_head.maskiou_fcn1.weight": (256, 257, 3, 3),
    "roi_heads.maskiou_head.maskiou_fc1.weight": (1024, 12544),
    "roi_heads.maskiou_head.maskiou_fc2.weight": (1024, 1024),
    "roi_heads.maskiou_head.maskiou.weight": (1, 1024),
}
LITE_SHAPES = {
    BB + "stem.stem_2/dw_conv3x3.weight": (64, 1, 3, 3),
    BB + "stem.stem_2/pw_conv1x1.weight": (64, 64, 1, 1),
    BB + "stem.stem_2/pw_norm.running_var": (64,),
    BB + "stage3.OSA3_1.conv_reduction.OSA3_1_reduction_0/conv.weight": (80, 112, 1, 1),
    BB + "stage3.OSA3_1.conv_reduction.OSA3_1_reduction_0/norm.weight": (80,),
    BB + "stage3.OSA3_1.layers.0.OSA3_1_0/dw_conv3x3.weight": (80, 1, 3, 3),
    BB + "stage3.OSA3_1.layers.0.OSA3_1_0/pw_conv1x1.weight": (80, 80, 1, 1),
    BB + "stage2.OSA2_1.concat.OSA2_1_concat/conv.weight": (112, 256, 1, 1),
    BB + "stage2.OSA2_1.ese.fc.weight": (112, 112, 1, 1),
    "backbone.fpn_lateral3.weight": (128, 256, 1, 1),
    "backbone.fpn_lateral4.weight": (128, 384, 1, 1),
    "backbone.fpn_lateral5.weight": (128, 512, 1, 1),
    "proposal_generator.fcos_head.cls_tower.3.weight": (128, 128, 3, 3),
    "proposal_generator.fcos_head.bbox_tower.4.bias": (128,),
    "roi_heads.maskiou_head.maskiou_fc1.weight": (1024, 6272),
}


def _frozen_param_total(model: torch.nn.Module) -> float:
    """Parameters plus FrozenBN affine buffers, in millions (how the spec counts)."""
    return sum(v.numel() for k, v in model.state_dict().items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) / 1e6


@pytest.mark.slow
def test_v99_documented_keys_shapes_and_counts() -> None:
    model = build_centermask("centermask_v99")
    state = to_centermask2_state_dict(model)
    assert len(state) == 613
    for key, shape in V99_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert "roi_heads.mask_head.spatialAtt.conv.bias" not in state
    assert sum(1 for k in state if k.endswith("ese.fc.weight")) == 16  # eSE in every one of 16 OSA blocks
    assert _frozen_param_total(model) == pytest.approx(96.69, abs=0.01)


def test_lite_documented_keys_shapes_and_counts() -> None:
    state = to_centermask2_state_dict(build_centermask("centermask_lite_v19_slim_dw"))
    assert len(state) == 194
    for key, shape in LITE_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert _frozen_param_total(build_centermask("centermask_lite_v19_slim_dw", num_classes=80)) == \
        pytest.approx(11.18, abs=0.01)


def test_key_mapping_by_name() -> None:
    assert centermask2_key_to_ours(BB + "stage4.OSA4_2.concat.OSA4_2_concat/conv.weight") == \
        "backbone.body.stages_2.blocks.1.conv_concat.conv.weight"
    assert centermask2_key_to_ours(BB + "stem.stem_2/pw_norm.bias") == "backbone.body.stem_1.bn.bias"
    assert centermask2_key_to_ours(BB + "stage3.OSA3_1.layers.2.OSA3_1_2/dw_conv3x3.weight") == \
        "backbone.body.stages_1.blocks.0.conv_mid.2.conv_dw.weight"
    assert centermask2_key_to_ours("backbone.top_block.p6.bias") == "fpn.p6.bias"
    assert centermask2_key_to_ours("roi_heads.box_head.fc1.weight") is None


def test_round_trip_through_a_d2_file_is_strict(tmp_path) -> None:
    torch.manual_seed(1)
    source = build_centermask("centermask_lite_v19_slim_dw", **TINY).eval()
    state = to_centermask2_state_dict(source)
    state["pixel_mean"] = torch.full((3, 1, 1), 128.0)
    state["pixel_std"] = torch.full((3, 1, 1), 11.578)
    state["roi_heads.box_head.extra.weight"] = torch.zeros(2)
    del state["roi_heads.maskiou_head.maskiou.bias"]
    path = tmp_path / "model_final.pth"
    torch.save({"model": state, "iteration": 5}, path)
    torch.manual_seed(2)
    target = build_centermask("centermask_lite_v19_slim_dw", **TINY).eval()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(DataError, match=r"1 \(maskiou_head.maskiou.bias\) model key.*1 \(roi_heads.box_head.extra"):
        load_centermask2_checkpoint(target, path)
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in before.items())  # nothing half-loaded
    report = load_centermask2_checkpoint(target, path,
                                         allow_mismatch=["maskiou_head.maskiou.bias", "roi_heads.box_head.*"])
    assert report.unexpected == ["roi_heads.box_head.extra.weight"]
    assert report.missing == ["maskiou_head.maskiou.bias"]
    assert len(report.loaded) == 193 and report.pixel_std == pytest.approx([11.578] * 3)
    ours, theirs = source.state_dict(), target.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours if k != "maskiou_head.maskiou.bias")
    assert torch.equal(theirs["maskiou_head.maskiou.bias"], before["maskiou_head.maskiou.bias"])
    image = torch.rand(1, 1, 128, 128) * 255
    feats_a = source.fpn(source.backbone((image.repeat(1, 3, 1, 1) - 128) / 11.578))
    feats_b = target.fpn(target.backbone((image.repeat(1, 3, 1, 1) - 128) / 11.578))
    assert all(torch.equal(a, b) for a, b in zip(feats_a, feats_b))


def test_mapping_round_trips_every_key_of_both_presets() -> None:
    for preset in ("centermask_lite_v19_slim_dw", "centermask_v39"):
        model = build_centermask(preset)
        ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
        assert {centermask2_key_to_ours(k) for k in to_centermask2_state_dict(model)} == ours
