"""Plain pycocotools under LIVECell's protocol: the independent reference evaluation tests compare with.

One class (``useCats`` 0), maxDets [100, 500, 2000], LIVECell's area ranges (18² / 31²); AP and AR are
read at 2000 detections by the callers.
"""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np

AREAS = [[0, 1e10], [0, 324], [324, 961], [961, 1e10]]


def reference_arrays(gt: str | Path | dict, results: list[dict], iou_type: str = "segm", image_ids=None):
    """COCOeval's precision and recall arrays for ``results`` (as given) against ``gt`` (a path or a
    COCO dict)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco = COCO()
            coco.dataset = copy.deepcopy(gt)
            coco.createIndex()
        else:
            coco = COCO(str(gt))
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, iou_type)
        ev.params.useCats = 0
        ev.params.maxDets = [100, 500, 2000]
        ev.params.areaRng = AREAS
        ev.params.areaRngLbl = ["all", "small", "medium", "large"]
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"], ev.eval["recall"]


def mean_defined(a: np.ndarray) -> float:
    """Mean over the defined entries (COCOeval marks undefined ones -1)."""
    a = a[a > -1]
    return float(a.mean()) if a.size else float("nan")
