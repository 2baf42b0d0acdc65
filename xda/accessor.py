"""The ``.phyda`` accessor on Datasets and DataArrays: it holds the object and delegates."""

from __future__ import annotations

import xarray as xr


class PhydaAccessor:
    """``obj.phyda.<method>(...)`` is ``xda.<method>(obj, ...)``; no state is kept."""

    def __init__(self, obj):
        self._obj = obj

    def assimilate(self, obs, **kwargs):
        """Analysis of this background given ``obs``; see :func:`xda.assimilate`."""
        from .assimilate import assimilate

        return assimilate(self._obj, obs, **kwargs)


xr.register_dataset_accessor("phyda")(PhydaAccessor)
xr.register_dataarray_accessor("phyda")(PhydaAccessor)
