"""Static surface fields on any latitude-longitude grid (orography from ETOPO).

Near-surface temperature owes much of its fine structure to the height of the ground;
the downscaling model takes the surface altitude on the fine grid as an input. xda ships
NOAA's ETOPO 20-arc-minute relief (``xda/data/etopo20.nc``, see ``SOURCES.md``) and
averages it onto the grid a user asks for, so the model sees the same kind of field in
training (Held-Suarez with this orography) and in use. Grids finer than about 2/3 degree
(fewer than 2 x 2 ETOPO20 points a cell) use NOAA's 5-arc-minute ETOPO5 where it is
installed (:func:`etopo5_path`: ``$XDA_ETOPO5``, or Debian's ``ferret-datasets`` package,
public domain, 37 MB, too large to ship inside xda).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import xarray as xr

from .datasets import open_dataset
from ..errors import CoordinateError, GridError, NotFoundError, ParameterError
from ..numerics.regrid import cell_bounds

#: Where an installed ETOPO5 is looked for after ``$XDA_ETOPO5`` (``apt-get install ferret-datasets``).
ETOPO5_PATHS = (Path("/usr/share/ferret-vis/data/etopo5.cdf"),)
#: Spacing (degrees) of each relief, and the coarsest grid spacing the finer one is used for.
RELIEF_SPACING = {"etopo20": 1.0 / 3.0, "etopo5": 1.0 / 12.0}
ETOPO5_BELOW = 2.0 / 3.0


def etopo5_path() -> Path | None:
    """The installed ETOPO5 relief: ``$XDA_ETOPO5``, else Debian ``ferret-datasets``' file, else None.

    Raises
    ------
    NotFoundError
        ``$XDA_ETOPO5`` is set but names no file.
    """
    given = os.environ.get("XDA_ETOPO5")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise NotFoundError(f"XDA_ETOPO5={given!r} is not a file; point it at etopo5.cdf (Debian ferret-datasets: "
                                "/usr/share/ferret-vis/data/etopo5.cdf) or unset it")
        return p
    return next((p for p in ETOPO5_PATHS if p.is_file()), None)


def relief_for(lat: np.ndarray, lon: np.ndarray) -> str:
    """``"etopo5"`` for grids finer than :data:`ETOPO5_BELOW` degrees where it is installed, else ``"etopo20"``."""
    d = [float(np.median(np.abs(np.diff(np.asarray(a, np.float64))))) for a in (lat, lon) if np.size(a) > 1]
    fine = bool(d) and min(d) < ETOPO5_BELOW
    return "etopo5" if fine and etopo5_path() is not None else "etopo20"


@functools.lru_cache(maxsize=2)
def _relief(name: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon 0..360, relief in m) of ETOPO20 (bundled, repaired by :func:`xda.datasets.open_dataset`) or ETOPO5."""
    if name == "etopo20":
        ds = open_dataset("etopo20")
        return ds["lat"].values, ds["lon"].values, ds["elevation"].values.astype(np.float64)
    with xr.open_dataset(path, decode_times=False) as ds:  # ferret's etopo5.cdf: ETOPO05_Y/X, ROSE (m)
        lat, lon = ds["ETOPO05_Y"].values.astype(np.float64), np.mod(ds["ETOPO05_X"].values.astype(np.float64), 360.0)
        z = ds["ROSE"].values.astype(np.float64)
    order = np.argsort(lon)
    return lat, lon[order], z[:, order]


def _centres(lat, lon, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``lat``, ``lon`` as 1-D float arrays of at least 2 distinct finite cell centres, latitudes within +-90; else
    an XdaError naming the argument, its value and the fix."""
    out = []
    for name, values in (("lat", lat), ("lon", lon)):
        try:
            a = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"{what}({name}=...) takes cell centres in degrees, got {values!r}") from None
        if a.ndim != 1:
            raise ParameterError(f"{what}() takes 1-D {name} (the grid's cell centres), got shape {a.shape}: for a "
                                 f"meshgrid pass one row/column, e.g. `{name}2d[:, 0]` or `{name}2d[0, :]`")
        if a.size < 2 or not np.isfinite(a).all() or np.unique(a).size < a.size:
            raise GridError(f"{what}() averages over grid cells, whose edges lie half-way between the centres: it "
                            f"needs at least 2 distinct finite {name} values, got {a.size} point(s) {a[:4].tolist()}; "
                            f"pass the grid's centres, e.g. {name}=np.arange(40.0, 50.0, 1.0) (for one point, the cell "
                            "around it, then select it)")
        out.append(a)
    bad = out[0][np.abs(out[0]) > 90]
    if bad.size:
        raise CoordinateError(f"{what}(lat=...) holds {bad[:3].tolist()}, outside -90..90 degrees north: are lat and lon "
                              "swapped, or the latitudes in another unit? Pass latitudes in degrees, e.g. lat=[80.0, 90.0]")
    return out[0], out[1]


def _etopo(lat=None, lon=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The relief for a grid (:func:`relief_for`; ETOPO20 without one)."""
    name = "etopo20" if lat is None else relief_for(lat, lon)
    return _relief(name, None if name == "etopo20" else str(etopo5_path()))


def surface_altitude(lat: np.ndarray, lon: np.ndarray, ocean: float | None = 0.0) -> np.ndarray:
    """ETOPO relief averaged (area-weighted) over each cell of a lat-lon grid.

    ETOPO20 (bundled); for grids finer than 2/3 degree, ETOPO5 where it is installed
    (:func:`relief_for`, :func:`etopo5_path`).

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

    Raises
    ------
    GridError
        Fewer than 2 distinct finite centres along ``lat`` or ``lon``.
    CoordinateError
        Latitudes outside -90..90.
    """
    lat, lon = _centres(lat, lon, "surface_altitude")
    elat, elon, z = _etopo(lat, lon)
    if ocean is not None:
        z = np.maximum(z, ocean)
    return _cell_mean(elat, elon, z, lat, lon)


def relief_std(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Standard deviation of the ETOPO surface altitude within each cell of a lat-lon grid (sub-grid relief).

    The spread of station elevations a cell's mean altitude hides: times a lapse rate, the
    representativeness error of a near-surface temperature report without an elevation.

    Parameters
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Cell centres in degrees (any order, any longitude convention).

    Returns
    -------
    ndarray, shape (ny, nx), metres
        ``sqrt(mean(h^2) - mean(h)^2)`` over the ETOPO points of each cell (sea as 0 m;
        the same assignment and weights as :func:`surface_altitude`); 0 for cells finer
        than the relief.

    Raises
    ------
    GridError, CoordinateError
        As :func:`surface_altitude`.
    """
    lat, lon = _centres(lat, lon, "relief_std")
    elat, elon, z = _etopo(lat, lon)
    z = np.maximum(z, 0.0)
    mean, square = _cell_mean(elat, elon, z, lat, lon), _cell_mean(elat, elon, z**2, lat, lon)
    return np.sqrt(np.maximum(square - mean**2, 0.0))


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

    Raises
    ------
    GridError, CoordinateError
        As :func:`surface_altitude`.
    """
    lat, lon = _centres(lat, lon, "land_area_fraction")
    elat, elon, z = _etopo(lat, lon)
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
               "long_name": f"surface altitude ({relief_for(g.lat, g.lon).upper()} cell mean, sea = 0)",
               "source": f"NOAA {relief_for(g.lat, g.lon).upper()} (xda.static.surface_altitude)"},
    )
