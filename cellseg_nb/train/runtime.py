"""Runtime pieces of the engine: device/AMP choice, distributed set-up, LR schedule, resumable sampler."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from ..errors import ConfigError
from .config import ScheduleConfig


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present (this rank's LOCAL_RANK device), else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device: {exc}") from exc


def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (AMX tiles or AVX512-BF16): there bf16 autocast makes
    a training step 1.5-3x faster (docs/benchmarks.md); elsewhere torch emulates bf16 and it is slower."""
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, name, None)  # private helpers of torch >= 2.3; absent means "not known"
        try:
            if check is not None and check():
                return True
        except Exception:  # noqa: BLE001 - a probe that fails only means "no"
            continue
    return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """``auto`` -> bf16 on CUDA with bf16 support, fp16 on older CUDA; on CPU bf16 where the CPU computes it
    natively (:func:`cpu_has_native_bf16`), none elsewhere."""
    if amp != "auto":
        return amp
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "none"


def autocast(amp: str, device: torch.device):
    """Autocast context for ``amp`` ("none", "bf16", "fp16") on ``device`` (works on CPU too)."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (on CUDA or CPU); None otherwise."""
    return torch.amp.GradScaler(device.type) if amp == "fp16" else None


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_hint: str) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    here = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_hint in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        here = True
    return DistInfo(rank=rank, world_size=world, local_rank=local, initialised_here=here)


def finish_distributed(info: DistInfo, *, wait: bool = True) -> None:
    """Leave the process group: wait for every rank first (``wait``; a rank that tears gloo down while
    another still talks to it can abort at exit), then destroy the group if this process created it.
    Pass ``wait=False`` on an error path, where another rank may never arrive."""
    if info.world_size > 1 and wait and dist.is_initialized():
        dist.barrier()
    if info.initialised_here and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: Sequence[float], info: DistInfo, device: torch.device) -> list[float]:
    """Mean of each value over ranks (identity when not distributed)."""
    if info.world_size == 1:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return (t / info.world_size).tolist()


def lr_factor(step: int, total: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the base LR at ``step`` (0-based): linear warm-up, then cosine / step / multistep
    (``gamma`` at each of ``milestones``, counted from step 0 as detectron2 does) / constant."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "multistep":
        return cfg.gamma ** sum(step >= m for m in (cfg.milestones or ()))
    after = step - cfg.warmup_steps
    if cfg.name == "step":
        return cfg.gamma ** (after // max(1, cfg.step_size))
    span = max(1, total - cfg.warmup_steps)
    cos = 0.5 * (1 + math.cos(math.pi * min(after, span) / span))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos


class ResumableSampler(DistributedSampler):
    """DistributedSampler (shuffled by seed + epoch) that can start part-way through an epoch."""

    def __init__(self, dataset, *, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def set_dataset_epoch(dataset: Any, epoch: int) -> None:
    """Tell a dataset (and the parts of a ConcatDataset or Subset) which epoch starts, so datasets that draw
    crops and augmentation per (seed, epoch, index) give new draws each epoch."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    for part in getattr(dataset, "datasets", ()):
        set_dataset_epoch(part, epoch)
    if hasattr(dataset, "dataset") and hasattr(dataset, "indices"):
        set_dataset_epoch(dataset.dataset, epoch)


def collate_batch(batch: list) -> tuple[torch.Tensor, list[dict]]:
    """(images B x 1 x H x W, list of target dicts) from (image, target) items."""
    images = torch.stack([item[0] for item in batch])
    return images, [item[1] for item in batch]


def to_device(targets: list[dict], device: torch.device) -> list[dict]:
    """Move the tensors of each target dict to ``device``."""
    return [{k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in t.items()}
            for t in targets]
