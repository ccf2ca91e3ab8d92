"""Tiny in-test datasets for the training tests (semantic maps of synthetic discs)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from cellseg_nb.data.coco import CocoDataset


def disc_scene(seed: int, size: int = 32, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 HxW 0..255, label image) with ``n`` non-touching bright discs."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    k = 0
    for _ in range(50):
        if k == n:
            break
        r = rng.integers(3, 6)
        cy, cx = rng.integers(r + 1, size - r - 1, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        if (ndimage.binary_dilation(disc, iterations=2) & (labels > 0)).any():
            continue
        k += 1
        labels[disc] = k
    image = 100 + 60 * (labels > 0) + rng.normal(0, 5, labels.shape)
    return image.astype(np.float32), labels


def semantic_from_labels(labels: np.ndarray) -> np.ndarray:
    """0 background, 1 interior, 2 boundary (inner edge of each label)."""
    sem = (labels > 0).astype(np.int64)
    eroded = ndimage.grey_erosion(labels, size=3)
    sem[(labels > 0) & (eroded != labels)] = 2
    return sem


class DiscDataset(torch.utils.data.Dataset):
    """Semantic dataset contract; ``flip`` uses the global torch RNG (so resume must restore it)."""

    def __init__(self, n: int = 8, size: int = 32, flip: bool = True, cell_types=("A172", "BV2")) -> None:
        self.items = [disc_scene(i, size) for i in range(n)]
        self.flip = flip
        self.cell_types = cell_types

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        image, labels = self.items[i]
        sem = semantic_from_labels(labels)
        if self.flip and torch.rand(()) < 0.5:
            image, sem = image[:, ::-1], sem[:, ::-1]
        return (torch.from_numpy(image.copy())[None],
                {"semantic": torch.from_numpy(sem.copy()), "image_id": i,
                 "cell_type": self.cell_types[i % len(self.cell_types)]})


def disc_gt(dataset: DiscDataset) -> CocoDataset:
    """COCO ground truth (RLE) for the unflipped scenes of ``dataset``."""
    from pycocotools import mask as mask_utils

    images, anns = [], []
    for i, (_, labels) in enumerate(dataset.items):
        ct = dataset.cell_types[i % len(dataset.cell_types)]
        images.append({"id": i, "file_name": f"{ct}_Phase_A1_1_00d00h00m_{i}.tif",
                       "width": labels.shape[1], "height": labels.shape[0]})
        for k in range(1, labels.max() + 1):
            m = np.asfortranarray((labels == k).astype(np.uint8))
            rle = mask_utils.encode(m)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                         "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode()},
                         "area": float(m.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)]})
    return CocoDataset(images=images, annotations=anns)
