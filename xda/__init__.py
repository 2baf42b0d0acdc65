"""xda: physics-guided diffusion models for data assimilation, inside xarray.

>>> import xda
>>> analysis = background.phyda.assimilate(obs)        # doctest: +SKIP
>>> fine = coarse.phyda.downscale(factor=4)            # doctest: +SKIP
"""

__version__ = "0.1.0"

from . import datasets, metrics, static  # noqa: E402
from .accessor import PhydaAccessor  # noqa: E402,F401  (registers ds.phyda / da.phyda)
from .assimilate import assimilate  # noqa: E402
from .downscale import coarsen, downscale  # noqa: E402
from .background_error import BackgroundError  # noqa: E402
from .diagnostics import (  # noqa: E402
    advection,
    advection_diffusion_residual,
    divergence,
    effective_diffusivity,
    geostrophic_residual,
    gradient,
    laplacian,
    vorticity,
)
from .spectra import isotropic_power_spectrum, power_spectrum, spectral_divergence, spectral_slope  # noqa: E402
from .models.registry import available_models, load_model  # noqa: E402


def train(data, out, *, task: str = "assimilation", **kwargs):
    """Train a model on a simulation file from :mod:`xda.simulate`.

    ``task="assimilation"``: :func:`xda.training.train`; ``task="downscaling"``:
    :func:`xda.training_downscaling.train_downscaler`. Keyword arguments go to them.
    """
    if task == "assimilation":
        from .training import train as _train
    elif task == "downscaling":
        from .training_downscaling import train_downscaler as _train
    else:
        raise ValueError(f"unknown task {task!r}; use 'assimilation' or 'downscaling'")
    return _train(data, out, **kwargs)


__all__ = ["divergence", "vorticity", "geostrophic_residual", "effective_diffusivity", "isotropic_power_spectrum", "power_spectrum", "spectral_divergence", "spectral_slope", "advection", "advection_diffusion_residual", "gradient", "laplacian", "metrics", "assimilate", "downscale", "coarsen", "static", "BackgroundError", "available_models", "load_model", "train", "datasets", "__version__"]
