"""cellseg-nb: deep-learning cell segmentation on LIVECell, driven from notebooks.

The package holds all logic (data, synthetic data, models, training, evaluation, plots, widgets and the
papermill pipeline); the numbered notebooks under ``notebooks/`` only call it.
"""

__version__ = "0.1.0"
