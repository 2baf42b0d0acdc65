"""xda: physics-guided diffusion models for data assimilation, inside xarray.

>>> import xda
>>> analysis = background.phyda.assimilate(obs)        # doctest: +SKIP
>>> fine = coarse.phyda.downscale(factor=4)            # doctest: +SKIP
"""

import os

from ._version import __version__
from ._versions import show_versions
from .numerics import threads

threads.set_wait_policy()  # before numba's OpenMP layer or torch start (see xda.numerics.threads)

from . import datasets, metrics, static  # noqa: E402
from .accessor import PhydaAccessor  # noqa: E402,F401  (registers ds.phyda / da.phyda)
from .assimilation.covariance import BackgroundError  # noqa: E402
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
from .models.cards import available_models  # noqa: E402
from .spectra import isotropic_power_spectrum, power_spectrum, spectral_divergence, spectral_slope  # noqa: E402
from .tasks import assimilate, coarsen, downscale  # noqa: E402

set_num_threads = threads.set_num_threads
if threads.ENV in os.environ:
    threads.set_num_threads()


def load_model(name: str | None = None, device=None, **kwargs):
    """Load a model and its card (imports torch); see :func:`xda.models.registry.load_model`."""
    from .models.registry import DEFAULT_MODEL, load_model as _load

    return _load(DEFAULT_MODEL if name is None else name, device=device, **kwargs)


def train(data, out=None, *, task: str = "assimilation", init: str | None = None, **kwargs):
    """Train a model on a simulation file, or fine-tune one on an archive of (background, truth) pairs.

    * ``data`` an ``xarray.Dataset`` with ``background`` and ``truth``: fine-tune the
      anchored assimilation model ``init`` (default: the shipped one) on it,
      :func:`xda.training.finetune.finetune` (``minutes=``, ``cases=``, ...).
    * ``data`` fine near-surface temperature (time, lat, lon) with ``task="downscaling"``:
      fine-tune the downscaling model ``init`` on it (coarsened internally, the last times
      held out), :func:`xda.training.downscaling_finetune.finetune_downscaler`.
    * ``data`` a path to a simulation file from :mod:`xda.simulate`: the recipe ``task``
      (``"assimilation"``, ``"joint"``, ``"latent"``, ``"downscaling"``, or
      ``"assimilation-mean-head"``: the model ``init`` given its sampler's mean) of the one
      training driver, :func:`xda.training.recipes.run` (``preset="default"`` or
      ``"smoke"``).

    Every path goes through :func:`xda.training.recipes.run` (the fine-tunings as the recipes
    ``"assimilation-finetune"`` and ``"downscaling-finetune"``), which records the resolved
    options in the card as ``training_options``.

    Keyword arguments go to those functions. Returns the path of the weight file.
    """
    import xarray as _xr

    from .training.recipes import run

    given = {"init": init} if init else {}
    if isinstance(data, (_xr.Dataset, _xr.DataArray)):
        recipe = "downscaling-finetune" if task == "downscaling" else "assimilation-finetune"
        return run(recipe, data, out, **given, **kwargs)
    if out is None:
        raise TypeError("train(path, out): give the directory for the weights")
    return run(task, data, out, **given, **kwargs)


__all__ = ["show_versions", "set_num_threads", "threads", "divergence", "vorticity", "geostrophic_residual", "effective_diffusivity", "isotropic_power_spectrum", "power_spectrum", "spectral_divergence", "spectral_slope", "advection", "advection_diffusion_residual", "gradient", "laplacian", "metrics", "assimilate", "downscale", "coarsen", "static", "BackgroundError", "available_models", "load_model", "train", "datasets", "__version__"]
