"""The labeled edge of the tasks: labeled fields into plain arrays once, and plain arrays back once.

A task (:func:`xda.assimilate`, :func:`xda.downscale`) *prepares* its inputs here (working
units, dimensions ``(..., lat, lon)``, latitudes ascending, NaNs refused by name), *solves*
on plain arrays, and *writes back* here (the input's units, dimension order, latitude order,
coordinates and attrs). Nothing labeled runs in between, so a solver is a function of
arrays that a reader or a test can call without xarray.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from ..errors import DataError
from ..numerics.interp import Bilinear
from . import units as xu
from .grid import Grid
from .observations import PointObservations


@dataclass(frozen=True, eq=False)
class Layout:
    """Where a field's values sit in its labeled array: its extra dimensions, the array transposed to
    ``(*extra, lat, lon)`` (the template of the write-back), its dims as given, and its units."""

    template: xr.DataArray
    extra: tuple
    dims: tuple
    units: str
    flipped: bool  #: the latitudes were stored descending


def ascending(grid: Grid) -> Grid:
    """``grid`` with its latitudes ascending (the grid itself when they already are)."""
    return grid if grid.ascending or grid.lat.size < 2 else replace(grid, lat=grid.lat[::-1].copy())


def to_arrays(da: xr.DataArray, grid: Grid, units: str, name: str, fix: str, label: str | None = None
              ) -> tuple[np.ndarray, Layout]:
    """Values of ``da`` as ``(B, ny, nx)`` in ``units``, latitudes ascending, ``B`` the product of its
    other dimensions, and the :class:`Layout` to write results back with.

    Raises
    ------
    UnitsError
        ``da`` without units, or in units not convertible to ``units``.
    DataError
        NaN or inf values; the message names ``name`` (or says ``label``) and ends with ``fix``.
    """
    extra = tuple(d for d in da.dims if d not in (grid.lat_dim, grid.lon_dim))
    template = da.transpose(*extra, grid.lat_dim, grid.lon_dim)
    values = xu.magnitude(template, units, name=name).reshape(-1, *grid.shape)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{label or repr(name)} has {int(bad.sum())} NaN/inf values; {fix}")
    flipped = not grid.ascending and grid.lat.size > 1
    return (values[:, ::-1] if flipped else values), Layout(template, extra, tuple(da.dims), units, flipped)


def stored_order(values: np.ndarray, layout: Layout) -> np.ndarray:
    """Values (..., ny, nx) with latitudes ascending back in the input's latitude order."""
    return values[..., ::-1, :] if layout.flipped else values


def observations_ascending(ob: PointObservations, grid: Grid) -> PointObservations:
    """``ob`` with its observation operator indexing the grid with latitudes ascending (``ob`` itself when
    they already are): the row ``i`` of a descending grid is the row ``ny - 1 - i``."""
    if grid.ascending or grid.lat.size < 2:
        return ob
    ny, nx = grid.shape
    index = ob.operator.index
    flipped = (ny - 1 - index // nx) * nx + index % nx
    return replace(ob, operator=Bilinear(flipped, ob.operator.weight, ob.operator.shape))


def from_arrays(values: np.ndarray, like: xr.DataArray, layout: Layout, grid: Grid) -> xr.DataArray:
    """Values ``(members, B, ny, nx)`` (latitudes ascending, ``layout.units``) as a DataArray in ``like``'s
    units, dtype, dims, coords and attrs; ``members > 1`` adds a leading ``member`` dimension."""
    a, b = xu.scale_and_offset(xu.parse_units(layout.units), xu.units_of(like, name=str(like.name)))
    values = (stored_order(values, layout) * a + b).astype(like.dtype if like.dtype.kind == "f" else np.float64)
    members, shape = values.shape[0], [layout.template.sizes[d] for d in layout.extra]
    if members > 1:
        arr = values.reshape(members, *shape, *grid.shape)
        new = xr.DataArray(arr, dims=("member", *layout.extra, grid.lat_dim, grid.lon_dim), coords=layout.template.coords)
        new = new.assign_coords(member=np.arange(members)).transpose("member", *layout.dims)
    else:
        new = layout.template.copy(data=values.reshape(*shape, *grid.shape)).transpose(*layout.dims)
    new.attrs = dict(like.attrs)
    return new


def standard_error(se: np.ndarray, analysis: xr.DataArray, layout: Layout, grid: Grid, long_name: str) -> xr.DataArray:
    """A std (ny, nx; latitudes ascending, ``layout.units``) as the CF ancillary variable of ``analysis``
    (``<standard_name> standard_error``, a difference in ``analysis``'s units), described by ``long_name``."""
    a, _ = xu.scale_and_offset(xu.parse_units(layout.units), xu.units_of(analysis, name=str(analysis.name)),
                               name=str(analysis.name), difference=True)
    out = xr.DataArray((stored_order(se, layout) * a).astype(analysis.dtype), dims=(grid.lat_dim, grid.lon_dim),
                       coords={grid.lat_dim: analysis[grid.lat_dim], grid.lon_dim: analysis[grid.lon_dim]})
    sn = analysis.attrs.get("standard_name")
    out.attrs = {"units": analysis.attrs.get("units", layout.units), "long_name": long_name}
    if sn:
        out.attrs["standard_name"] = f"{sn} standard_error"
    return out
