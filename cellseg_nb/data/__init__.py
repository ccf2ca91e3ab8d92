"""The LIVECell data layer: COCO json, image layouts and files, targets, caches, torch datasets, downloads."""
