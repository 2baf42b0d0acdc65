"""Training: the shared fit loop and one module per task (layer above ``models``).

``python -m xda.training DATA.nc`` trains the anchored assimilation model;
``python -m xda.training.downscaling DATA.nc`` the downscaling model.
"""

from .assimilation import make_bank, make_case, train
from .downscaling import train_downscaler
from .loop import fit

__all__ = ["fit", "make_bank", "make_case", "train", "train_downscaler"]
