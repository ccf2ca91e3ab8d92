"""FCOS detections (spec §2.2): per level keep sigmoid(cls) > threshold, top-k by cls*ctr, boxes =
location -/+ reg*stride (not clipped), score sqrt(cls*ctr); then class-wise NMS over all levels and a cap."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import batched_nms


@dataclass
class Detections:
    """Detections of one image: boxes (N,4) xyxy in the processed image, scores (N,), labels (N,) 0..K-1."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor


def detect_one_image(locations: list[Tensor], strides: list[int], cls_logits: list[Tensor], box_reg: list[Tensor],
                     ctr_logits: list[Tensor], *, threshold: float, pre_nms_topk: int, nms_threshold: float,
                     post_nms_topk: int) -> Detections:
    """Per-level inputs for one image: cls (HW,K) logits, reg (HW,4) in strides, ctr (HW,) logits."""
    all_boxes, all_scores, all_labels = [], [], []
    for loc, stride, cls, reg, ctr in zip(locations, strides, cls_logits, box_reg, ctr_logits):
        cls_prob = cls.sigmoid()
        ctr_prob = ctr.sigmoid()
        candidate = cls_prob > threshold
        combined = cls_prob * ctr_prob[:, None]
        point_idx, class_idx = candidate.nonzero(as_tuple=True)
        values = combined[point_idx, class_idx]
        if values.numel() > pre_nms_topk:
            values, order = values.topk(pre_nms_topk)
            point_idx, class_idx = point_idx[order], class_idx[order]
        distances = reg[point_idx] * stride
        centre = loc[point_idx]
        boxes = torch.cat([centre - distances[:, :2], centre + distances[:, 2:]], dim=1)
        all_boxes.append(boxes)
        all_scores.append(values.sqrt())
        all_labels.append(class_idx)
    boxes = torch.cat(all_boxes)
    scores = torch.cat(all_scores)
    labels = torch.cat(all_labels)
    keep = batched_nms(boxes, scores, labels, nms_threshold)[:post_nms_topk]  # sorted by score
    return Detections(boxes[keep], scores[keep], labels[keep])
