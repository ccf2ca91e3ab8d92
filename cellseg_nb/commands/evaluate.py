"""``cellseg-nb evaluate``: LIVECell-protocol metrics of a COCO results file against ground truth."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .arguments import existing_file, existing_path, probability

NAME = "evaluate"
HELP = "score predictions (COCO results json or a folder of label TIFFs) under LIVECell's protocol"
DESCRIPTION = (
    "COCO AP/AR at 2,000 detections (one class, IoU 0.50:0.95, areas 18^2/31^2), AFNR, and precision, "
    "recall and F1 at IoU 0.5 for predictions scoring at least --score-threshold; overall and per cell type."
)

#: Keys of the --json output (overall and per cell type); fractions in [0, 1], null where undefined.
JSON_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR500", "AR2000", "AFNR",
                              "precision", "recall", "F1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, type=existing_file, help="ground-truth COCO json (LIVECell format)")
    parser.add_argument("--pred", required=True, type=existing_path,
                        help="COCO results json (RLE masks with scores), or a folder of uint16 label TIFFs "
                             "named like the images")
    parser.add_argument("--iou-type", choices=("segm", "bbox"), default="segm", help="mask (segm) or box AP")
    parser.add_argument("--score-threshold", type=probability, default=0.5,
                        help="minimum score for precision/recall/F1, in [0, 1] (default 0.5)")
    parser.add_argument("--backend", choices=("faster", "pycocotools"), default="faster",
                        help="COCO engine: faster-coco-eval (default) or the pycocotools reference")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--per-image", type=Path, default=None, metavar="CSV",
                        help="also write the per-image table (counts, F1, mSA, pixel metrics, taxonomy) as CSV")


def run(args: argparse.Namespace) -> int:
    from ..data.coco import load_coco
    from ..eval import evaluate_instances
    from ..eval.labels import read_label_tiffs
    from ..outputs import check_output_file

    if args.per_image is not None:  # before the evaluation, so its result is never lost to a bad path
        check_output_file(args.per_image, "--per-image")
    gt = load_coco(args.gt)
    predictions = read_label_tiffs(args.pred, gt) if args.pred.is_dir() else args.pred
    ev = evaluate_instances(gt, predictions, iou_type=args.iou_type, score_threshold=args.score_threshold,
                            backend=args.backend)
    if args.per_image is not None:
        from ..atomic import atomic_write_text

        atomic_write_text(args.per_image, ev.per_image.to_csv(index=False))
    if args.json:
        print(json.dumps(json_summary(ev)))
    else:
        print(text_report(ev))
    return 0


def json_summary(ev) -> dict:
    """The --json object: :data:`JSON_KEYS` overall plus ``per_cell_type`` with the same keys."""
    def pick(summary: dict) -> dict:
        return {k: _number(summary.get(k)) for k in JSON_KEYS}

    out = pick(ev.summary)
    out["per_cell_type"] = {ct: pick(s) for ct, s in ev.per_cell_type.items()}
    return out


def _number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def text_report(ev) -> str:
    """A readable table: one row per cell type (display spelling) and LIVECell overall."""
    from ..eval.tables import summary_table

    table = summary_table(ev, list(JSON_KEYS) + ["n_images", "n_cells"])
    shown = table.copy().astype(object)
    for col in JSON_KEYS:
        shown[col] = [("-" if not math.isfinite(v) else f"{v:.3f}") for v in table[col]]
    for col in ("n_images", "n_cells"):
        shown[col] = [str(int(v)) for v in table[col]]
    header = (f"{ev.iou_type} evaluation, LIVECell protocol (AP at 2000 detections; precision/recall/F1 at "
              f"IoU 0.5, score >= {ev.score_threshold:g}; backend {ev.backend})")
    return header + "\n" + shown.to_string()
