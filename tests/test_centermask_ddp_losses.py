"""FCOS loss normalisers under DDP (2 gloo processes on CPU): num_pos and the centerness-target sum are
averaged over ranks, as FCOS does, so each rank's losses are its own sums divided by the global means."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from cellseg_nb.models.centermask.fcos_losses import fcos_losses, ltrb_giou_loss
from cellseg_nb.models.centermask.fcos_targets import centerness_target

K = 1  # one class; label K = background


def _inputs(rank: int):
    """Rank 0: 3 positives of 8 locations; rank 1: 1 positive of 8 (different centerness sums)."""
    g = torch.Generator().manual_seed(rank)
    cls = torch.randn(8, K, generator=g)
    reg = torch.rand(8, 4, generator=g) * 3 + 0.5
    ctr = torch.randn(8, generator=g)
    labels = torch.full((8,), K, dtype=torch.int64)
    labels[: (3 if rank == 0 else 1)] = 0
    reg_t = torch.rand(8, 4, generator=g) * 3 + 0.5
    return cls, reg, ctr, labels, reg_t


def _expected(rank: int) -> dict[str, float]:
    """Sums of this rank divided by the hand-averaged normalisers of both ranks."""
    num_pos_avg = (3 + 1) / 2
    ctr_sums = []
    for r in (0, 1):
        _, _, _, labels, reg_t = _inputs(r)
        ctr_sums.append(float(centerness_target(reg_t[labels == 0]).sum()))
    ctr_avg = sum(ctr_sums) / 2
    cls, reg, ctr, labels, reg_t = _inputs(rank)
    pos = labels == 0
    one_hot = torch.zeros_like(cls)
    one_hot[pos, 0] = 1.0
    ctr_t = centerness_target(reg_t[pos])
    return {"loss_fcos_cls": float(sigmoid_focal_loss(cls, one_hot, reduction="sum")) / num_pos_avg,
            "loss_fcos_loc": float(ltrb_giou_loss(reg[pos], reg_t[pos], ctr_t)) / ctr_avg,
            "loss_fcos_ctr": float(F.binary_cross_entropy_with_logits(ctr[pos], ctr_t, reduction="sum")) / num_pos_avg}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        losses = fcos_losses(*_inputs(rank), num_classes=K)
        torch.save({k: float(v) for k, v in losses.items()}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_normalisers_are_local() -> None:
    cls, reg, ctr, labels, reg_t = _inputs(0)
    losses = fcos_losses(cls, reg, ctr, labels, reg_t, num_classes=K)
    one_hot = torch.zeros_like(cls)
    one_hot[:3, 0] = 1.0
    assert float(losses["loss_fcos_cls"]) == pytest.approx(float(sigmoid_focal_loss(cls, one_hot, reduction="sum")) / 3)


def test_two_gloo_ranks_average_the_normalisers(tmp_path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        expected = _expected(rank)
        assert got == pytest.approx(expected, rel=1e-5), rank
    # the local normaliser would differ (rank 1 has 1 positive, the average is 2)
    assert torch.load(tmp_path / "rank1.pt")["loss_fcos_cls"] != pytest.approx(
        float(fcos_losses(*_inputs(1), num_classes=K)["loss_fcos_cls"]))
