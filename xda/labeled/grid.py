"""The horizontal grid of a labeled field, found once, with its stencil geometry cached.

Coordinates are found with cf-xarray (``standard_name``, ``units``, ``axis``) first,
then by common names; ``lat=`` / ``lon=`` arguments override both. What is *not* a
regular latitude-longitude grid is recognised and refused with the fix, never read as
degrees: index coordinates (``x``/``y`` = 0, 1, 2 ... beside 2-D latitude/longitude),
coordinates in radians, rotated-pole grids. Projected grids (``x``/``y`` in metres)
are accepted by the stencil operators (:func:`stencil_grid`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cf_xarray  # noqa: F401  (registers the .cf accessor)
import numpy as np
import xarray as xr

from ..errors import CoordinateError, GridError
from ..numerics import stencils

#: Fallback names, tried after cf-xarray; ``y``/``x`` only when their units say degrees.
_LAT_NAMES = ("lat", "latitude", "nav_lat", "COADSY", "LAT", "y")
_LON_NAMES = ("lon", "longitude", "nav_lon", "COADSX", "LON", "x")
#: Names and standard names of rotated-pole coordinates.
_ROTATED = ("rlat", "rlon", "grid_latitude", "grid_longitude")
_PROJECTED = (("y", "x"), ("projection_y_coordinate", "projection_x_coordinate"))


def _units(obj, name) -> str:
    return str(obj[name].attrs.get("units", "")).strip().lower()


def _refuse_non_geographic(obj, key: str, name: str) -> None:
    """Raise for coordinates that must not be read as degrees."""
    units = _units(obj, name)
    if units.startswith("rad"):
        raise CoordinateError(
            f"{key} coordinate {name!r} is in radians; convert it, e.g. "
            f"`obj.assign_coords({name}=np.rad2deg(obj[{name!r}]).assign_attrs(units='degrees'))`"
        )
    sn = str(obj[name].attrs.get("standard_name", ""))
    if name in _ROTATED or sn in _ROTATED:
        raise CoordinateError(
            f"{name!r} is a rotated-pole coordinate: its values are not geographic {key}s. Regrid the field to a "
            "regular latitude-longitude grid first (e.g. with xESMF), then call xda on it"
        )


def _find(obj, key: str, names: tuple[str, ...], override: str | None) -> str:
    if override is not None:
        if override not in obj.coords and override not in obj.dims:
            raise CoordinateError(f"{key} coordinate {override!r} is not in {list(obj.coords)}")
        if override in obj.coords:
            _refuse_non_geographic(obj, key, override)
        return override
    try:
        found = obj.cf.coordinates.get(key, [])
    except Exception:  # cf-xarray cannot parse odd attrs: fall back to names
        found = []
    one_d = [c for c in found if c in obj.coords and obj[c].ndim == 1]
    if len(one_d) == 1:
        _refuse_non_geographic(obj, key, one_d[0])
        return one_d[0]
    scalar = [c for c in found if c in obj.coords and obj[c].ndim == 0]
    if scalar and len(scalar) == len(found):
        raise CoordinateError(
            f"the {key} of {getattr(obj, 'name', None) or 'this field'!r} is a scalar ({scalar[0]!r} = "
            f"{float(obj[scalar[0]]):g}): one point, not a grid; select a range instead of one value, e.g. "
            f"`.isel({scalar[0]}=slice(4, 7))` rather than `.isel({scalar[0]}=5)`")
    if found and not one_d:
        raise CoordinateError(
            f"the {key}s of {getattr(obj, 'name', None) or 'this field'!r} are 2-D ({found[0]!r}): a curvilinear grid. "
            "xda needs a regular latitude-longitude grid: regrid first (e.g. with xESMF), or pass 1-D coordinates "
            f"with `{key[:3]}=`"
        )
    for n in names:
        if n in obj.coords and obj[n].ndim == 1:
            units = _units(obj, n)
            if n in ("x", "y") and "degree" not in units:
                continue  # index or projected coordinates, not degrees
            _refuse_non_geographic(obj, key, n)
            return n
    raise CoordinateError(
        f"cannot find the {key} coordinate among {list(obj.coords)}; pass it explicitly, "
        f"e.g. `{key[:3]}='my_{key[:3]}'`, or set `attrs['standard_name'] = '{key}'` on it"
    )


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular (rectilinear) latitude-longitude grid, in degrees (or x/y in metres).

    Attributes
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Coordinate values as stored (latitudes may descend; longitudes in any range).
        On a projected grid, y and x in metres.
    lat_dim, lon_dim : str
        Dimension names.
    periodic : bool
        True when the longitudes wrap around the globe (``nx * dlon == 360``, or
        ``(nx - 1) * dlon == 360`` with a cyclic point).
    cyclic_point : bool
        The last longitude repeats the first (0..360 inclusive).
    projected : bool
        x/y in metres on a plane, not a sphere.
    """

    lat: np.ndarray
    lon: np.ndarray
    lat_dim: str
    lon_dim: str
    periodic: bool
    cyclic_point: bool = False
    projected: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    @property
    def ascending(self) -> bool:
        return bool(self.lat[-1] > self.lat[0])

    @property
    def geometry(self) -> stencils.Geometry:
        """Finite-difference coefficients for the grid as stored (cached across calls)."""
        return _geometry(self.lat.tobytes(), float(self.lon[0]), float(self.lon[1]), self.lon.size,
                         self.periodic, self.cyclic_point, self.projected)

    def same_as(self, other: "Grid", atol: float = 1e-6) -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.lat, other.lat, atol=atol)
            and np.allclose(np.mod(self.lon - other.lon + 180, 360) - 180, 0, atol=atol)
        )

    def without_cyclic_point(self, what: str) -> None:
        """Raise for operations that cannot use a repeated longitude column."""
        if self.cyclic_point:
            raise GridError(
                f"{what} needs each longitude once, but {self.lon_dim!r} repeats its first value at the end "
                f"(a cyclic point); drop it with `.isel({self.lon_dim}=slice(None, -1))`"
            )


@functools.lru_cache(maxsize=32)
def _geometry(lat_bytes, lon0, lon1, nx, periodic, cyclic_point, projected) -> stencils.Geometry:
    lat = np.frombuffer(lat_bytes, np.float64)
    lon = lon0 + (lon1 - lon0) * np.arange(nx)
    return stencils.geometry(lat, lon, periodic, projected=projected, cyclic_point=cyclic_point)


def _values(obj, name: str) -> np.ndarray:
    return np.asarray(obj[name].values, dtype=np.float64)


def _check_axis(key: str, name: str, v: np.ndarray) -> None:
    """GridError for a coordinate with fewer than 2 points, NaNs, or repeated values (each with its fix)."""
    if v.size < 2:
        raise GridError(f"{key} {name!r} has {v.size} point(s); the grid needs at least 2 (3 for a laplacian): "
                        f"select a range, e.g. `.isel({name}=slice(0, 3))` rather than `.isel({name}=0)`")
    if not np.isfinite(v).all():
        raise GridError(f"{key} {name!r} has {int((~np.isfinite(v)).sum())} NaN/inf value(s); coordinates must be "
                        f"finite: drop those points or set the coordinate with `.assign_coords({name}=...)`")
    values, counts = np.unique(v, return_counts=True)
    if (counts > 1).any():
        raise GridError(f"{key} {name!r} repeats the value(s) {values[counts > 1][:3].tolist()}; drop the repeats with "
                        f"`.drop_duplicates({name!r})`")


def _refuse_radian_values(la: np.ndarray, lo: np.ndarray, lat_name: str, lon_name: str) -> None:
    """CoordinateError for a global grid in radians without saying so: latitudes within +-pi/2 spanning more than
    pi/2, and evenly spaced longitudes whose steps add up to 2 pi (read as degrees: a 3 x 6 degree region)."""
    step = (lo[-1] - lo[0]) / (lo.size - 1)
    wraps = any(abs(n * step - 2 * np.pi) < 1e-3 * step for n in (lo.size, lo.size - 1))
    if wraps and np.all(np.abs(la) <= np.pi / 2 + 1e-6) and np.ptp(la) > np.pi / 2 and np.ptp(lo) <= 2 * np.pi + 1e-6:
        raise CoordinateError(
            f"latitude {lat_name!r} ({la.min():.3g}..{la.max():.3g}) and longitude {lon_name!r} ({lo.min():.3g}..{lo.max():.3g}, "
            f"{lo.size} steps of {step:.3g} making 2 pi) look like radians, not degrees: read as degrees they would be a "
            f"{np.ptp(la):.1f} x {np.ptp(lo):.1f} degree region. Convert them, e.g. `obj.assign_coords({lat_name}="
            f"np.rad2deg(obj[{lat_name!r}]).assign_attrs(units='degrees_north'), {lon_name}=np.rad2deg(obj[{lon_name!r}])"
            ".assign_attrs(units='degrees_east'))`"
        )


def grid_of(obj: xr.DataArray | xr.Dataset, *, lat: str | None = None, lon: str | None = None) -> Grid:
    """The horizontal :class:`Grid` of a DataArray or Dataset.

    Raises
    ------
    CoordinateError
        If latitude or longitude cannot be found, or are index, radian (by their units, or
        a global grid whose values are radians), rotated-pole or 2-D coordinates (the
        message says how to fix it).
    GridError
        If latitude and longitude run along one dimension (points, not a grid), a
        coordinate has fewer than 2 points, NaNs or repeated values, is not monotonic
        (longitudes must increase), latitudes lie outside [-90, 90], or longitudes are
        not evenly spaced; the message names the fix (``sortby``,
        ``drop_duplicates``, ``assign_coords``).
    """
    lat_name = _find(obj, "latitude", _LAT_NAMES, lat)
    lon_name = _find(obj, "longitude", _LON_NAMES, lon)
    la, lo = _values(obj, lat_name), _values(obj, lon_name)
    if obj[lat_name].dims == obj[lon_name].dims:
        raise GridError(f"latitude {lat_name!r} and longitude {lon_name!r} both run along {obj[lat_name].dims}: these are "
                        "points (stations, a track), not a grid; this needs a latitude-longitude grid with separate "
                        f"latitude and longitude dimensions (if the points fill a grid: `.set_index({obj[lat_name].dims[0]}="
                        f"[{lat_name!r}, {lon_name!r}]).unstack()`)")
    for key, name, v in (("latitude", lat_name, la), ("longitude", lon_name, lo)):
        _check_axis(key, name, v)
    if np.any(np.abs(la) > 90 + 1e-9):
        raise GridError(f"latitudes of {lat_name!r} lie outside [-90, 90]: are they in radians or projected?")
    _refuse_radian_values(la, lo, lat_name, lon_name)
    dla = np.diff(la)
    if not (np.all(dla > 0) or np.all(dla < 0)):
        raise GridError(f"latitude {lat_name!r} is not monotonic; sort it with `.sortby({lat_name!r})`")
    dlo = np.diff(lo)
    if not np.all(dlo > 0):
        k = int(np.argmax(dlo <= 0))
        raise GridError(
            f"longitude {lon_name!r} is not increasing ({lo[k + 1]:g} follows {lo[k]:g} at index {k + 1}); sort it "
            f"with `.sortby({lon_name!r})`, or for a region across the date line make it continuous with "
            f"`da.assign_coords({lon_name}=da[{lon_name!r}] % 360)` (0..360 and -180..180 are both fine, not a jump inside)"
        )
    if not np.allclose(dlo, dlo[0], rtol=1e-4, atol=1e-6):
        raise GridError(f"longitude {lon_name!r} is not evenly spaced (steps {dlo.min():g} to {dlo.max():g} degrees); "
                        f"interpolate to a regular grid first, e.g. `.interp({lon_name}=np.arange(...))`")
    periodic = bool(abs(lo.size * dlo[0] - 360.0) < 1e-3 * dlo[0])
    cyclic = bool(abs((lo.size - 1) * dlo[0] - 360.0) < 1e-3 * dlo[0])
    return Grid(la, lo, obj[lat_name].dims[0], obj[lon_name].dims[0], periodic or cyclic, cyclic)


def stencil_grid(obj, *, lat: str | None = None, lon: str | None = None) -> Grid:
    """:func:`grid_of`, or a projected grid (``x``/``y`` in length units) when there is no latitude.

    Raises
    ------
    CoordinateError, GridError
    """
    try:
        return grid_of(obj, lat=lat, lon=lon)
    except CoordinateError as err:
        if lat is not None or lon is not None or "cannot find" not in str(err):
            raise
    from .units import magnitude

    for yc, xc in _PROJECTED:
        if yc in obj.coords and xc in obj.coords and obj[yc].ndim == obj[xc].ndim == 1 and _units(obj, xc):
            y, x = magnitude(obj[yc], "m", name=yc), magnitude(obj[xc], "m", name=xc)
            for name, v in ((yc, y), (xc, x)):
                _check_axis("projected coordinate", name, v)
            if not (x[1] > x[0] and np.allclose(np.diff(x), x[1] - x[0], rtol=1e-6)) or not np.all(np.diff(y) * np.sign(y[1] - y[0]) > 0):
                raise GridError(f"projected coordinates {yc!r}/{xc!r} must be monotonic and {xc!r} evenly increasing; "
                                f"sort them with `.sortby([{yc!r}, {xc!r}])`")
            return Grid(y, x, obj[yc].dims[0], obj[xc].dims[0], False, False, True)
    raise CoordinateError(
        f"cannot find latitude/longitude (or projected x/y with length units) on {getattr(obj, 'name', None)!r}; "
        "pass `lat=` and `lon=` with the coordinate names (index coordinates 0, 1, 2 ... are not positions)"
    )


def require_aligned(a: xr.DataArray, b: xr.DataArray, what: str, fix: str) -> None:
    """:class:`GridError` (``what``, xarray's reason, ``fix``) unless ``a`` and ``b`` have the same coordinates
    along every dimension they share (``xr.align(join="exact")``), rather than being joined on their overlap."""
    try:
        xr.align(a, b, join="exact")
    except ValueError as e:  # xarray's AlignmentError
        raise GridError(f"{what} ({' '.join(str(e).split())[:160]}); {fix}") from e


def latitude_weights(lat: np.ndarray) -> np.ndarray:
    """cos(latitude) weights normalised to mean 1 (shape of ``lat``)."""
    w = np.cos(np.deg2rad(lat))
    return w / w.mean()
