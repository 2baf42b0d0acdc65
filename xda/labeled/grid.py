"""Finding and checking horizontal coordinates of labeled fields.

Coordinates are found with cf-xarray (``standard_name``, ``units``, ``axis``) first,
then by common names; ``lat=`` / ``lon=`` arguments override both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr

from ..errors import CoordinateError, GridError

_LAT_NAMES = ("lat", "latitude", "nav_lat", "y", "COADSY", "LAT")
_LON_NAMES = ("lon", "longitude", "nav_lon", "x", "COADSX", "LON")


def _find(obj, key: str, names: tuple[str, ...], override: str | None) -> str:
    if override is not None:
        if override not in obj.coords and override not in obj.dims:
            raise CoordinateError(f"{key} coordinate {override!r} is not in {list(obj.coords)}")
        return override
    try:
        found = obj.cf.coordinates.get(key, [])
    except Exception:  # cf-xarray cannot parse odd attrs: fall back to names
        found = []
    found = [c for c in found if c in obj.coords and obj[c].ndim == 1]
    if len(found) == 1:
        return found[0]
    for n in names:
        if n in obj.coords and obj[n].ndim == 1 and "degree" in str(obj[n].attrs.get("units", "degree")):
            return n  # x / y in metres are projected coordinates, not longitude / latitude
    raise CoordinateError(
        f"cannot find the {key} coordinate among {list(obj.coords)}; pass it explicitly, "
        f"e.g. `{key[:3]}='my_{key[:3]}'`, or set `attrs['standard_name'] = '{key}'` on it"
    )


@dataclass(frozen=True)
class Grid:
    """A regular (rectilinear) latitude-longitude grid, in degrees.

    Attributes
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Coordinate values as stored (latitudes may descend; longitudes in any range).
    lat_dim, lon_dim : str
        Dimension names.
    periodic : bool
        True when the longitudes wrap around the globe (``nx * dlon == 360``).
    """

    lat: np.ndarray
    lon: np.ndarray
    lat_dim: str
    lon_dim: str
    periodic: bool

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    def same_as(self, other: "Grid", atol: float = 1e-6) -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.lat, other.lat, atol=atol)
            and np.allclose(np.mod(self.lon - other.lon + 180, 360) - 180, 0, atol=atol)
        )


def grid_of(obj: xr.DataArray | xr.Dataset, *, lat: str | None = None, lon: str | None = None) -> Grid:
    """The horizontal :class:`Grid` of a DataArray or Dataset.

    Raises
    ------
    CoordinateError
        If latitude or longitude cannot be found.
    GridError
        If a coordinate is not monotonic, latitudes lie outside [-90, 90], or
        longitudes are not evenly spaced.
    """
    lat_name = _find(obj, "latitude", _LAT_NAMES, lat)
    lon_name = _find(obj, "longitude", _LON_NAMES, lon)
    la = np.asarray(obj[lat_name].values, dtype=np.float64)
    lo = np.asarray(obj[lon_name].values, dtype=np.float64)
    if la.size < 2 or lo.size < 2:
        raise GridError(f"the grid needs at least 2 latitudes and 2 longitudes, got {la.size} x {lo.size}")
    if np.any(np.abs(la) > 90 + 1e-9):
        raise GridError(f"latitudes of {lat_name!r} lie outside [-90, 90]: are they in radians or projected?")
    dla = np.diff(la)
    if not (np.all(dla > 0) or np.all(dla < 0)):
        raise GridError(f"latitude {lat_name!r} is not strictly monotonic; sort it with `.sortby({lat_name!r})`")
    dlo = np.diff(lo)
    if not np.all(dlo > 0):
        raise GridError(
            f"longitude {lon_name!r} is not increasing; sort it with `.sortby({lon_name!r})` "
            "(0..360 and -180..180 are both fine, but not a jump inside the grid)"
        )
    if not np.allclose(dlo, dlo[0], rtol=1e-4, atol=1e-6):
        raise GridError(f"longitude {lon_name!r} is not evenly spaced")
    periodic = bool(abs(lo.size * dlo[0] - 360.0) < 1e-3 * dlo[0])
    return Grid(la, lo, obj[lat_name].dims[0], obj[lon_name].dims[0], periodic)


def latitude_weights(lat: np.ndarray) -> np.ndarray:
    """cos(latitude) weights normalised to mean 1 (shape of ``lat``)."""
    w = np.cos(np.deg2rad(lat))
    return w / w.mean()
