"""Static surface fields on any latitude-longitude grid (orography from ETOPO20).

Near-surface temperature owes much of its fine structure to the height of the ground;
the downscaling model takes the surface altitude on the fine grid as an input. xda ships
NOAA's ETOPO 20-arc-minute relief (``xda/data/etopo20.nc``, see ``SOURCES.md``) and
averages it onto the grid a user asks for, so the model sees the same kind of field in
training (Held-Suarez with this orography) and in use.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .datasets import open_dataset
from ..numerics.regrid import cell_bounds


def _etopo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, relief) of the bundled ETOPO20, repaired by :func:`xda.datasets.open_dataset`."""
    ds = open_dataset("etopo20")
    return ds["lat"].values, ds["lon"].values, ds["elevation"].values.astype(np.float64)


def surface_altitude(lat: np.ndarray, lon: np.ndarray, ocean: float | None = 0.0) -> np.ndarray:
    """ETOPO20 relief averaged (area-weighted) over each cell of a lat-lon grid.

    Parameters
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Cell centres in degrees (any order, any longitude convention).
    ocean : float or None
        Value that replaces negative relief (sea floor) before averaging: 0 gives the
        surface altitude (the height of the ground or the sea surface); None keeps the
        bathymetry.

    Returns
    -------
    ndarray, shape (ny, nx), metres
        Cells that contain no ETOPO point (grids finer than 1/3 deg) take the bilinear
        interpolation of ETOPO at their centre.

    Notes
    -----
    Each ETOPO point (1/3 deg) is assigned to the cell whose bounds (half-way between
    centres) contain it, and averaged with weight cos(latitude): a first-order
    conservative regridding. Source: NOAA ETOPO5/20 via Debian ``ferret-datasets``.
    """
    elat, elon, z = _etopo()
    if ocean is not None:
        z = np.maximum(z, ocean)
    return _cell_mean(elat, elon, z, lat, lon)


def land_area_fraction(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Fraction of each cell of a lat-lon grid whose ETOPO20 relief is above sea level.

    Parameters
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Cell centres in degrees (any order, any longitude convention).

    Returns
    -------
    ndarray, shape (ny, nx), 0..1 (CF ``land_area_fraction``, ``sftlf`` / 100)
        Area-weighted mean of the land indicator ``relief > 0`` over the 1/3 deg ETOPO
        points in each cell (the same assignment as :func:`surface_altitude`). Land
        below sea level (the Caspian shore, the Dead Sea) counts as sea: a 0.1 % error
        that a 20-arc-minute relief cannot avoid.
    """
    elat, elon, z = _etopo()
    return np.clip(_cell_mean(elat, elon, (z > 0).astype(np.float64), lat, lon), 0.0, 1.0)


def _cell_mean(elat, elon, z, lat, lon) -> np.ndarray:
    """Area-weighted mean of the ETOPO-point values ``z`` over each cell (see :func:`surface_altitude`)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lat_order = np.argsort(lat)
    lon_mod = np.mod(lon, 360.0)
    lon_order = np.argsort(lon_mod)
    ys = lat[lat_order]
    xs = lon_mod[lon_order]
    yb = cell_bounds(ys, -90.0, 90.0)
    periodic = xs.size > 1 and np.isclose(xs.size * np.median(np.diff(xs)), 360.0, rtol=1e-3)
    xb = cell_bounds(xs, periodic=periodic)
    ei = np.searchsorted(yb, elat) - 1
    # longitude: shift ETOPO longitudes into [xb0, xb0 + 360)
    el = xb[0] + np.mod(elon - xb[0], 360.0)
    ej = np.searchsorted(xb, el) - 1
    ok_i = (ei >= 0) & (ei < ys.size)
    ok_j = (ej >= 0) & (ej < xs.size)
    w = np.cos(np.radians(elat))[:, None] * np.ones((1, elon.size))
    flat = (ei[:, None] * xs.size + ej[None, :])
    mask = ok_i[:, None] & ok_j[None, :]
    n = ys.size * xs.size
    total = np.bincount(flat[mask], weights=(w * z)[mask], minlength=n)
    weight = np.bincount(flat[mask], weights=w[mask], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total / weight).reshape(ys.size, xs.size)
    empty = ~np.isfinite(out)
    if empty.any():
        from scipy.interpolate import RegularGridInterpolator

        zz = np.concatenate([z[:, -1:], z, z[:, :1]], axis=1)
        ll = np.concatenate([[elon[-1] - 360], elon, [elon[0] + 360]])
        order = np.argsort(ll)
        f = RegularGridInterpolator((elat, ll[order]), zz[:, order], bounds_error=False, fill_value=None)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        out[empty] = f(np.stack([yy[empty], np.mod(xx[empty], 360.0)], axis=-1))
    # back to the caller's order
    result = np.empty_like(out)
    result[np.ix_(lat_order, lon_order)] = out
    return result


def orography_like(field: xr.DataArray | xr.Dataset, *, lat: str | None = None, lon: str | None = None) -> xr.DataArray:
    """Surface altitude from ETOPO20 on the horizontal grid of ``field``.

    Parameters
    ----------
    field : DataArray or Dataset
        Anything with latitude and longitude coordinates (found as in
        :func:`xda.labeled.grid.grid_of`).
    lat, lon : str, optional
        Coordinate names, when they cannot be found.

    Returns
    -------
    DataArray, dims (lat, lon), units m, standard_name ``surface_altitude``.
    """
    from .grid import grid_of

    g = grid_of(field, lat=lat, lon=lon)
    z = surface_altitude(g.lat, g.lon)
    return xr.DataArray(
        z.astype(np.float32),
        dims=(g.lat_dim, g.lon_dim),
        coords={g.lat_dim: field[g.lat_dim], g.lon_dim: field[g.lon_dim]},
        name="orog",
        attrs={"units": "m", "standard_name": "surface_altitude",
               "long_name": "surface altitude (ETOPO20 cell mean, sea = 0)",
               "source": "NOAA ETOPO20 via xda/data/etopo20.nc"},
    )
