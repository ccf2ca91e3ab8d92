"""Training throughput (samples/s) and peak memory on CPU for each U-Net preset at a fixed crop size.

Each preset trains ``--steps`` timed steps (after ``--warmup`` untimed ones) through the real engine
(``cellseg_nb.train.Trainer``) on random images with random semantic targets; peak resident memory is
``resource.getrusage`` max RSS measured in a fresh subprocess per preset (so presets do not mask each other).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/training.py --crop 128 --width-mult 0.25 --steps 10
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch

PRESETS = ("unet", "unet_expanded", "unet_deep")


class RandomSemantic(torch.utils.data.Dataset):
    def __init__(self, n: int, crop: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 1, crop, crop, generator=g) * 255
        self.sem = torch.randint(0, 3, (n, crop, crop), generator=g)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], {"semantic": self.sem[i], "image_id": i, "cell_type": "A172"}


def measure(preset: str, crop: int, width_mult: float, batch: int, steps: int, warmup: int, threads: int) -> dict:
    from cellseg_nb.train import Trainer, config_from_dict

    torch.set_num_threads(threads)
    data = RandomSemantic(batch * 4, crop)
    with tempfile.TemporaryDirectory() as out:
        def cfg(n):
            return config_from_dict({"model": {"name": preset, "kwargs": {"width_mult": width_mult}},
                                     "steps": n, "batch_size": batch, "checkpoint_every": 10 ** 9, "device": "cpu",
                                     "amp": "none", "progress": False, "output_dir": out, "log_every": 10 ** 9})
        Trainer(cfg(warmup), train_dataset=data).fit()
        trainer = Trainer(cfg(steps), train_dataset=data)
        params = sum(p.numel() for p in trainer.model.parameters())
        t0 = time.perf_counter()
        trainer.fit()
        dt = time.perf_counter() - t0
    return {"preset": preset, "params_M": round(params / 1e6, 3), "samples_per_s": round(steps * batch / dt, 2),
            "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--width-mult", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one preset in-process
    a = p.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.crop, a.width_mult, a.batch, a.steps, a.warmup, a.threads)))
        return
    rows = []
    for preset in a.presets:
        cmd = [sys.executable, __file__, "--one", preset, "--crop", str(a.crop), "--width-mult", str(a.width_mult),
               "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    print(f"crop {a.crop}, width_mult {a.width_mult}, batch {a.batch}, {a.steps} timed steps, {a.threads} threads")
    print("| preset | params (M) | samples/s | peak RSS (MB) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['params_M']} | {r['samples_per_s']} | {r['peak_rss_MB']} |")


if __name__ == "__main__":
    main()
