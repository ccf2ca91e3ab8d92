"""The training engine shared by every model family (U-Nets, ensemble, CenterMask).

``Trainer(config, train_dataset=..., val_dataset=..., val_gt=...).fit() -> TrainResult``. Features:
automatic device, AMP (bf16, or fp16 with a GradScaler) on CUDA and CPU, channels_last, optional
torch.compile, AdamW/SGD with warm-up + cosine/step schedule, gradient clipping, a guard that skips
non-finite steps (and stops after ``max_nonfinite_steps``), atomic checkpoints every N steps with exact
resume, validation + best checkpoint + early stopping, a JSONL metrics log and DDP under torchrun.

Divergence is never reported as success: the weights are checked after every optimiser step, and a
non-finite weight (an infinite learning rate, an exploding update) stops the run at once with
:class:`~cellseg_nb.errors.TrainingDiverged`; no checkpoint is ever written from non-finite weights.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from ..atomic import atomic_write_text
from ..errors import CellsegError, TrainingDiverged
from .checkpoint import capture_rng_state, latest_checkpoint, load_checkpoint, restore_rng_state, save_checkpoint
from .config import TrainConfig
from .threads import ThreadFollower
from .runtime import (ResumableSampler, all_reduce_mean, autocast, collate_batch, finish_distributed, lr_factor,
                      make_scaler,
                      resolve_amp, resolve_device, set_dataset_epoch, setup_distributed, to_device)
from .status import StatusLine
from .validate import validate


class NonFiniteLossError(TrainingDiverged):
    """More non-finite steps (NaN/inf loss or gradients) than ``max_nonfinite_steps``."""


@dataclass
class TrainResult:
    """Where a run left its files, and how it ended."""

    output_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    metrics_log: Path
    steps: int
    nonfinite_steps: int
    best_metric: float | None
    stopped_early: bool


def _fused_if_supported(cls: type, params: list, kwargs: dict) -> torch.optim.Optimizer:
    """The optimizer's fused kernel where this torch has one for the parameters' device (CPU and CUDA
    since torch 2.4): one pass over all parameters instead of a Python loop over tensors, about 4x less
    optimizer time per step on CPU (docs/benchmarks.md); the plain implementation otherwise."""
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, **kwargs)


class Trainer:
    """One training run; ``model`` defaults to ``build_model(config.model.name, **config.model.kwargs)``."""

    def __init__(self, config: TrainConfig, *, train_dataset, val_dataset=None, val_gt=None,
                 model: torch.nn.Module | None = None, collate_fn=collate_batch) -> None:
        from ..models.registry import build_model

        self.cfg = config
        self.dist = setup_distributed(config.device)
        self.device = resolve_device(config.device)
        self.amp = resolve_amp(config.amp, self.device)
        if model is None:  # a model passed in was built (and seeded) by the caller: see train.api
            torch.manual_seed(config.seed)
            model = build_model(config.model.name, **config.model.kwargs)
        self.model = model
        self.model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.forward_model = self.model
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if config.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.optimizer = self._make_optimizer()
        self.scaler = make_scaler(self.amp, self.device)
        self.train_dataset, self.val_dataset, self.val_gt = train_dataset, val_dataset, val_gt
        self.sampler = ResumableSampler(train_dataset, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                        seed=config.seed)
        self.collate_fn = collate_fn
        self.out = Path(config.output_dir)
        self.metrics_log = self.out / "metrics.jsonl"
        self.step = self.epoch = self.position = self.nonfinite = self.scaler_skips = 0
        self.best_metric: float | None = None
        self.best_path: Path | None = None
        self.bad_validations = 0

    # -- set-up -------------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.name == "sgd":
            kwargs = dict(lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
            return _fused_if_supported(torch.optim.SGD, params, kwargs)
        return _fused_if_supported(torch.optim.AdamW, params, dict(lr=o.lr, weight_decay=o.weight_decay))

    def _loader(self) -> DataLoader:
        self.sampler.set_epoch(self.epoch)
        set_dataset_epoch(self.train_dataset, self.epoch)
        self.sampler.start = self.position * self.cfg.batch_size
        gen = torch.Generator().manual_seed(self.cfg.seed * 100003 + self.epoch)
        return DataLoader(self.train_dataset, batch_size=self.cfg.batch_size, sampler=self.sampler,
                          collate_fn=self.collate_fn, num_workers=self.cfg.data.num_workers, generator=gen,
                          drop_last=True, pin_memory=self.device.type == "cuda")

    # -- checkpoints --------------------------------------------------------------------------------
    def _payload(self) -> dict:
        return {
            "model_name": self.cfg.model.name, "model_kwargs": dict(self.cfg.model.kwargs),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": {"step": self.step, "name": self.cfg.schedule.name},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng_state(), "step": self.step, "epoch": self.epoch, "position": self.position,
            "nonfinite": self.nonfinite, "scaler_skips": self.scaler_skips, "best_metric": self.best_metric,
            "bad_validations": self.bad_validations, "config": self.cfg.to_dict(),
        }

    def nonfinite_parameters(self) -> list[str]:
        """Names of parameters holding NaN or infinite values (empty when all are finite).

        One fused norm over all parameters per call: a NaN or infinite entry makes its tensor's norm
        non-finite (a finite overflow of the norm itself is told apart by the exact check after it).
        """
        named = [(n, p) for n, p in self.model.named_parameters()]
        if not named:
            return []
        with torch.no_grad():
            norms = torch.stack(torch._foreach_norm([p.detach().float() for _, p in named]))
            suspect = (~torch.isfinite(norms)).nonzero().flatten().tolist()
        return [named[i][0] for i in suspect if not bool(torch.isfinite(named[i][1].detach()).all())]

    def _check_weights(self, when: str) -> None:
        bad = self.nonfinite_parameters()
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            last = latest_checkpoint(self.out / "checkpoints")
            raise TrainingDiverged(
                f"training diverged {when}: non-finite weights in {shown} (learning rate "
                f"{self.cfg.optim.lr:g}); stopped without writing a checkpoint of this state"
                + (f"; last good checkpoint: {last}" if last is not None else ""))

    def save(self, name: str | None = None) -> Path:
        path = self.out / "checkpoints" / (name or f"step_{self.step:08d}.pt")
        self._check_weights(f"before saving {path.name} at step {self.step}")
        if self.dist.is_main:
            save_checkpoint(path, self._payload())
        return path

    def resume_from(self, path: str | Path) -> None:
        """Restore everything a checkpoint holds (model, optimiser, scaler, RNG, position)."""
        ckpt = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scaler is not None and ckpt.get("scaler") is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        restore_rng_state(ckpt["rng"])
        self.step, self.epoch, self.position = ckpt["step"], ckpt["epoch"], ckpt["position"]
        self.nonfinite, self.best_metric = ckpt["nonfinite"], ckpt["best_metric"]
        self.scaler_skips = ckpt.get("scaler_skips", 0)
        self.bad_validations = ckpt["bad_validations"]
        best = self.out / "checkpoints" / "best.pt"
        self.best_path = best if best.exists() else None
        if self.dist.is_main and self.metrics_log.exists():  # drop records logged after the checkpoint
            keep = [ln for ln in self.metrics_log.read_text().splitlines()
                    if ln.strip() and json.loads(ln)["step"] <= self.step]
            atomic_write_text(self.metrics_log, "".join(ln + "\n" for ln in keep))

    # -- one step -----------------------------------------------------------------------------------
    def _finite_everywhere(self, value: torch.Tensor) -> bool:
        flag = torch.tensor(float(torch.isfinite(value).all()), device=value.device)
        if self.dist.world_size > 1:
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item() > 0)

    def _train_step(self, images: torch.Tensor, targets: list[dict]) -> dict[str, float] | None:
        factor = lr_factor(self.step, self.cfg.steps, self.cfg.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.optim.lr * factor
        images = images.to(self.device, non_blocking=True)
        if self.cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        # buffers (BatchNorm statistics) are restored when the step turns out non-finite
        saved = [b.detach().clone() for b in self.model.buffers()]
        with autocast(self.amp, self.device):
            losses = self.forward_model(images, to_device(targets, self.device))
        loss = sum(v.float() for v in losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        if not self._finite_everywhere(loss.detach()):
            with torch.no_grad():
                for b, old in zip(self.model.buffers(), saved):
                    b.copy_(old)
            return self._skip()
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if not torch.isfinite(grad_norm):
            if self.scaler is not None:  # fp16 overflow: the scaler skips the step and lowers its scale
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scaler_skips += 1
                return None
            return self._skip()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self._check_weights(f"at step {self.step + 1}")
        record = {k: float(v.detach()) for k, v in losses.items()}
        record["loss"] = float(loss.detach())
        record["grad_norm"] = float(grad_norm)
        record["lr"] = self.cfg.optim.lr * factor
        return record

    def _skip(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.nonfinite += 1
        if self.nonfinite > self.cfg.max_nonfinite_steps:
            raise NonFiniteLossError(f"{self.nonfinite} non-finite steps (limit max_nonfinite_steps="
                                     f"{self.cfg.max_nonfinite_steps}) at step {self.step}")
        return None

    # -- logging and validation ---------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        if self.dist.is_main:
            self.metrics_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.metrics_log, "a") as fh:
                fh.write(json.dumps(record) + "\n")

    def _validate(self) -> bool:
        """Run validation (rank 0), log, keep the best checkpoint; True when early stopping triggers."""
        stop = torch.zeros(1)
        if self.dist.is_main:
            metrics = validate(self.model, self.val_dataset, self.val_gt, self.device,
                               channels_last=self.cfg.channels_last)
            self._log({"step": self.step, "split": "val", **{k: (None if isinstance(v, float) and math.isnan(v)
                                                                  else v) for k, v in metrics.items()}})
            value = metrics.get(self.cfg.val_metric)
            if value is not None and not math.isnan(value) and (self.best_metric is None or value > self.best_metric):
                self.best_metric, self.bad_validations = float(value), 0
                self.best_path = self.save("best.pt")
            else:
                self.bad_validations += 1
            patience = self.cfg.early_stopping_patience
            stop[0] = float(patience > 0 and self.bad_validations >= patience)
        if self.dist.world_size > 1:
            stop = stop.to(self.device if self.device.type == "cuda" else "cpu")
            dist.broadcast(stop, 0)
        return bool(stop.item() > 0)

    # -- the loop -----------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        cfg = self.cfg
        if cfg.resume:
            found = latest_checkpoint(self.out / "checkpoints")
            if found is not None:
                self.resume_from(found)
        if self.sampler.num_samples < cfg.batch_size:
            raise CellsegError(f"the training set ({len(self.train_dataset)} items) is smaller than one batch "
                               f"per rank ({cfg.batch_size} x {self.dist.world_size} ranks)")
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and self.dist.is_main),
                   desc="train", dynamic_ncols=True)
        status = StatusLine(Path(cfg.output_dir).name, cfg.steps, cfg.status_every_s if self.dist.is_main else 0,
                            start_step=self.step)
        self.model.train()
        stopped, last = False, None
        tick, samples = time.perf_counter(), 0
        threads = ThreadFollower()  # more threads when side-by-side notebooks of a run finish (train/threads.py)
        while self.step < cfg.steps and not stopped:
            for images, targets in self._loader():
                threads.poll()
                record = self._train_step(images, targets)
                self.step += 1
                self.position += 1
                samples += len(targets) * self.dist.world_size
                bar.update(1)
                if record is not None and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                    keys = sorted(record)
                    vals = all_reduce_mean([record[k] for k in keys], self.dist, self.device)
                    now = time.perf_counter()
                    rec = {"step": self.step, "split": "train", "epoch": self.epoch, **dict(zip(keys, vals)),
                           "samples_per_s": samples / max(now - tick, 1e-9), "nonfinite_steps": self.nonfinite}
                    tick, samples = now, 0
                    self._log(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.4f}")
                    status.loss = rec["loss"]
                status.update(self.step, final=self.step >= cfg.steps)
                if cfg.val_every and self.val_dataset is not None and self.step % cfg.val_every == 0:
                    stopped = self._validate()
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or stopped:
                    last = self.save()
                if self.step >= cfg.steps or stopped:
                    break
            else:
                self.epoch += 1
                self.position = 0
        bar.close()
        if last is None:
            last = self.save()
        finish_distributed(self.dist)
        return TrainResult(output_dir=self.out, last_checkpoint=last, best_checkpoint=self.best_path,
                           metrics_log=self.metrics_log, steps=self.step, nonfinite_steps=self.nonfinite,
                           best_metric=self.best_metric, stopped_early=stopped)
