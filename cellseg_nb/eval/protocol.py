"""LIVECell's COCO evaluation protocol: parameters, backends and the numbers read from their arrays.

LIVECell evaluates one class (``useCats = 0``) at IoU 0.50:0.05:0.95 with ``maxDets = [100, 500, 2000]``
and area ranges all / small ``[0, 18^2]`` / medium ``[18^2, 31^2]`` / large ``[31^2, inf]``. Every AP is
taken at 2,000 detections, which stock ``COCOeval.summarize()`` does not do (it reads AP at
``maxDets[0]``), so this module reads AP and AR straight from ``eval['precision']`` and ``eval['recall']``.

Two backends produce those arrays: ``"faster"`` (faster-coco-eval's C++ ``COCOeval_faster``, the
default; ``tests/test_eval_protocol.py`` checks its arrays equal pycocotools' under this protocol) and
``"pycocotools"`` (the reference implementation, slow on crowded images).
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from ..data.geometry import segmentation_rle

Backend = Literal["faster", "pycocotools"]
IouType = Literal["segm", "bbox"]

#: LIVECell's detection limits; AP is always read at the last one.
MAX_DETS: tuple[int, ...] = (100, 500, 2000)
#: Area ranges in pixels: all, small [0, 18^2], medium [18^2, 31^2], large [31^2, inf).
AREA_RANGES: tuple[tuple[float, float], ...] = ((0.0, 1e10), (0.0, 18.0 ** 2), (18.0 ** 2, 31.0 ** 2), (31.0 ** 2, 1e10))
AREA_LABELS: tuple[str, ...] = ("all", "small", "medium", "large")
#: The ten COCO IoU thresholds 0.50:0.05:0.95 (the same array pycocotools builds).
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)

#: Keys of the COCO part of a summary, in report order.
COCO_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR500", "AR2000", "AFNR")


@dataclass
class CocoArrays:
    """What a COCO evaluation leaves behind for one set of images.

    ``precision`` has shape [T=10, R=101, K=1, A=4, M=3] and ``recall`` [T, K, A, M] (pycocotools'
    layout; -1 marks undefined entries). ``image_ids`` are the images the arrays cover.
    """

    precision: np.ndarray
    recall: np.ndarray
    image_ids: list

    def summary(self) -> dict[str, float]:
        """AP, AP50, AP75, APs/m/l at 2,000 detections, AR at 100/500/2000 (all areas) and AFNR.

        Each value is the mean of the defined entries (> -1) of the relevant slice, NaN when none is
        defined (e.g. APs when no small cell exists). AFNR = 1 - AR2000: the mean over the ten IoU
        thresholds of the fraction of ground-truth cells left unmatched.
        """
        m = len(MAX_DETS) - 1
        t50 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.5)))
        t75 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.75)))
        p, r = self.precision, self.recall
        out = {
            "AP": _mean_defined(p[:, :, :, 0, m]),
            "AP50": _mean_defined(p[t50, :, :, 0, m]),
            "AP75": _mean_defined(p[t75, :, :, 0, m]),
            "APs": _mean_defined(p[:, :, :, 1, m]),
            "APm": _mean_defined(p[:, :, :, 2, m]),
            "APl": _mean_defined(p[:, :, :, 3, m]),
        }
        for i, n in enumerate(MAX_DETS):
            out[f"AR{n}"] = _mean_defined(r[:, :, 0, i])
        out["AFNR"] = 1.0 - out[f"AR{MAX_DETS[-1]}"] if np.isfinite(out[f"AR{MAX_DETS[-1]}"]) else float("nan")
        return out


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else float("nan")


def gt_for_cocoeval(gt_dict: Mapping[str, Any], rles: Sequence[dict] | None = None) -> dict:
    """A copy of a COCO ground-truth dict with what COCOeval needs filled in.

    Missing ``iscrowd`` becomes 0, missing ``area`` the mask area, and every annotation gets category
    1 (one class) so both backends index it the same way, and the id ``k + 1`` (its position): COCOeval
    records matches by ground-truth id with 0 meaning "unmatched", so a file's id 0 (or a string id)
    would silently turn a match into a false positive (or fail). ``rles`` (one per annotation, in order, as
    made by :func:`cellseg_nb.data.geometry.segmentation_rle`) replace the segmentations so backends need not rasterise
    polygons again: COCOeval converts polygons with the same ``frPyObjects`` + ``merge``, so IoUs are
    unchanged, while ``area`` stays the record's own value (it decides the size class).
    """
    from pycocotools import mask as mask_utils

    images = {img["id"]: img for img in gt_dict["images"]}
    anns = []
    for k, ann in enumerate(gt_dict["annotations"]):
        ann = dict(ann)
        ann.setdefault("iscrowd", 0)
        ann["category_id"] = 1
        # COCOeval stores matched ground-truth ids in float arrays where 0 means "unmatched": an id 0
        # would count its match as a false positive, a string id fails. Ids are internal here: 1..N.
        ann["id"] = k + 1
        rle = None
        if rles is not None:
            rle = rles[k]
            counts = rle["counts"]
            ann["segmentation"] = {"size": list(rle["size"]),
                                   "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
        if "area" not in ann or "bbox" not in ann:
            img = images[ann["image_id"]]
            if rle is None:
                rle = segmentation_rle(ann["segmentation"], img["height"], img["width"])
            else:
                rle = segmentation_rle(rle, img["height"], img["width"])
            ann.setdefault("area", float(mask_utils.area(rle)))
            ann.setdefault("bbox", [float(v) for v in mask_utils.toBbox(rle)])
        anns.append(ann)
    return {
        "info": gt_dict.get("info", {}) or {},
        "licenses": gt_dict.get("licenses", []) or [],
        "categories": [{"supercategory": "cell", "id": 1, "name": "cell"}],
        "images": list(gt_dict["images"]),
        "annotations": anns,
    }


def _set_params(evaluator, image_ids: list) -> None:
    p = evaluator.params
    p.useCats = 0
    p.iouThrs = IOU_THRESHOLDS.copy()
    p.maxDets = list(MAX_DETS)
    p.areaRng = [list(a) for a in AREA_RANGES]
    p.areaRngLbl = list(AREA_LABELS)
    p.imgIds = list(image_ids)


def coco_arrays(gt_dict: Mapping[str, Any], results: list[dict], *, iou_type: IouType = "segm",
                backend: Backend = "faster",
                groups: Mapping[str, Iterable[Any]] | None = None,
                copy_records: bool = True) -> dict[str, CocoArrays]:
    """Run COCO evaluation under LIVECell's protocol and return precision/recall arrays per group.

    ``gt_dict`` is a COCO dict prepared by :func:`gt_for_cocoeval`; ``results`` COCO result records.
    ``groups`` maps a name to the image ids it covers (default: ``{"all": every image}``); each group
    gets its own accumulation, so AP of a group is exactly what COCOeval gives on those images alone.
    The backends add keys to ground-truth records; ``copy_records=False`` skips protecting the caller's
    annotation records (for a ``gt_dict`` made just for this call, as :func:`gt_for_cocoeval` makes).
    Image ids are mapped to 1..M internally (same order) and back, so any int or str ids work.
    """
    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type must be 'segm' or 'bbox', got {iou_type!r}")
    if backend not in ("faster", "pycocotools"):
        raise ValueError(f"backend must be 'faster' or 'pycocotools', got {backend!r}")
    all_ids = [img["id"] for img in gt_dict["images"]]
    groups = {"all": all_ids} if groups is None else {k: list(v) for k, v in groups.items()}
    gt_dict = _record_copies(gt_dict) if copy_records else dict(gt_dict)
    # internal image ids 1..M in the order COCOeval sorts the file's own ids (ties between equal scores
    # of different images break by that order): faster-coco-eval fails on string or negative ids
    internal = _internal_image_ids(all_ids)
    gt_dict["images"] = [dict(img, id=internal[img["id"]]) for img in gt_dict["images"]]
    for ann in gt_dict["annotations"]:  # fresh copies either way (see copy_records)
        ann["image_id"] = internal[ann["image_id"]]
    results = [dict(r, category_id=1, image_id=internal[r["image_id"]]) for r in results]
    run = _pycocotools_arrays if backend == "pycocotools" else _faster_arrays
    out = run(gt_dict, results, iou_type, {k: [internal[i] for i in v] for k, v in groups.items()})
    for name, ids in groups.items():
        out[name].image_ids = list(ids)
    return out


def _internal_image_ids(ids: Sequence[Any]) -> dict[Any, int]:
    """``{file id: 1..M}`` preserving COCOeval's sort order (numbers ascending, then strings)."""
    numbers_first = sorted((i for i in ids if not isinstance(i, str)), key=float)
    strings = sorted(i for i in ids if isinstance(i, str))
    return {orig: k + 1 for k, orig in enumerate(numbers_first + strings)}


def _pycocotools_arrays(gt_dict, results, iou_type, groups) -> dict[str, CocoArrays]:
    """pycocotools: evaluate every image once, then accumulate each group from the per-image records."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else _empty_results(COCO, coco_gt)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        _set_params(ev, [img["id"] for img in gt_dict["images"]])
        ev.evaluate()
        # evalImgs is laid out [area range][image] in the order of the evaluated (sorted) image ids;
        # accumulate() indexes it by position, so each group gets its own slice and parameters.
        full, evaluated = ev.evalImgs, copy.deepcopy(ev._paramsEval)
        position = {img_id: i for i, img_id in enumerate(evaluated.imgIds)}
        n_images, n_areas = len(evaluated.imgIds), len(evaluated.areaRng)
        out = {}
        for name, ids in groups.items():
            sub_ids = sorted(set(ids), key=position.__getitem__)
            ev.evalImgs = [full[a * n_images + position[i]] for a in range(n_areas) for i in sub_ids]
            ev._paramsEval = copy.deepcopy(evaluated)
            ev._paramsEval.imgIds = sub_ids
            ev.params.imgIds = sub_ids
            ev.accumulate()
            out[name] = CocoArrays(np.array(ev.eval["precision"]), np.array(ev.eval["recall"]), list(ids))
    return out


def _faster_arrays(gt_dict, results, iou_type, groups) -> dict[str, CocoArrays]:
    """faster-coco-eval: evaluate every image once in C++, then accumulate each group from its slice.

    ``separate_eval=True`` keeps the per-image records (laid out [area range][image] like pycocotools'
    evalImgs); the C++ accumulation is called on each group's slice with the group's image ids, which
    is what ``COCOeval_faster.accumulate`` does for the whole set. Tests check every group's arrays
    against pycocotools run on that group alone.
    """
    import faster_coco_eval.faster_eval_api_cpp as cpp
    from faster_coco_eval import COCO, COCOeval_faster

    coco_gt = COCO(gt_dict, print_function=_silent)
    coco_dt = coco_gt.loadRes(results)
    ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=_silent, rle_iou_max_workers=1,
                         separate_eval=True)
    _set_params(ev, [img["id"] for img in gt_dict["images"]])
    ev.evaluate()
    full, evaluated = ev._evalImgs_cpp, ev._paramsEval
    position = {img_id: i for i, img_id in enumerate(evaluated.imgIds)}
    n_images, n_areas = len(evaluated.imgIds), len(evaluated.areaRng)
    if len(full) != n_areas * n_images:
        raise RuntimeError(f"faster-coco-eval returned {len(full)} image records, expected {n_areas * n_images}")
    out = {}
    for name, ids in groups.items():
        sub_ids = sorted(set(ids), key=position.__getitem__)
        params = copy.deepcopy(evaluated)
        params.imgIds = sub_ids
        records = [full[a * n_images + position[i]] for a in range(n_areas) for i in sub_ids]
        acc = cpp.COCOevalAccumulate(params, records)
        out[name] = CocoArrays(np.array(acc["precision"]), np.array(acc["recall"]), list(ids))
    return out


def _record_copies(gt_dict: Mapping[str, Any]) -> dict:
    """A COCO dict whose image and annotation records are fresh (shallow) copies.

    COCOeval adds keys to ground-truth records (``ignore``) and loadRes to result records; nested
    segmentations are only read, so copying one level keeps the caller's data intact without the cost
    of a deep copy (which dominated evaluation time on LIVECell-scale sets).
    """
    out = dict(gt_dict)
    out["images"] = [dict(img) for img in gt_dict["images"]]
    out["annotations"] = [dict(ann) for ann in gt_dict["annotations"]]
    out["categories"] = [dict(cat) for cat in gt_dict["categories"]]
    return out


def _empty_results(coco_cls, coco_gt):
    res = coco_cls()
    res.dataset = {"images": list(coco_gt.dataset["images"]), "annotations": [],
                   "categories": copy.deepcopy(coco_gt.dataset["categories"])}
    res.createIndex()
    return res


def _silent(*args, **kwargs) -> None:
    return None
