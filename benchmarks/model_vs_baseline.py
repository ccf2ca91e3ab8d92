"""Small U-Net trained for a fixed wall-clock budget on CPU vs the classical baseline (instance F1, AP).

Demo data (default): ``generate_demo_dataset(--images-per-type, --seed)``, train on its train split, score
both methods on its test split. ``--sample ROOT``: the 5 annotated real images of the LIVECell sample,
trained and scored on the same 5 images (there is no held-out annotated image; this shows fit, not
generalisation). Uses ``cellseg_nb.data.datasets.SemanticDataset`` when present, else the small COCO ->
semantic crop dataset below (same target definition: 0 background, 1 interior, 2 boundary).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/unet_vs_baseline.py --minutes 10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from cellseg_nb.data.coco import load_coco
from cellseg_nb.data.images import read_image
from cellseg_nb.data.layout import ImageLocator


class CocoSemanticCrops(torch.utils.data.Dataset):
    """Random ``crop`` x ``crop`` windows (image, {"semantic", "image_id", "cell_type"}) of a COCO set."""

    def __init__(self, annotations, images, crop: int, length: int, seed: int = 0) -> None:
        from pycocotools import mask as mask_utils

        self.gt = load_coco(annotations)
        loc = ImageLocator(images)
        self.items = []
        for img in self.gt.images:
            image = read_image(loc.resolve(img["file_name"])).astype(np.float32)
            h, w = image.shape
            labels = np.zeros((h, w), np.int32)
            for k, ann in enumerate(self.gt.annotations_for(img["id"]), 1):
                seg = ann["segmentation"]
                rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg, list) else seg
                m = mask_utils.decode(mask_utils.merge(rle) if isinstance(rle, list) else rle).astype(bool)
                labels[m & (labels == 0)] = k
            sem = (labels > 0).astype(np.int64)
            edge = (ndimage.grey_erosion(labels, size=3) != labels) | (ndimage.grey_dilation(labels, size=3) != labels)
            sem[(labels > 0) & edge] = 2
            self.items.append((image, sem, img["id"], self.gt.meta(img["id"]).cell_type))
        self.crop, self.length, self.seed = crop, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, i])
        image, sem, image_id, cell_type = self.items[rng.integers(len(self.items))]
        h, w = image.shape
        y, x = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
        im, se = image[y:y + self.crop, x:x + self.crop], sem[y:y + self.crop, x:x + self.crop]
        if rng.random() < 0.5:
            im, se = im[:, ::-1], se[:, ::-1]
        if rng.random() < 0.5:
            im, se = im[::-1], se[::-1]
        return (torch.from_numpy(im.copy())[None],
                {"semantic": torch.from_numpy(se.copy()), "image_id": image_id, "cell_type": cell_type})


def run(train_json, test_json, images, out: Path, minutes: float, crop: int, width_mult: float, seed: int) -> dict:
    from cellseg_nb.baseline import segment_dataset
    from cellseg_nb.eval import evaluate_instances
    from cellseg_nb.train import config_from_dict, train
    from cellseg_nb.train.predict import predict_dataset

    train_set = CocoSemanticCrops(train_json, images, crop, length=100000, seed=seed)
    # steps per second measured on a few warm-up steps decide how many steps fit in the budget
    cfg = dict(model={"name": "unet", "kwargs": {"width_mult": width_mult, "norm": "batch"}},
               batch_size=4, device="cpu", amp="none", seed=seed, progress=False, log_every=20,
               optim={"name": "adamw", "lr": 2e-3, "weight_decay": 1e-4},
               schedule={"name": "cosine", "warmup_steps": 20})
    t0 = time.perf_counter()
    train(config_from_dict({**cfg, "steps": 10, "output_dir": str(out / "probe")}), train_dataset=train_set)
    per_step = (time.perf_counter() - t0) / 10
    steps = max(20, int(minutes * 60 / per_step))
    t0 = time.perf_counter()
    res = train(config_from_dict({**cfg, "steps": steps, "checkpoint_every": steps, "output_dir": str(out / "run")}),
                train_dataset=train_set)
    train_s = time.perf_counter() - t0
    gt = load_coco(test_json)
    unet = evaluate_instances(gt, predict_dataset(res.last_checkpoint, gt, images, device="cpu", progress=False)
                              or []).summary
    base = evaluate_instances(gt, segment_dataset(gt, images)).summary
    keys = ("AP", "AP50", "F1", "AFNR")
    return {"steps": steps, "train_seconds": round(train_s, 1), "crop": crop, "width_mult": width_mult,
            "unet": {k: unet[k] for k in keys}, "baseline": {k: base[k] for k in keys}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images-per-type", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--width-mult", type=float, default=0.25)
    p.add_argument("--sample", type=Path, default=None, help="LIVECell sample root (5 annotated images)")
    p.add_argument("--json", type=Path, default=None, help="write the numbers here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.sample is not None:
            ann = a.sample / "annotations" / "LIVECell" / "livecell_coco_val.json"
            result = run(ann, ann, a.sample / "images", tmp, a.minutes, a.crop, a.width_mult, a.seed)
            result["data"] = "livecell-sample (5 annotated images, train = test)"
        else:
            from cellseg_nb.demo import generate_demo_dataset

            root = generate_demo_dataset(tmp / "demo", images_per_type=a.images_per_type, seed=a.seed)
            ann = root / "annotations" / "LIVECell"
            result = run(ann / "livecell_coco_train.json", ann / "livecell_coco_test.json", root / "images", tmp,
                         a.minutes, a.crop, a.width_mult, a.seed)
            result["data"] = f"demo (images_per_type={a.images_per_type}, seed={a.seed}; train split -> test split)"
    print(json.dumps(result, indent=1))
    if a.json is not None:
        a.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
