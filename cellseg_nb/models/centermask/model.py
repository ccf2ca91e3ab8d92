"""The CenterMask model (VoVNetV2-FPN + FCOS + SAG-Mask + MaskIoU) behind the project's model contract:
train(): model(images, targets) -> dict of scalar losses; eval(): model(images) -> list of dicts with
masks (:class:`~cellseg_nb.models.instances.BoxMasks`: N masks of the input image at box resolution),
scores (mask scores = box score * MaskIoU, descending), boxes (clipped), box_scores, labels."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from cellseg_nb.errors import DataError

from .backbone import VoVNetBackbone
from .config import CenterMaskConfig
from .fcos_head import FCOSHead
from .fcos_losses import fcos_losses
from .fcos_postprocess import Detections, detect_one_image
from .fcos_targets import assign_targets, level_locations
from .fpn import FPN
from .inputs import ImageBatch, as_image_list, needs_tiling, prepare_batch, resized_size, tile_windows
from .mask_head import SAGMaskHead, mask_loss, select_class
from .maskiou_head import MaskIoUHead, maskiou_loss, maskiou_targets
from ..instances import BoxMasks
from .paste import clip_boxes, paste_masks
from .proposals import mask_targets_and_ratios, polygon_mask_targets_and_ratios, sample_foreground
from .roi_assign import pool_rois
from .structures import FCOSOutputs, MaskRoIs, PyramidFeatures, ScaledTargets

_MASK_STRIDES = [8, 16, 32]  # P3-P5 feed the mask branch
_ROI_CHUNK = 512             # RoIs per mask-head call at inference (bounds memory)


class CenterMask(nn.Module):
    """CenterMask built from a CenterMaskConfig; see the module docstring for the call contract."""

    def __init__(self, config: CenterMaskConfig) -> None:
        super().__init__()
        self.config = config.validate()
        c = self.config
        self.backbone = VoVNetBackbone(c.backbone, ese_every_block=c.ese_every_block, frozen_bn=c.frozen_bn,
                                       checkpoint=c.backbone_checkpoint)
        self.fpn = FPN(self.backbone.out_channels, c.fpn_channels)
        self.fcos_head = FCOSHead(c.fpn_channels, c.num_classes, c.fcos_num_convs, prior_prob=c.prior_prob)
        self.mask_head = SAGMaskHead(c.fpn_channels, c.mask_num_convs, c.mask_conv_dim, c.num_classes)
        self.maskiou_head = (MaskIoUHead(c.fpn_channels, c.maskiou_num_convs, c.maskiou_conv_dim, c.num_classes,
                                         c.pooler_resolution) if c.maskiou_on else None)
        self._generator = torch.Generator().manual_seed(c.seed)

    # ------------------------------------------------------------------ shared pieces
    def _features(self, batch: Tensor) -> PyramidFeatures:
        levels = self.fpn(self.backbone(batch))
        locations = [level_locations(f.shape[-2], f.shape[-1], s, f.device)
                     for f, s in zip(levels, self.config.fpn_strides)]
        return PyramidFeatures(levels, locations, FCOSOutputs(*self.fcos_head(levels)))

    def _detect(self, feats: PyramidFeatures, index: int, training: bool) -> Detections:
        c = self.config
        out = feats.fcos.image(index)
        post = c.post_nms_topk_train if training else c.post_nms_topk_test  # the cap by mask score comes later
        return detect_one_image(feats.locations, list(c.fpn_strides), out.cls, out.reg, out.ctr,
                                threshold=c.inference_threshold,
                                pre_nms_topk=c.pre_nms_topk_train if training else c.pre_nms_topk_test,
                                nms_threshold=c.nms_threshold, post_nms_topk=post)

    def forward(self, images: Tensor | Sequence[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        image_list = as_image_list(images)
        if self.training:
            if targets is None or len(targets) != len(image_list):
                raise DataError("training needs one target dict per image", record="targets")
            return self._losses(image_list, targets)
        return self.predict(image_list)

    # ------------------------------------------------------------------ training
    def _losses(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        c = self.config
        choices = torch.randint(len(c.train_min_sizes), (len(images),), generator=self._generator).tolist()
        sizes = [resized_size(im.shape[-2], im.shape[-1], c.train_min_sizes[k], c.train_max_size)
                 for im, k in zip(images, choices)]
        batch = prepare_batch(images, sizes, c.pixel_mean, c.pixel_std, c.size_divisibility)
        feats = self._features(batch.tensor)
        strides = list(c.fpn_strides)
        all_cls, all_reg, all_ctr, all_labels, all_reg_t = [], [], [], [], []
        scaled = ScaledTargets([], [])
        for i, target in enumerate(targets):
            self._check_target(target, images[i], i)
            sy, sx = batch.scales[i]
            boxes = target["boxes"].to(torch.float32) * torch.tensor([sx, sy, sx, sy], device=target["boxes"].device)
            boxes = boxes.to(batch.tensor.device)
            classes = target["labels"].to(batch.tensor.device).long() - 1
            scaled.boxes.append(boxes)
            scaled.classes.append(classes)
            assigned = assign_targets(feats.locations, strides, list(c.sizes_of_interest), boxes, classes,
                                      c.num_classes, c.center_sample_radius)
            out = feats.fcos.image(i)
            all_cls.append(torch.cat(out.cls))
            all_reg.append(torch.cat(out.reg))
            all_ctr.append(torch.cat(out.ctr))
            all_labels.append(assigned.labels)
            all_reg_t.append(assigned.reg)
        losses = fcos_losses(torch.cat(all_cls), torch.cat(all_reg), torch.cat(all_ctr), torch.cat(all_labels),
                             torch.cat(all_reg_t), c.num_classes, c.focal_alpha, c.focal_gamma)
        losses.update(self._mask_losses(targets, batch, feats, scaled))
        return losses

    @staticmethod
    def _check_target(target: dict[str, Tensor], image: Tensor, index: int) -> None:
        for key in ("boxes", "masks", "labels"):
            if key not in target:
                raise DataError(f"target has no {key!r}", record=f"targets[{index}]")
        n = target["boxes"].shape[0]
        if target["boxes"].shape != (n, 4) or target["labels"].shape != (n,):
            raise DataError("boxes must be N x 4 and labels N", record=f"targets[{index}]")
        if target.get("polygons") is not None and len(target["polygons"]) != n:
            raise DataError(f"{len(target['polygons'])} polygon lists for {n} boxes", record=f"targets[{index}]")
        if target["masks"].shape != (n, *image.shape[-2:]):
            raise DataError(f"masks must be N x H x W = {(n, *image.shape[-2:])}, got {tuple(target['masks'].shape)}",
                            record=f"targets[{index}]")

    @torch.no_grad()
    def _mask_rois(self, targets: list[dict[str, Tensor]], batch: ImageBatch, feats: PyramidFeatures,
                   scaled: ScaledTargets) -> MaskRoIs:
        """The mask branch's training RoIs: FCOS proposals (plus the ground-truth boxes) matched at IoU
        0.5, sub-sampled, with their 28 x 28 targets (polygons rasterised per RoI as detectron2 does, or
        cropped from the bitmasks of RLE ground truth) and area ratios."""
        c = self.config
        detached = PyramidFeatures(feats.levels, feats.locations, feats.fcos.detached())
        boxes, classes, mask_t, ratios = [], [], [], []
        for i, target in enumerate(targets):
            proposals = self._detect(detached, i, training=True)
            fg = sample_foreground(proposals.boxes, scaled.boxes[i], batch_size=c.roi_batch_size_per_image,
                                   positive_fraction=c.roi_positive_fraction,
                                   iou_threshold=c.roi_iou_threshold, generator=self._generator)
            sy, sx = batch.scales[i]
            original = fg.boxes / torch.tensor([sx, sy, sx, sy], device=fg.boxes.device)
            if target.get("polygons") is not None:
                t, r = polygon_mask_targets_and_ratios(target["polygons"], fg.matched.cpu(), original.cpu(),
                                                       2 * c.pooler_resolution)
            else:
                t, r = mask_targets_and_ratios(target["masks"], fg.matched.to(target["masks"].device),
                                               original.to(target["masks"].device), 2 * c.pooler_resolution)
            boxes.append(fg.boxes)
            classes.append(scaled.classes[i][fg.matched])
            mask_t.append(t.to(fg.boxes.device))
            ratios.append(r.to(fg.boxes.device))
        return MaskRoIs(boxes, torch.cat(classes), torch.cat(mask_t), torch.cat(ratios))

    def _mask_losses(self, targets: list[dict[str, Tensor]], batch: ImageBatch, feats: PyramidFeatures,
                     scaled: ScaledTargets) -> dict[str, Tensor]:
        c = self.config
        rois = self._mask_rois(targets, batch, feats, scaled)
        pooled = pool_rois(feats.levels[:3], _MASK_STRIDES, rois.boxes, [h * w for h, w in batch.sizes],
                           c.pooler_resolution)
        logits = self.mask_head(pooled)
        losses = {"loss_mask": mask_loss(logits, rois.classes, rois.mask_targets)}
        if self.maskiou_head is not None:
            selected = select_class(logits, rois.classes) if len(rois.classes) else logits[:, 0]
            pred_iou = self.maskiou_head(pooled, selected.sigmoid()[:, None])
            target_iou = maskiou_targets(selected, rois.mask_targets, rois.area_ratios)
            losses["loss_maskiou"] = maskiou_loss(pred_iou, rois.classes, target_iou, c.maskiou_loss_weight)
        return losses

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, images: Tensor | Sequence[Tensor]) -> list[dict[str, Tensor]]:
        """Instances per image at input resolution (tiles images larger than the test size when enabled)."""
        c = self.config
        image_list = as_image_list(images)
        results: list[dict[str, Tensor] | None] = [None] * len(image_list)
        plain = []
        for i, image in enumerate(image_list):
            h, w = image.shape[-2:]
            if c.tile_large_images and needs_tiling(h, w, c.test_min_size, c.test_max_size):
                results[i] = self._predict_tiled(image)
            else:
                plain.append(i)
        if plain:
            for i, result in zip(plain, self._predict_batch([image_list[i] for i in plain])):
                results[i] = result
        return results  # type: ignore[return-value]

    def _predict_batch(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """detectron2 / centermask2 semantics: FCOS keeps ``post_nms_topk_test`` boxes (3000 for LIVECell),
        every box gets its mask and mask score (box score x predicted mask IoU), the boxes are rescaled,
        clipped and empty ones dropped, and the best ``detections_per_image`` by mask score (the ranking
        the LIVECell evaluator applies with maxDets 2000) are pasted into their clipped boxes."""
        c = self.config
        sizes = [resized_size(im.shape[-2], im.shape[-1], c.test_min_size, c.test_max_size) for im in images]
        batch = prepare_batch(images, sizes, c.pixel_mean, c.pixel_std, c.size_divisibility)
        feats = self._features(batch.tensor)
        results = []
        for i, image in enumerate(images):
            det = self._detect(feats, i, training=False)
            mask_probs, iou = self._masks_for(feats.levels, i, det, batch.sizes[i])
            height, width = image.shape[-2:]
            sy, sx = batch.scales[i]
            boxes = clip_boxes(det.boxes / torch.tensor([sx, sy, sx, sy], device=det.boxes.device), height, width)
            # predicted IoU clamped to [0, 1] (an IoU; the head's raw output can leave that range), so mask
            # scores stay in [0, 1] as COCO results and the evaluator require
            mask_scores = det.scores * iou.clamp(0.0, 1.0) if iou is not None else det.scores
            keep = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).nonzero(as_tuple=True)[0]
            order = torch.sort(mask_scores[keep], descending=True, stable=True).indices[:c.detections_per_image]
            keep = keep[order]
            masks = paste_masks(mask_probs[keep], boxes[keep], height, width, c.mask_threshold)
            results.append({"masks": masks, "scores": self._calibrated(mask_scores[keep].to(torch.float32)),
                            "boxes": boxes[keep].to(torch.float32), "box_scores": det.scores[keep].to(torch.float32),
                            "labels": det.labels[keep] + 1})
        return results

    def _calibrated(self, scores: Tensor) -> Tensor:
        """Mask scores through the config's Platt scaling (monotonic: same ranking), or as they are."""
        if self.config.score_calibration is None:
            return scores
        a, b = self.config.score_calibration
        return torch.sigmoid(a + b * torch.logit(scores.clamp(1e-6, 1 - 1e-6)))

    def _masks_for(self, features: list[Tensor], index: int, det: Detections,
                   size: tuple[int, int]) -> tuple[Tensor, Tensor | None]:
        c = self.config
        levels = [f[index:index + 1] for f in features[:3]]
        probs, ious = [], []
        for start in range(0, det.boxes.shape[0], _ROI_CHUNK):
            boxes = det.boxes[start:start + _ROI_CHUNK]
            classes = det.labels[start:start + _ROI_CHUNK]
            pooled = pool_rois(levels, _MASK_STRIDES, [boxes], [size[0] * size[1]], c.pooler_resolution)
            prob = select_class(self.mask_head(pooled), classes).sigmoid()
            probs.append(prob)
            if self.maskiou_head is not None:
                pred = self.maskiou_head(pooled, prob[:, None])
                ious.append(pred[torch.arange(len(classes), device=pred.device), classes])
        m = 2 * c.pooler_resolution
        prob = torch.cat(probs) if probs else det.boxes.new_zeros((0, m, m))
        if self.maskiou_head is None:
            return prob, None
        return prob, (torch.cat(ious) if ious else det.boxes.new_zeros((0,)))

    def _predict_tiled(self, image: Tensor) -> dict[str, Tensor]:
        c = self.config
        height, width = image.shape[-2:]
        parts: dict[str, list] = {"masks": [], "scores": [], "boxes": [], "box_scores": [], "labels": []}
        for win in tile_windows(height, width, c.test_min_size, c.test_max_size, c.tile_overlap):
            result = self._predict_batch([image[:, win.y0:win.y1, win.x0:win.x1]])[0]
            boxes = result["boxes"] + torch.tensor([win.x0, win.y0, win.x0, win.y0], dtype=torch.float32,
                                                   device=result["boxes"].device)
            cx = (boxes[:, 0] + boxes[:, 2]) / 2
            cy = (boxes[:, 1] + boxes[:, 3]) / 2
            keep = (cx >= win.cx0) & (cx < win.cx1) & (cy >= win.cy0) & (cy < win.cy1)
            parts["masks"].append(result["masks"][keep].shifted(win.x0, win.y0, height, width))
            parts["boxes"].append(boxes[keep])
            for key in ("scores", "box_scores", "labels"):
                parts[key].append(result[key][keep])
        merged = {k: (BoxMasks.cat(v) if k == "masks" else torch.cat(v)) for k, v in parts.items()}
        order = torch.sort(merged["scores"], descending=True, stable=True).indices[:c.detections_per_image]
        return {k: v[order] for k, v in merged.items()}
