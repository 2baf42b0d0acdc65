"""Training (layer above ``models``): the one driver (:mod:`xda.training.recipes`: recipes, presets and the
options recorded in the card), the shared fit loop and device policy (:mod:`xda.training.loop`), one module
per model and fine-tuning.

``xda train TASK DATA.nc`` (or ``python -m xda.training DATA.nc`` for the anchored assimilation model)
runs a recipe; ``xda.train(...)`` is the same from Python.
"""

from .assimilation import make_bank, make_case, train
from .downscaling import train_downscaler
from .loop import fit

__all__ = ["fit", "make_bank", "make_case", "train", "train_downscaler"]
