"""The ``.phyda`` accessor on Datasets and DataArrays: it holds the object and delegates."""

from __future__ import annotations

import xarray as xr


class PhydaAccessor:
    """``obj.phyda.<method>(...)`` is ``xda.<method>(obj, ...)``; no state is kept."""

    def __init__(self, obj):
        self._obj = obj

    def assimilate(self, obs, **kwargs):
        """Analysis of this background given ``obs``; see :func:`xda.assimilate`."""
        from .tasks import assimilate

        return assimilate(self._obj, obs, **kwargs)

    def downscale(self, factor=None, **kwargs):
        """This coarse temperature on a grid ``factor`` times finer; see :func:`xda.downscale`."""
        from .tasks import downscale

        return downscale(self._obj, factor, **kwargs)

    def advection_diffusion_residual(self, u, v, kappa=0.0, **kwargs):
        """See :func:`xda.advection_diffusion_residual`."""
        from .diagnostics import advection_diffusion_residual

        return advection_diffusion_residual(self._obj, u, v, kappa, **kwargs)

    def advection(self, u, v, **kwargs):
        """See :func:`xda.advection`."""
        from .diagnostics import advection

        return advection(self._obj, u, v, **kwargs)

    def laplacian(self, **kwargs):
        """See :func:`xda.laplacian`."""
        from .diagnostics import laplacian

        return laplacian(self._obj, **kwargs)

    def gradient(self, **kwargs):
        """See :func:`xda.gradient`."""
        from .diagnostics import gradient

        return gradient(self._obj, **kwargs)


xr.register_dataset_accessor("phyda")(PhydaAccessor)
xr.register_dataarray_accessor("phyda")(PhydaAccessor)
