"""Dataclass configuration of CenterMask and the named presets.

Defaults are the LIVECell anchor-free settings (spec livecell.md, centermask.md §4): one class, FCOS
pre-NMS top-k 2000/4000, post-NMS 15000/3000, ROI batch 3000, mean 128 / std 11.578, multi-scale
short sides (440..620), test short side 800 (max 1333), detections capped at 2000 per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from cellseg_nb.errors import ConfigError

#: timm model names of the VoVNetV2 backbones (spec §1.2).
BACKBONES = ("ese_vovnet19b_slim_dw", "ese_vovnet19b_slim", "ese_vovnet19b_dw",
             "ese_vovnet39b", "ese_vovnet57b", "ese_vovnet99b")


@dataclass(frozen=True)
class CenterMaskConfig:
    """Every setting of the CenterMask model; `build_centermask(preset, **overrides)` replaces fields."""

    # backbone (timm VoVNetV2, C3-C5)
    backbone: str = "ese_vovnet99b"
    ese_every_block: bool = True          # centermask2 puts eSE in every OSA block (timm: last block only)
    frozen_bn: bool = True                # MODEL.VOVNET.NORM FrozenBN
    backbone_checkpoint: str | None = None  # timm checkpoint file on disk (no hub access)
    # FPN
    fpn_channels: int = 256
    # FCOS
    num_classes: int = 1
    fcos_num_convs: int = 4               # per tower (cls and box)
    fpn_strides: tuple[int, ...] = (8, 16, 32, 64, 128)
    sizes_of_interest: tuple[tuple[float, float], ...] = (
        (-1.0, 64.0), (64.0, 128.0), (128.0, 256.0), (256.0, 512.0), (512.0, 1e8))
    center_sample_radius: float = 1.5
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    prior_prob: float = 0.01
    inference_threshold: float = 0.05
    pre_nms_topk_train: int = 2000
    pre_nms_topk_test: int = 4000
    post_nms_topk_train: int = 15000
    post_nms_topk_test: int = 3000
    nms_threshold: float = 0.6
    detections_per_image: int = 2000      # evaluation cap (LIVECell maxDets 2000)
    # mask branch
    pooler_resolution: int = 14
    mask_num_convs: int = 4
    mask_conv_dim: int = 256
    maskiou_num_convs: int = 4
    maskiou_conv_dim: int = 256
    maskiou_on: bool = True
    maskiou_loss_weight: float = 1.0
    roi_batch_size_per_image: int = 3000
    roi_positive_fraction: float = 0.25
    roi_iou_threshold: float = 0.5
    mask_threshold: float = 0.5
    #: Platt scaling of the mask score, ``sigmoid(a + b * logit(score))`` with ``(a, b)``, b > 0 (the ranking
    #: is unchanged, AP too): fitted on validation images after training (cellseg_nb.train.calibrate) so a
    #: score estimates the chance of matching a cell at IoU >= 0.5, as the U-Nets' calibrated scores do
    score_calibration: tuple[float, float] | None = None
    # input
    pixel_mean: float = 128.0
    pixel_std: float = 11.578
    train_min_sizes: tuple[int, ...] = (440, 480, 520, 560, 580, 620)
    train_max_size: int = 1333
    test_min_size: int = 800
    test_max_size: int = 1333
    size_divisibility: int = 32
    tile_large_images: bool = True        # images larger than the test size are cut into test-size tiles
    tile_overlap: int = 64
    seed: int = 0                         # training-size choice and ROI subsampling

    def validate(self) -> "CenterMaskConfig":
        """Raise ConfigError naming the key when a value is out of range; return self."""
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone: unknown {self.backbone!r}; choose one of {BACKBONES}")
        positive = ("fpn_channels", "num_classes", "fcos_num_convs", "pooler_resolution", "mask_num_convs",
                    "mask_conv_dim", "maskiou_num_convs", "maskiou_conv_dim", "roi_batch_size_per_image",
                    "test_min_size", "test_max_size", "train_max_size", "size_divisibility",
                    "pre_nms_topk_train", "pre_nms_topk_test", "post_nms_topk_train", "post_nms_topk_test",
                    "detections_per_image")
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if self.fpn_channels % 32:
            raise ConfigError(f"fpn_channels: GroupNorm(32) needs a multiple of 32, got {self.fpn_channels}")
        if len(self.fpn_strides) != 5 or len(self.sizes_of_interest) != 5:
            raise ConfigError("fpn_strides / sizes_of_interest: need 5 levels (P3-P7)")
        if not self.train_min_sizes or min(self.train_min_sizes) <= 0:
            raise ConfigError(f"train_min_sizes: need positive sizes, got {self.train_min_sizes!r}")
        if self.pixel_std <= 0:
            raise ConfigError(f"pixel_std: must be > 0, got {self.pixel_std}")
        if not 0 < self.roi_positive_fraction <= 1:
            raise ConfigError(f"roi_positive_fraction: must be in (0, 1], got {self.roi_positive_fraction}")
        if self.maskiou_num_convs < 1:
            raise ConfigError("maskiou_num_convs: need at least one conv (the last has stride 2)")
        if self.score_calibration is not None:
            cal = tuple(float(v) for v in self.score_calibration)
            if len(cal) != 2 or not all(math.isfinite(v) for v in cal) or cal[1] <= 0:
                raise ConfigError(f"score_calibration: need (a, b), finite, b > 0, got {self.score_calibration!r}")
        if self.tile_overlap < 0 or self.tile_overlap >= self.test_min_size:
            raise ConfigError(f"tile_overlap: must be in [0, test_min_size), got {self.tile_overlap}")
        return self


_LITE = dict(backbone="ese_vovnet19b_slim_dw", fpn_channels=128, fcos_num_convs=2, mask_num_convs=2,
             mask_conv_dim=128, maskiou_num_convs=2, maskiou_conv_dim=128)
_BIG = dict(fpn_channels=256, fcos_num_convs=4, mask_num_convs=4, mask_conv_dim=256,
            maskiou_num_convs=4, maskiou_conv_dim=256)

#: Named presets: dicts of CenterMaskConfig fields (LIVECell settings are the config defaults).
CENTERMASK_PRESETS: dict[str, dict[str, Any]] = {
    "centermask_lite_v19_slim_dw": dict(_LITE),
    "centermask_v39": dict(_BIG, backbone="ese_vovnet39b"),
    "centermask_v57": dict(_BIG, backbone="ese_vovnet57b"),
    "centermask_v99": dict(_BIG, backbone="ese_vovnet99b"),
}

#: Overrides for a small CPU: process LIVECell images at native size (no x1.54 upscaling), fewer candidates
#: per level; still at least 2000 detections per image after NMS, as LIVECell's evaluation (maxDets 2000)
#: needs on its densest images.
SMALL_CPU_OVERRIDES: dict[str, Any] = dict(train_min_sizes=(520,), train_max_size=704, test_min_size=520,
                                           test_max_size=704, pre_nms_topk_test=1000, post_nms_topk_test=2000,
                                           roi_batch_size_per_image=512)

#: Fewest detections per image a configuration used for evaluation may keep (LIVECell's maxDets).
MIN_EVAL_DETECTIONS = 2000


def make_config(preset: str, **overrides: Any) -> CenterMaskConfig:
    """Config of a named preset with `overrides` applied (unknown keys raise ConfigError)."""
    if preset not in CENTERMASK_PRESETS:
        raise ConfigError(f"preset: unknown {preset!r}; choose one of {sorted(CENTERMASK_PRESETS)}")
    known = {f.name for f in fields(CenterMaskConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown CenterMask config key(s) {unknown}")
    values = {**CENTERMASK_PRESETS[preset], **overrides}
    for key in ("train_min_sizes", "fpn_strides"):
        if key in values:
            values[key] = tuple(int(v) for v in values[key])
    if values.get("score_calibration") is not None:
        values["score_calibration"] = tuple(float(v) for v in values["score_calibration"])
    if "sizes_of_interest" in values:
        values["sizes_of_interest"] = tuple(tuple(float(v) for v in pair) for pair in values["sizes_of_interest"])
    return replace(CenterMaskConfig(), **values).validate()
