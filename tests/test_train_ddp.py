"""DistributedDataParallel: 2 gloo processes on CPU give identical weights on both ranks and the loss
curve of the single-process run with the same global batch."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from cellseg_nb.train import Trainer, config_from_dict
from _train_helpers import DiscDataset

MODEL = {"name": "unet", "kwargs": {"width_mult": 0.0625, "widths": [64, 128, 256], "norm": "group",
                                    "boundary_weight": 1.0}}


def _cfg(out, batch_size):
    return config_from_dict({"model": MODEL, "steps": 6, "batch_size": batch_size, "checkpoint_every": 3,
                             "log_every": 1, "device": "cpu", "amp": "none", "seed": 5, "progress": False,
                             "optim": {"name": "sgd", "lr": 0.05}, "output_dir": str(out)})


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"})
    torch.set_num_threads(1)
    trainer = Trainer(_cfg(out, 2), train_dataset=DiscDataset(8, flip=False))
    trainer.fit()
    torch.save(trainer.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_matches_single_process(tmp_path):
    ddp_out = tmp_path / "ddp"
    ddp_out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(ddp_out)), nprocs=2, join=True)
    w0 = torch.load(ddp_out / "rank0.pt", weights_only=True)
    w1 = torch.load(ddp_out / "rank1.pt", weights_only=True)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # only rank 0 wrote checkpoints and the log
    assert sorted(p.name for p in (ddp_out / "checkpoints").iterdir()) == ["step_00000003.pt", "step_00000006.pt"]

    single = Trainer(_cfg(tmp_path / "single", 4), train_dataset=DiscDataset(8, flip=False))
    single.fit()
    ddp_loss = [json.loads(x)["loss"] for x in (ddp_out / "metrics.jsonl").read_text().splitlines()]
    one_loss = [json.loads(x)["loss"] for x in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert len(ddp_loss) == len(one_loss) == 6
    assert ddp_loss == pytest.approx(one_loss, rel=1e-4)
    assert len(set(round(v, 6) for v in one_loss)) > 1  # the loss moves, so the comparison means something
    for k, v in single.model.state_dict().items():
        assert torch.allclose(v, w0[k], atol=1e-5), k
