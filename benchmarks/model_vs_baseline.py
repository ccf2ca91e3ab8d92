"""A model trained for a fixed wall-clock budget on CPU vs the classical baseline (AP, AP50, F1, AFNR).

``--model`` is ``unet`` (or another U-Net preset) or a CenterMask preset (``centermask_lite_v19_slim_dw``,
...); ``--model-kwargs`` (JSON) is merged over the family's defaults below. Training goes through
``cellseg_nb.train.train(config)`` with the package's datasets (``data.train_annotations`` / ``data.images``:
``SemanticDataset`` for U-Nets, ``InstanceDataset`` for CenterMask, random crops with augmentation, a target
cache). The number of steps is chosen so training fits ``--minutes``: the target cache is filled first
(untimed), a short probe run measures the mean time per step after its first 5 steps (start-up and
warm-up left out), then the real run (a fresh model, its LR schedule sized to those steps) is timed; its
time is reported, so a machine that gets busier during the run shows up as a longer train time. Predictions on the test images come from
``cellseg_nb.train.predict.predict_dataset`` with the final checkpoint; model and baseline
(``cellseg_nb.baseline.segment_dataset``, default settings) are scored by the same
``cellseg_nb.eval.evaluate_instances`` on the same ground truth.

Data: the demo data (default: ``generate_demo_dataset(--images-per-type, --seed)`` into a temporary
folder, or an existing demo root with ``--demo-root``): train on its train split, score on its test split.
``--sample ROOT``: the 5 annotated real images of the LIVECell sample, split by leaving images out:
``--sample-test`` names the held-out images (default: ``MCF7_Phase_F4_2_00d00h00m_4`` and
``BT474_Phase_C3_1_01d04h00m_4``, 282 cells), the other 3 train (``MCF7_Phase_G4_2_02d16h00m_1``,
``Huh7_Phase_A10_1_02d12h00m_3``, ``BT474_Phase_B3_2_02d12h00m_3``, 961 cells), so no model is scored
on an image it trained on; ``--sample-test none`` trains and scores on all 5 (fit, not generalisation).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/model_vs_baseline.py --model unet --minutes 9
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/model_vs_baseline.py --model centermask_lite_v19_slim_dw \\
        --minutes 15 --json cm.json   # stays under 20 min of training (docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

KEYS = ("AP", "AP50", "F1", "AFNR")

#: Per-family defaults; every one can be changed on the command line.
FAMILY_DEFAULTS = {
    "unet": dict(model_kwargs={"width_mult": 0.25, "norm": "batch"}, crop=128, batch_size=4, lr=2e-3,
                 weight_decay=1e-4, warmup_steps=20, grad_clip=1.0),
    # CenterMask-Lite from random initialisation (no ImageNet weights here) on native-size crops: train BN
    # (frozen random statistics normalise nothing), process crops and test images at their own size (no
    # upscaling), fewer test candidates (the demo images hold at most ~800 cells), a smaller ROI batch.
    "centermask": dict(model_kwargs={"frozen_bn": False, "train_min_sizes": [256], "train_max_size": 256,
                                     "test_min_size": 520, "test_max_size": 704, "pre_nms_topk_test": 1000,
                                     "post_nms_topk_test": 1000, "detections_per_image": 1000,
                                     "roi_batch_size_per_image": 256},
                       crop=256, batch_size=2, lr=2e-3, weight_decay=1e-4, warmup_steps=100, grad_clip=1.0),
}


def family(model: str) -> str:
    return "centermask" if model.startswith("centermask") else "unet"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def base_config(a: argparse.Namespace, train_json: Path, images: Path, cache: Path) -> dict:
    """The training config shared by the probe and the real run (steps and output_dir added later)."""
    fam = FAMILY_DEFAULTS[family(a.model)]
    given = json.loads(a.model_kwargs) if a.model_kwargs else {}
    kwargs = {**fam["model_kwargs"], **given}
    if family(a.model) == "centermask" and "train_min_sizes" not in given:
        kwargs.update(train_min_sizes=[a.crop], train_max_size=a.crop)  # crops processed at native size
    cfg = {
        "model": {"name": a.model, "kwargs": kwargs},
        "data": {"train_annotations": str(train_json), "images": str(images), "crop_size": a.crop,
                 "augment": True, "cache_dir": str(cache)},
        "optim": {"name": a.optim, "lr": a.lr, "weight_decay": a.weight_decay, "grad_clip": a.grad_clip},
        "schedule": {"name": a.schedule, "warmup_steps": a.warmup_steps, "min_lr_ratio": a.min_lr_ratio},
        "batch_size": a.batch_size, "device": "cpu", "amp": "none", "seed": a.seed, "progress": False,
        "log_every": 10,
    }
    from cellseg_nb.train.config import apply_overrides

    return apply_overrides(cfg, list(a.set))


def fill_cache(cfg: dict) -> float:
    """Rasterise every training image's targets into the cache once (so neither run pays for it)."""
    from cellseg_nb.train import config_from_dict
    from cellseg_nb.train.api import build_datasets

    t0 = time.perf_counter()
    dataset = build_datasets(config_from_dict(cfg))["train_dataset"]
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - t0


def run_probe(cfg: dict, a: argparse.Namespace, out: Path) -> tuple[float, float]:
    """(seconds of the probe run, its mean seconds per step after the first 5 steps)."""
    from cellseg_nb.train import config_from_dict, train

    t0 = time.perf_counter()
    probe = train(config_from_dict({**cfg, "steps": a.probe_steps, "checkpoint_every": a.probe_steps,
                                    "log_every": 1, "output_dir": str(out / "probe")}))
    probe_s = time.perf_counter() - t0
    records = [json.loads(line) for line in probe.metrics_log.read_text().splitlines() if line.strip()]
    times = [a.batch_size / r["samples_per_s"] for r in records if r.get("split") == "train"]
    times = times[min(5, len(times) // 2):]
    return probe_s, (sum(times) / len(times) if times else probe_s / a.probe_steps)


def kept_run(folder: Path):
    """The TrainResult-like view of a run kept with ``--keep`` (its last checkpoint and metrics log)."""
    from types import SimpleNamespace

    checkpoints = sorted((folder / "checkpoints").glob("step_*.pt"))
    if not checkpoints:
        raise SystemExit(f"--evaluate-only: no step_*.pt in {folder / 'checkpoints'}")
    return SimpleNamespace(last_checkpoint=checkpoints[-1], steps=int(checkpoints[-1].stem.split("_")[1]),
                           metrics_log=folder / "metrics.jsonl")


def run(a: argparse.Namespace, train_json: Path, test_json: Path, images: Path, out: Path) -> dict:
    from cellseg_nb.baseline import segment_dataset
    from cellseg_nb.data.coco import load_coco
    from cellseg_nb.eval import evaluate_instances
    from cellseg_nb.train import config_from_dict, train
    from cellseg_nb.train.predict import predict_dataset

    cfg = base_config(a, train_json, images, out / "cache")
    load = {"start": os.getloadavg()}
    probe_s = per_step = cache_s = 0.0
    if a.evaluate_only:  # a kept run: score its last checkpoint; train time summed from its metrics log
        res = kept_run(out / "run")
        records = [json.loads(line) for line in res.metrics_log.read_text().splitlines() if line.strip()]
        records = [r for r in records if r.get("split") == "train"]
        train_s = sum((r["step"] - q["step"]) * a.batch_size / r["samples_per_s"]
                      for q, r in zip([{"step": 0}] + records, records))
        log(f"evaluating {res.last_checkpoint} ({res.steps} steps, about {train_s:.0f} s of training)")
    else:
        cache_s = fill_cache(cfg)
        log(f"target cache filled in {cache_s:.1f} s")
        # the probe's mean time per step (its first steps and the start-up left out) decides how many fit
        if not a.steps:
            probe_s, per_step = run_probe(cfg, a, out)
        steps = a.steps or max(20, int(a.minutes * 60 / per_step))
        log(f"probe: {probe_s:.1f} s, {per_step:.3f} s/step after warm-up -> {steps} steps")
        t0 = time.perf_counter()
        res = train(config_from_dict({**cfg, "steps": steps, "checkpoint_every": a.checkpoint_every or steps,
                                      "output_dir": str(out / "run")}))
        train_s = time.perf_counter() - t0
    load["after_training"] = os.getloadavg()
    log(f"trained {res.steps} steps in {train_s:.1f} s")
    gt = load_coco(test_json)
    t0 = time.perf_counter()
    predictions = predict_dataset(res.last_checkpoint, gt, images, device="cpu",
                                  min_score=a.score_threshold, progress=False)
    predict_s = time.perf_counter() - t0
    model = evaluate_instances(gt, predictions).summary
    base = evaluate_instances(gt, segment_dataset(gt, images)).summary
    by_checkpoint = {}
    if a.eval_checkpoints:  # every saved checkpoint of the run on the same test images (exploration)
        for path in sorted((out / "run" / "checkpoints").glob("step_*.pt")):
            preds = predict_dataset(path, gt, images, device="cpu", min_score=a.score_threshold,
                                    progress=False)
            summary = evaluate_instances(gt, preds).summary
            by_checkpoint[int(path.stem.split("_")[1])] = {k: round(summary[k], 4) for k in KEYS}
            log(f"checkpoint {path.name}: {by_checkpoint[int(path.stem.split('_')[1])]}")
    losses = [json.loads(line) for line in res.metrics_log.read_text().splitlines() if line.strip()]
    losses = [r for r in losses if r.get("split") == "train"]
    return {"model": a.model, "config": cfg, "threads": a.threads, "probe_seconds": round(probe_s, 1),
            "probe_s_per_step": round(per_step, 3),
            "steps": res.steps, "train_seconds": round(train_s, 1), "cache_seconds": round(cache_s, 1),
            "predict_seconds": round(predict_s, 1), "test_images": len(gt.images),
            "predictions": len(predictions), "score_threshold": a.score_threshold,
            "first_loss": losses[0]["loss"] if losses else None, "last_loss": losses[-1]["loss"] if losses else None,
            "loadavg": {k: [round(x, 2) for x in v] for k, v in load.items()},
            "result": {k: model[k] for k in KEYS}, "baseline": {k: base[k] for k in KEYS},
            # F1 above is at score >= 0.5; the best F1 over score thresholds and where it is reached
            "best_F1": {"model": [model["F1_best"], model["best_threshold"]],
                        "baseline": [base["F1_best"], base["best_threshold"]]},
            "by_checkpoint": by_checkpoint or None, "checkpoint": str(res.last_checkpoint) if a.keep else None}


#: The real sample's held-out images (one of each line that has two annotated images).
SAMPLE_TEST = ("MCF7_Phase_F4_2_00d00h00m_4", "BT474_Phase_C3_1_01d04h00m_4")


def sample_split(root: Path, test: str, tmp: Path) -> tuple[Path, Path, str]:
    """Train and test annotation files of the real sample: the images whose file stem is in ``test``
    (comma-separated; "none": train = test = all) are held out, the rest train."""
    from cellseg_nb.data.coco import load_coco

    ann = root / "annotations" / "LIVECell" / "livecell_coco_val.json"
    if test == "none":
        return ann, ann, "livecell-sample (5 annotated images, train = test)"
    wanted = {t.strip() for t in test.split(",") if t.strip()}
    data = load_coco(ann)
    held = [i["id"] for i in data.images if Path(i["file_name"]).stem in wanted]
    if len(held) != len(wanted) or len(held) == len(data.images):
        raise SystemExit(f"--sample-test {test!r}: expected file stems of {ann} that leave training images, "
                         f"found {len(held)} of {len(data.images)}")
    train_ids = [i for i in data.image_ids if i not in set(held)]
    paths = []
    for name, ids in (("train", train_ids), ("test", held)):
        part = data.subset(ids)
        path = tmp / f"sample_{name}.json"
        path.write_text(json.dumps(part.to_dict()))
        paths.append(path)
    names = lambda ids: ", ".join(Path(data.image(i)["file_name"]).stem for i in ids)  # noqa: E731
    return paths[0], paths[1], (f"livecell-sample, leave images out: train on {names(train_ids)} "
                                f"({sum(len(data.annotations_for(i)) for i in train_ids)} cells), test on "
                                f"{names(held)} ({sum(len(data.annotations_for(i)) for i in held)} cells)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="unet", help="unet (or another U-Net preset) or a CenterMask preset")
    p.add_argument("--model-kwargs", default=None, help="JSON dict merged over the family's default kwargs")
    p.add_argument("--minutes", type=float, default=10.0, help="training budget (the probe run is extra)")
    p.add_argument("--steps", type=int, default=0, help="train exactly this many steps instead of the budget")
    p.add_argument("--probe-steps", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images-per-type", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--demo-root", type=Path, default=None, help="an existing demo dataset (else generated)")
    p.add_argument("--sample", type=Path, default=None, help="LIVECell sample root (5 annotated images)")
    p.add_argument("--sample-test", default=",".join(SAMPLE_TEST),
                   help="comma-separated file stems of the sample images held out for testing ('none': "
                        "train and test on all 5)")
    p.add_argument("--crop", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--optim", default="adamw", choices=("adamw", "sgd"))
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--grad-clip", type=float, default=None)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "step", "constant"))
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--min-lr-ratio", type=float, default=0.0)
    p.add_argument("--score-threshold", type=float, default=0.0, help="drop predictions scored below this")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other training-config override, e.g. --set optim.momentum=0.8 (repeatable)")
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--eval-checkpoints", action="store_true", help="also score every saved checkpoint")
    p.add_argument("--keep", type=Path, default=None, help="keep the run folder (checkpoints, metrics) here")
    p.add_argument("--evaluate-only", action="store_true",
                   help="with --keep DIR of an earlier run: no training, score its last checkpoint")
    p.add_argument("--json", type=Path, default=None, help="write the numbers here")
    a = p.parse_args(argv)
    for key, value in FAMILY_DEFAULTS[family(a.model)].items():
        if key != "model_kwargs" and getattr(a, key) is None:
            setattr(a, key, value)
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep if a.keep is not None else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        if a.sample is not None:
            train_json, test_json, what = sample_split(a.sample, a.sample_test, Path(tmp))
            result = run(a, train_json, test_json, a.sample / "images", out)
            result["data"] = what
        else:
            if a.demo_root is not None:
                root = a.demo_root
                what = f"demo ({root}; train split -> test split)"
            else:
                from cellseg_nb.demo import generate_demo_dataset

                root = generate_demo_dataset(Path(tmp) / "demo", images_per_type=a.images_per_type, seed=a.seed)
                what = f"demo (images_per_type={a.images_per_type}, seed={a.seed}; train split -> test split)"
            ann = root / "annotations" / "LIVECell"
            result = run(a, ann / "livecell_coco_train.json", ann / "livecell_coco_test.json", root / "images", out)
            result["data"] = what
    print(json.dumps(result, indent=1))
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
