"""Observations: gridded fields with gaps, station tables and point datasets.

All forms become, per variable, a :class:`PointObservations` (values, locations and
observation-error standard deviations, in the background variable's units), with the
bilinear observation operator to the background grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from . import units as xu
from .grid import Grid, grid_of
from ..errors import GridError, ObservationError
from ..numerics.interp import Bilinear, bilinear_weights

#: Default observation-error standard deviations by CF standard name (typical
#: radiosonde / surface-station values incl. representativeness, e.g. ECMWF IFS docs).
DEFAULT_OBS_ERROR = {
    "air_temperature": (1.0, "K"),
    "geopotential_height": (10.0, "m"),
    "eastward_wind": (2.0, "m/s"),
    "northward_wind": (2.0, "m/s"),
    "air_pressure_at_mean_sea_level": (100.0, "Pa"),
    "surface_air_pressure": (100.0, "Pa"),
}

_LAT = ("lat", "latitude", "Latitude", "LAT")
_LON = ("lon", "longitude", "Longitude", "LON")


@dataclass
class PointObservations:
    """Observations of one variable.

    Attributes
    ----------
    name : str
        Variable name in the background.
    value, lat, lon, error : ndarray (n,)
        Values and error stds in the background's units; positions in degrees.
    operator : Bilinear
        Bilinear interpolation from the background grid to the points.
    gridded : bool
        Whether the observations came on the background grid.
    dropped : dict
        Counts of observations removed before QC, by reason.
    """

    name: str
    value: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    error: np.ndarray
    operator: Bilinear
    gridded: bool
    dropped: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.value.size

    def subset(self, keep: np.ndarray) -> "PointObservations":
        op = Bilinear(self.operator.index[keep], self.operator.weight[keep], self.operator.shape)
        return PointObservations(self.name, self.value[keep], self.lat[keep], self.lon[keep], self.error[keep], op, self.gridded, dict(self.dropped))


def _obs_error(name, std_name, units, given, n, column=None, var_units=None) -> np.ndarray:
    """Observation-error std (n,) in ``units``: a column, a given value, or the default table.

    Errors are differences (0.5 degC is 0.5 K). ``column`` is an already converted array;
    a bare number in ``given`` is in the variable's own units ``var_units`` (the
    background's), not the working units.
    """
    if column is not None:
        return np.asarray(column, np.float64)
    label = f"obs_error[{name!r}]"
    if given is not None:
        if isinstance(given, xr.DataArray):
            return np.broadcast_to(xu.magnitude(given, units, name=label, difference=True), (n,)).astype(np.float64)
        return np.full(n, xu.to_quantity(given, units, name=label, difference=True, number_units=var_units))
    if std_name in DEFAULT_OBS_ERROR:
        val, u = DEFAULT_OBS_ERROR[std_name]
        return np.full(n, xu.to_quantity(f"{val} {u}", units, name=label, difference=True))
    raise ObservationError(
        f"no observation error for {name!r}: pass `obs_error={{{name!r}: value}}` in the variable's units "
        f"(or a string with units, e.g. '1.5 K'), or add a column / variable {name + '_error'!r}"
    )


def _error_values(col: xr.DataArray, obs_da: xr.DataArray, units: str, name: str) -> np.ndarray:
    """A ``<var>_error`` variable in ``units`` as a difference (its own units, else the observation's)."""
    if "units" not in col.attrs and not hasattr(col.data, "units"):
        col = col.assign_attrs(units=str(xu.units_of(obs_da, name=name)))
    return xu.magnitude(col, units, name=f"{name}_error", difference=True)


def _points(name, values, lat, lon, error, grid: Grid, gridded: bool) -> PointObservations:
    values, lat, lon, error = (np.asarray(a, np.float64).ravel() for a in (values, lat, lon, error))
    ok = np.isfinite(values) & np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
    bad_err = ok & ~(np.isfinite(error) & (error > 0))
    if bad_err.any():
        raise ObservationError(f"observation errors of {name!r} must be positive and finite ({bad_err.sum()} are not)")
    dropped = {"missing": int((~ok).sum())}
    op, inside = bilinear_weights(grid.lat, grid.lon, lat[ok], lon[ok], periodic=grid.periodic)
    dropped["outside_grid"] = int((~inside).sum())
    sel = np.flatnonzero(ok)[inside]
    return PointObservations(name, values[sel], lat[sel], lon[sel], error[sel], op, gridded, dropped)


@dataclass(frozen=True)
class _Context:
    """What every reader needs: the grid, working / variable units, names, given errors."""

    grid: Grid
    work_units: dict
    obs_error: dict
    var_units: dict
    std: dict

    def error(self, v: str, n: int, column=None) -> np.ndarray:
        return _obs_error(v, self.std[v], self.work_units[v], self.obs_error.get(v), n, column, self.var_units[v])


def _from_table(df: pd.DataFrame, v: str, ctx: _Context) -> PointObservations:
    """Column ``v`` of a station table (units in ``df.attrs['units']``)."""
    cols = {c.lower(): c for c in df.columns}
    la = next((cols[c] for c in _LAT if c in cols), None)
    lo = next((cols[c] for c in _LON if c in cols), None)
    if la is None or lo is None:
        raise ObservationError(f"the station table needs 'lat' and 'lon' columns; it has {list(df.columns)}")
    units = df.attrs.get("units", {})
    if v not in units:
        raise ObservationError(f"the station table gives no units for column {v!r}; set `df.attrs['units'] = {{{v!r}: 'degC'}}`")
    column = lambda c, u: xr.DataArray(df[c].to_numpy(np.float64), attrs={"units": u})  # noqa: E731
    vals = xu.magnitude(column(v, units[v]), ctx.work_units[v], name=v)
    col = None
    if v + "_error" in df.columns:
        col = xu.magnitude(column(v + "_error", units.get(v + "_error", units[v])), ctx.work_units[v],
                           name=v + "_error", difference=True)
    return _points(v, vals, df[la].to_numpy(), df[lo].to_numpy(), ctx.error(v, len(df), col), ctx.grid, gridded=False)


def _from_dataset(obs: xr.Dataset, v: str, ctx: _Context) -> PointObservations:
    """Variable ``v`` of a Dataset: on the background grid (NaN gaps) or along a point dimension."""
    da = obs[v]
    try:
        ogrid = grid_of(da)
        gridded = set(da.dims) >= {ogrid.lat_dim, ogrid.lon_dim}
    except Exception:
        gridded = False
    col = obs[v + "_error"] if v + "_error" in obs.data_vars else None
    if gridded:
        return _from_grid(da, ogrid, col, v, ctx)
    try:
        plat = obs[next(c for c in _LAT if c in da.coords)].values
        plon = obs[next(c for c in _LON if c in da.coords)].values
    except StopIteration:
        raise ObservationError(
            f"observations of {v!r} are neither on the background grid nor have 'lat'/'lon' coordinates "
            "along an observation dimension"
        ) from None
    vals = xu.magnitude(da, ctx.work_units[v], name=v)
    err = ctx.error(v, vals.size, None if col is None else _error_values(col, da, ctx.work_units[v], v))
    return _points(v, vals, plat, plon, err, ctx.grid, gridded=False)


def _from_grid(da: xr.DataArray, ogrid: Grid, col, v: str, ctx: _Context) -> PointObservations:
    """Gridded observations (NaN where unobserved) on the background grid."""
    grid = ctx.grid
    if not ogrid.same_as(grid):
        raise GridError(
            f"gridded observations of {v!r} are on a {ogrid.shape} grid that differs from the background's "
            f"{grid.shape}; interpolate them with `obs.interp_like(background)` or pass them as points"
        )
    da2 = da.transpose(..., ogrid.lat_dim, ogrid.lon_dim)
    if da2.ndim != 2:
        raise ObservationError(f"gridded observations of {v!r} must be 2-D (lat, lon); got dims {da.dims}")
    glat, glon = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    vals = xu.magnitude(da2, ctx.work_units[v], name=v)
    column = None
    if col is not None:
        column = np.broadcast_to(_error_values(col.transpose(*da2.dims), da, ctx.work_units[v], v), vals.shape).ravel()
    return _points(v, vals, glat, glon, ctx.error(v, vals.size, column), grid, gridded=True)


def collect(obs, background: xr.Dataset, grid: Grid, work_units: dict, obs_error=None, standard_names=None) -> dict[str, PointObservations]:
    """Turn user observations into :class:`PointObservations` per background variable.

    Parameters
    ----------
    obs : DataArray, Dataset or pandas.DataFrame
        * gridded: on the background grid, NaN where unobserved;
        * points: a Dataset whose variables share one dimension (e.g. ``obs``) with
          ``lat`` / ``lon`` coordinates along it;
        * a station table: a DataFrame with ``lat``/``lon`` columns, one column per
          variable, units in ``df.attrs['units']`` (a dict), optional ``<var>_error``
          columns (units ``df.attrs['units']['<var>_error']``, else the variable's).
    background : Dataset
    grid : Grid
        The background grid.
    work_units : dict
        Units to convert each variable's observations to.
    standard_names : dict, optional
        CF standard name per variable, for default observation errors (defaults to the
        background's ``standard_name`` attributes).
    obs_error : dict, optional
        ``{var: value}``: a number in the background variable's units, a string with
        units (``'0.5 degC'``) or a pint quantity; always a difference (0.5 degC = 0.5 K).

    Raises
    ------
    ObservationError, GridError, UnitsError
    """
    obs_error = {} if obs_error is None else obs_error
    if not isinstance(obs_error, dict):
        obs_error = {v: obs_error for v in work_units}
    ctx = _Context(grid, work_units, obs_error,
                   var_units={v: str(xu.units_of(background[v], name=v)) for v in work_units},
                   std={v: (standard_names or {}).get(v) or background[v].attrs.get("standard_name") for v in work_units})
    if isinstance(obs, xr.DataArray):
        if obs.name is None:
            if len(work_units) != 1:
                raise ObservationError("the observation DataArray has no name; name it after a background variable with `.rename('t2m')`")
            obs = obs.rename(next(iter(work_units)))
        obs = obs.to_dataset()
    if isinstance(obs, pd.DataFrame):
        out = {v: _from_table(obs, v, ctx) for v in work_units if v in obs.columns}
    elif isinstance(obs, xr.Dataset):
        out = {v: _from_dataset(obs, v, ctx) for v in work_units if v in obs.data_vars}
    else:
        raise ObservationError(f"observations must be an xarray DataArray/Dataset or a pandas DataFrame, not {type(obs).__name__}")
    if not out:
        raise ObservationError(
            f"none of the observed variables match the background's {list(work_units)}; "
            "name observation variables (or DataFrame columns) after background variables"
        )
    return out
