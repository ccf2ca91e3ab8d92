"""FCOS losses (spec §2.2): sigmoid focal (torchvision.ops.sigmoid_focal_loss, sum / num_pos), GIoU on
positives with the FCOS convention IoU = (I+1)/(U+1) computed from l,t,r,b distances (our own code, not
torchvision's generalized_box_iou_loss, which has no +1), weighted by centerness targets and divided by
their sum; centerness BCE-with-logits (sum / num_pos). Under DDP both normalisers (num_pos and the
centerness-target sum) are averaged over ranks (all_reduce / world size), as FCOS does, so every rank
divides by the same number and the summed gradients match one big batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from .fcos_targets import centerness_target


def mean_over_ranks(value: Tensor) -> Tensor:
    """``value`` averaged over the ranks of the default process group (itself when not distributed);
    detached: a normaliser carries no gradient."""
    value = value.detach().to(torch.float32)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        value = value.clone()
        dist.all_reduce(value)
        value = value / dist.get_world_size()
    return value


def ltrb_giou_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Sum over rows of (1 - GIoU) between boxes given as l,t,r,b distances from a shared point.

    IoU = (I + 1) / (U + 1); GIoU = IoU - (C - U) / C with C the enclosing box area (+1e-7).
    """
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    pred_area = (pl + pr) * (pt + pb)
    target_area = (tl + tr) * (tt + tb)
    inter = (torch.minimum(pl, tl) + torch.minimum(pr, tr)) * (torch.minimum(pt, tt) + torch.minimum(pb, tb))
    enclosing = (torch.maximum(pl, tl) + torch.maximum(pr, tr)) * (torch.maximum(pt, tt) + torch.maximum(pb, tb)) + 1e-7
    union = pred_area + target_area - inter
    iou = (inter + 1.0) / (union + 1.0)
    giou = iou - (enclosing - union) / enclosing
    loss = 1.0 - giou
    if weight is not None:
        loss = loss * weight
    return loss.sum()


def fcos_losses(cls_logits: Tensor, box_reg: Tensor, ctr_logits: Tensor, labels: Tensor, reg_targets: Tensor,
                num_classes: int, alpha: float = 0.25, gamma: float = 2.0) -> dict[str, Tensor]:
    """Losses over all locations of the batch: cls_logits (L,K), box_reg (L,4) in strides, ctr_logits (L,),
    labels (L,) with K = background, reg_targets (L,4) in strides."""
    positive = labels != num_classes
    num_pos = positive.sum()
    # FCOS: num_pos averaged over ranks, at least 1; the centerness sum averaged too (all ranks call this)
    num_pos_avg = mean_over_ranks(num_pos).clamp(min=1.0)
    one_hot = torch.zeros_like(cls_logits)
    one_hot[positive, labels[positive]] = 1.0
    loss_cls = sigmoid_focal_loss(cls_logits, one_hot, alpha=alpha, gamma=gamma, reduction="sum")
    loss_cls = loss_cls / num_pos_avg.to(cls_logits.dtype)
    reg_pos = reg_targets[positive]
    ctr_t = centerness_target(reg_pos)
    ctr_sum_avg = mean_over_ranks(ctr_t.sum()).clamp(min=1e-6)
    if bool(num_pos > 0):
        loss_loc = ltrb_giou_loss(box_reg[positive], reg_pos, ctr_t) / ctr_sum_avg.to(box_reg.dtype)
        loss_ctr = (F.binary_cross_entropy_with_logits(ctr_logits[positive], ctr_t, reduction="sum")
                    / num_pos_avg.to(ctr_logits.dtype))
    else:  # keep the graph connected so DDP and the engine see every parameter
        loss_loc = box_reg.sum() * 0.0
        loss_ctr = ctr_logits.sum() * 0.0
    return {"loss_fcos_cls": loss_cls, "loss_fcos_loc": loss_loc, "loss_fcos_ctr": loss_ctr}
