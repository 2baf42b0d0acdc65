"""Training: the shared fit loop and one module per task (layer above ``models``).

``python -m xda.training DATA.nc`` trains the assimilation denoiser;
``python -m xda.training.downscaling DATA.nc`` the downscaling model.
"""

from .assimilation import background_error_stats, train
from .downscaling import train_downscaler
from .loop import fit

__all__ = ["background_error_stats", "fit", "train", "train_downscaler"]
