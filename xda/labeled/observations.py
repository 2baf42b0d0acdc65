"""Observations: gridded fields with gaps, station tables and point datasets.

All forms become, per variable, a :class:`PointObservations` (values, locations and
observation-error standard deviations, in the background variable's units), with the
bilinear observation operator to the background grid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from . import times
from . import units as xu
from .names import standard_name as _standard_name
from .grid import Grid, grid_of
from ..errors import GridError, ObservationError
from ..numerics.interp import Bilinear, apply, bilinear_weights
from ..numerics.lapse_rate import STANDARD_LAPSE_RATE

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
#: Names of a report's station elevation (height of the ground above mean sea level).
_ELEVATION = ("elevation", "elev", "altitude", "station_elevation", "station_altitude", "surface_altitude")
_ELEVATION_STANDARD_NAMES = ("surface_altitude", "height_above_mean_sea_level", "altitude")
#: Variables whose observation operator includes the lapse-rate height term (CF standard names).
HEIGHT_ADJUSTED = ("air_temperature",)


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
    time : ndarray (n,) of datetime64[ns], optional
        Valid times, where the observations have them.
    elevation : ndarray (n,), optional
        Station elevation (m above mean sea level; NaN where a report has none).
    offset : ndarray (n,), optional
        The constant part of an affine observation operator ``H(x) = W x + offset``,
        e.g. the lapse-rate height term (:func:`to_model_terrain`). ``value`` is
        already the observation less ``offset``, so ``value - W x`` is the innovation.
    unresolved : ndarray (n,), optional
        A std (the values' units) of what the background grid cannot represent at each
        report and ``H`` does not model, allowed for by the background check only: the
        sub-grid relief's lapse-rate spread for near-surface temperatures reported without
        an elevation (:func:`unresolved_relief`).
    """

    name: str
    value: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    error: np.ndarray
    operator: Bilinear
    gridded: bool
    dropped: dict = field(default_factory=dict)
    time: np.ndarray | None = None
    elevation: np.ndarray | None = None
    offset: np.ndarray | None = None
    unresolved: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.value.size

    @property
    def reported(self) -> np.ndarray:
        """The observations as reported (``value + offset``)."""
        return self.value if self.offset is None else self.value + self.offset

    def subset(self, keep: np.ndarray) -> "PointObservations":
        op = Bilinear(self.operator.index[keep], self.operator.weight[keep], self.operator.shape)
        pick = lambda a: None if a is None else a[keep]  # noqa: E731
        return PointObservations(self.name, self.value[keep], self.lat[keep], self.lon[keep], self.error[keep], op,
                                 self.gridded, dict(self.dropped), pick(self.time), pick(self.elevation), pick(self.offset),
                                 pick(self.unresolved))

    @property
    def qc_error(self) -> np.ndarray:
        """The std the background check allows besides ``s_b``: the error, and what the grid cannot resolve."""
        return self.error if self.unresolved is None else np.hypot(self.error, self.unresolved)


def to_model_terrain(ob: PointObservations, altitude: np.ndarray, lapse_rate: float) -> PointObservations:
    """``ob`` with the lapse-rate height term in its observation operator.

    A station reports the temperature at its own elevation ``z_s``; the background
    knows it at its model's surface altitude there, ``z_m = W z_model``. The operator
    is ``H(x) = W x + gamma (z_s - z_m)`` (as in operational 2-m temperature analyses,
    e.g. ECMWF IFS Documentation Cy47r3, Part II, sec. 9.3), i.e. the observation is
    brought to the model's terrain before the analysis.

    Parameters
    ----------
    ob : PointObservations
        With ``elevation`` (m; reports without one are left as they are).
    altitude : ndarray (ny, nx)
        The background model's surface altitude on its grid, m.
    lapse_rate : float
        ``gamma`` in the observation's units per metre (negative: cooler aloft).

    Returns
    -------
    PointObservations
        ``offset = gamma (z_s - z_m)``, ``value`` the observation less ``offset``.
    """
    if ob.elevation is None:
        return ob
    dz = ob.elevation - apply(ob.operator, altitude)
    offset = lapse_rate * np.where(np.isfinite(dz), dz, 0.0)
    return replace(ob, value=ob.reported - offset, offset=offset)


def _obs_error(name, std_name, units, given, n, column=None, var_units=None) -> np.ndarray:
    """Observation-error std (n,) in ``units``: the given value (``obs_error=``, which overrides the data's
    own), else a column, else the default table.

    Errors are differences (0.5 degC is 0.5 K). ``column`` is an already converted array;
    a bare number in ``given`` is in the variable's own units ``var_units`` (the
    background's), not the working units.
    """
    label = f"obs_error[{name!r}]"
    if column is not None and given is None:
        return np.asarray(column, np.float64)
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


def _points(name, values, where: tuple, error, grid: Grid, gridded: bool, time=None, elevation=None) -> PointObservations:
    """Observations of ``name`` at ``where = (lat, lon)`` (any shape), less those missing or outside the grid (counted)."""
    lat, lon = where
    time = None if time is None else np.broadcast_to(time, np.shape(values)).ravel()
    elevation = None if elevation is None else np.broadcast_to(np.asarray(elevation, np.float64), np.shape(values)).ravel()
    values, lat, lon, error = (np.asarray(a, np.float64).ravel() for a in (values, lat, lon, error))
    _check_positions(name, lat, lon)
    ok = np.isfinite(values) & np.isfinite(lat) & np.isfinite(lon)
    bad_err = ok & ~(np.isfinite(error) & (error > 0))
    if bad_err.any():
        raise ObservationError(f"observation errors of {name!r} must be positive and finite ({bad_err.sum()} are not)")
    dropped = {"missing": int((~ok).sum())}
    op, inside = bilinear_weights(grid.lat, grid.lon, lat[ok], lon[ok], periodic=grid.periodic)
    dropped["outside_grid"] = int((~inside).sum())
    sel = np.flatnonzero(ok)[inside]
    return PointObservations(name, values[sel], lat[sel], lon[sel], error[sel], op, gridded, dropped,
                             None if time is None else time[sel], None if elevation is None else elevation[sel])


def _check_positions(name: str, lat: np.ndarray, lon: np.ndarray) -> None:
    """Refuse impossible positions (|lat| > 90, lon outside -360..720) by name: dropping them hides a lat/lon swap.

    Longitudes one turn off either convention (-180..180 or 0..360, shifted by 360) are positions, read modulo 360.
    """
    bad = (np.abs(lat) > 90) | (lon < -360) | (lon > 720)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        swap = " (latitude and longitude swapped?)" if np.abs(lat[bad]).max() > 90 and np.abs(lon[bad]).max() <= 90 else ""
        raise ObservationError(f"{int(bad.sum())} observations of {name!r} have impossible positions{swap}, e.g. lat "
                               f"{lat[i]:g}, lon {lon[i]:g}; latitudes must be within +-90 and longitudes within -360..720: "
                               "fix or drop them (NaN positions are dropped and counted)")


def _without_repeats(ob: PointObservations) -> PointObservations:
    """``ob`` less exact repeats (same position, time and value) of an earlier report, counted in
    ``dropped['duplicate']`` with a warning: a repeated report is one report, used once, not weighted twice."""
    cols = [ob.value, ob.lat, np.mod(ob.lon, 360.0)]
    if ob.time is not None:
        cols.append(np.asarray(ob.time).astype("datetime64[ns]").astype(np.int64).astype(np.float64))
    _, first = np.unique(np.stack(cols, axis=1), axis=0, return_index=True)
    keep = np.zeros(ob.n, bool)
    keep[first] = True
    out = ob.subset(keep) if first.size < ob.n else ob
    out.dropped["duplicate"] = int(ob.n - first.size)
    if first.size < ob.n:
        warnings.warn(f"{ob.n - first.size} exact repeats of {ob.name!r} reports (same position, time and value) "
                      "were dropped: each report is used once", UserWarning, stacklevel=4)
    return out


@dataclass(frozen=True)
class _Context:
    """What every reader needs: the grid, working / variable units, names, given errors, time window."""

    grid: Grid
    work_units: dict
    obs_error: dict
    var_units: dict
    std: dict
    t0: np.datetime64 | None = None
    window: pd.Timedelta | None = None
    t0_label: np.datetime64 | None = None  # a 360_day background's time by its label, for real-calendar reports

    def error(self, v: str, n: int, column=None) -> np.ndarray:
        return _obs_error(v, self.std[v], self.work_units[v], self.obs_error.get(v), n, column, self.var_units[v])

    def in_window(self, ob: PointObservations) -> PointObservations:
        """``ob`` less the observations outside the window (counted in ``dropped``)."""
        if ob.time is None:
            return ob
        keep = times.in_window(ob.time, self.t0, self.window, ob.name)
        if not keep.any() and self.t0_label is not None:  # reports of the real calendar: the model date's label
            keep = times.in_window(ob.time, self.t0_label, self.window, ob.name)
        out = ob.subset(keep)
        out.dropped["outside_window"] = int((~keep).sum())
        if out.n == 0 and ob.n:
            raise ObservationError(
                f"none of the {ob.n} observations of {ob.name!r} (from {ob.time.min()} to {ob.time.max()}) fall in "
                f"the window of {self.window} around the background's time {self.t0}; widen `window=` or give the "
                "background the right time")
        return out


def _column(df: pd.DataFrame, names) -> str | None:
    cols = {str(c).lower(): c for c in df.columns}
    return next((cols[c.lower()] for c in names if c.lower() in cols), None)


def _numbers(col: pd.Series, name) -> np.ndarray:
    """A table column as float64; text that is not a number is refused by name (empty cells are NaN)."""
    values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    bad = col.notna().to_numpy() & np.isnan(values)
    if bad.any():
        raise ObservationError(f"column {name!r} of the station table holds {int(bad.sum())} entries that are not "
                               f"numbers (e.g. {col[bad].iloc[0]!r}); clean them, e.g. "
                               f"`df[{name!r}] = pd.to_numeric(df[{name!r}], errors='coerce')` (missing values as NaN)")
    return values


def _from_table(df: pd.DataFrame, v: str, ctx: _Context) -> PointObservations:
    """Column ``v`` of a station table (units in ``df.attrs['units']``; times in a ``time`` column)."""
    la, lo = _column(df, _LAT), _column(df, _LON)
    if la is None or lo is None:
        raise ObservationError(f"the station table needs 'lat' and 'lon' columns; it has {list(df.columns)}")
    units = df.attrs.get("units", {})
    if v not in units:
        raise ObservationError(f"the station table gives no units for column {v!r}; set `df.attrs['units'] = {{{v!r}: 'degC'}}`")
    column = lambda c, u: xr.DataArray(_numbers(df[c], c), attrs={"units": u})  # noqa: E731
    vals = xu.magnitude(column(v, units[v]), ctx.work_units[v], name=v)
    col = None
    if v + "_error" in df.columns:
        col = xu.magnitude(column(v + "_error", units.get(v + "_error", units[v])), ctx.work_units[v],
                           name=v + "_error", difference=True)
    tc = _column(df, times.TIME_NAMES)
    when = None if tc is None else times.to_datetime64(df[tc].to_numpy(), name=str(tc))
    ec = _column(df, _ELEVATION)
    elev = None if ec is None else _elevation(column(ec, units.get(ec, "m")), str(ec))
    return _points(v, vals, (_numbers(df[la], la), _numbers(df[lo], lo)), ctx.error(v, len(df), col), ctx.grid,
                   gridded=False, time=when, elevation=elev)


def _elevation(da: xr.DataArray, name: str) -> np.ndarray:
    """Station elevations in m (a length; without units, metres)."""
    if "units" not in da.attrs and not hasattr(da.data, "units"):
        da = da.assign_attrs(units="m")
    return xu.magnitude(da, "m", name=name)


def _elevation_of(da: xr.DataArray, obs: xr.Dataset) -> np.ndarray | None:
    """Station elevations (m) along ``da``'s observation dimension: a coordinate or variable named like
    elevation, or with a CF standard name for it (``surface_altitude``, ``height_above_mean_sea_level``)."""
    for name in [*da.coords, *obs.variables]:
        e = da.coords[name] if name in da.coords else obs[name]
        named = str(name).lower() in _ELEVATION or e.attrs.get("standard_name") in _ELEVATION_STANDARD_NAMES
        if named and name != da.name and e.dims and set(e.dims) <= set(da.dims):
            return _elevation(e.broadcast_like(da), str(name))
    return None


def _long_to_wide(df: pd.DataFrame, variables) -> dict[str, pd.DataFrame]:
    """A long table (``variable``, ``observation``, ``lat``, ``lon`` [, ``error``, ``time``, ``units``]) per variable.

    Units come from a ``units`` column (one per variable) or ``df.attrs['units']``; the
    ``error`` column is in the observation's units. xda's own observation-space table
    (``assimilate(..., obs_space=True)``) has this form.
    """
    value = _column(df, ("observation", "value"))
    out = {}
    for v in variables:
        rows = df[df["variable"] == v]
        if rows.empty:
            continue
        u = df.attrs.get("units", {}).get(v)
        if "units" in rows.columns:
            found = rows["units"].dropna().unique()
            if len(found) != 1:
                raise ObservationError(f"the long observation table gives {len(found)} units for {v!r} ({list(found)}); "
                                       "convert its rows to one unit")
            u = str(found[0])
        wide = rows.drop(columns=[c for c in ("variable", "units", value) if c in rows.columns]).rename(
            columns={"error": v + "_error"})
        wide[v] = rows[value].to_numpy()
        wide.attrs["units"] = {v: u} if u is not None else {}
        out[v] = wide
    return out


def _time_of(da: xr.DataArray, obs: xr.Dataset) -> np.ndarray | None:
    """Times along ``da``'s observation dimension (a coordinate or variable named like time), or None."""
    for name in times.TIME_NAMES:
        t = da.coords.get(name, obs.get(name))
        if t is not None and set(t.dims) <= set(da.dims):
            return times.to_datetime64(t.broadcast_like(da).values, t.attrs, name=name)
    return None


def _error_variable(obs: xr.Dataset, v: str):
    """The error-std variable of ``v``: ``<v>_error``, or one its CF ``ancillary_variables`` name (standard error)."""
    if v + "_error" in obs.data_vars:
        return obs[v + "_error"]
    for name in str(obs[v].attrs.get("ancillary_variables", "")).split():
        if name in obs.variables and "error" in str(obs[name].attrs.get("standard_name", "")) + name:
            return obs[name]
    return None


def _from_dataset(obs: xr.Dataset, v: str, ctx: _Context) -> PointObservations:
    """Variable ``v`` of a Dataset: on the background grid (NaN gaps) or along a point dimension."""
    da = obs[v]
    try:
        ogrid = grid_of(da)
        # a track's lat and lon both run along one dimension (``obs``): points, however evenly spaced
        gridded = ogrid.lat_dim != ogrid.lon_dim and set(da.dims) >= {ogrid.lat_dim, ogrid.lon_dim}
    except Exception:
        gridded = False
    col = _error_variable(obs, v)
    given = ctx.obs_error.get(v)
    if isinstance(given, xr.DataArray) and given.ndim and set(given.dims) <= set(da.dims):
        # an error field laid out like the observations (a grid, a time x obs table) is their column; it overrides one
        col, ctx = given.rename(f"obs_error[{v!r}]"), replace(ctx, obs_error={**ctx.obs_error, v: None})
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
    return _points(v, vals, (plat, plon), err, ctx.grid, gridded=False, time=_time_of(da, obs),
                   elevation=_elevation_of(da, obs))


def _from_grid(da: xr.DataArray, ogrid: Grid, col, v: str, ctx: _Context) -> PointObservations:
    """Gridded observations (NaN where unobserved) on the background grid; several times become points."""
    grid = ctx.grid
    if _flipped(ogrid, grid):  # the same grid in the other latitude order
        da = da.isel({ogrid.lat_dim: slice(None, None, -1)})
        col = None if col is None or ogrid.lat_dim not in col.dims else col.isel({ogrid.lat_dim: slice(None, None, -1)})
        ogrid = grid_of(da)
    perm = _rolled(ogrid, grid)
    if perm is not None:  # the same grid in the other longitude convention (-180..180 vs 0..360)
        da = da.isel({ogrid.lon_dim: perm}).assign_coords({ogrid.lon_dim: grid.lon})
        col = None if col is None or ogrid.lon_dim not in col.dims else col.isel({ogrid.lon_dim: perm}).assign_coords(
            {ogrid.lon_dim: grid.lon})
        ogrid = grid_of(da)
    if not ogrid.same_as(grid):
        raise GridError(
            f"gridded observations of {v!r} are on a {ogrid.shape} grid that differs from the background's "
            f"{grid.shape}; interpolate them with `obs.interp_like(background)` or pass them as points"
        )
    tdim = times.time_dim(da)
    da2 = da.transpose(..., ogrid.lat_dim, ogrid.lon_dim)
    if da2.ndim != (2 if tdim is None else 3):
        raise ObservationError(f"gridded observations of {v!r} must be (lat, lon) or (time, lat, lon); got dims {da.dims}; "
                               "select the other dimensions first, e.g. `obs.sel(level=500)`")
    glat, glon = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    vals = xu.magnitude(da2, ctx.work_units[v], name=v)
    column = None
    if col is not None:
        _require_layout(col, da2, v)
        column = np.broadcast_to(_error_values(col.transpose(*[d for d in da2.dims if d in col.dims]), da, ctx.work_units[v], v),
                                 vals.shape).ravel()
    when = times.analysis_time(da)  # a scalar time coordinate, or None
    if tdim is not None:
        when = times.to_datetime64(da2[tdim].values, da2[tdim].attrs, name=tdim)[:, None, None]
        glat, glon = np.broadcast_to(glat, vals.shape), np.broadcast_to(glon, vals.shape)
    return _points(v, vals, (glat, glon), ctx.error(v, vals.size, column), grid, gridded=tdim is None, time=when)


def _flipped(other: Grid, grid: Grid) -> bool:
    """Whether ``other`` is ``grid`` with its latitudes in the other order."""
    return not other.same_as(grid) and other.shape == grid.shape and np.allclose(other.lat[::-1], grid.lat)


def _require_layout(col: xr.DataArray, obs: xr.DataArray, v: str) -> None:
    """ObservationError unless the error field ``col`` lies on the observations' points (each of its dims
    one of theirs, with the same size and coordinates)."""
    for d in col.dims:
        same = d in obs.dims and col.sizes[d] == obs.sizes[d] and (
            d not in col.coords or d not in obs.coords or np.allclose(col[d].values.astype(float), obs[d].values.astype(float)))
        if not same:
            raise ObservationError(
                f"the observation errors of {v!r} ({col.name!r}, dims {dict(col.sizes)}) are not on the observations' "
                f"grid {dict(obs.sizes)} (dimension {d!r} differs); give one error per observation on the same grid, "
                "e.g. `err.interp_like(obs)`, or one number")


def _rolled(other: Grid, grid: Grid) -> np.ndarray | None:
    """The order of ``other``'s longitudes that gives ``grid``'s (the same points in another longitude
    convention), or None when ``other`` is ``grid`` already or not the same points."""
    if other.same_as(grid) or other.shape != grid.shape or not np.allclose(other.lat, grid.lat):
        return None
    gap = np.abs(np.mod(grid.lon[:, None] - other.lon[None, :] + 180.0, 360.0) - 180.0)
    perm = np.argmin(gap, axis=1)
    return perm if np.all(gap[np.arange(perm.size), perm] < 1e-6) and np.unique(perm).size == perm.size else None


def _by_standard_name(obs: xr.Dataset, std: dict) -> xr.Dataset:
    """``obs`` with a variable renamed after the background variable of the same CF standard name.

    Only where the background's name is absent from ``obs`` and exactly one observed
    variable has that ``standard_name`` (e.g. station reports ``T`` for a background ``tas``).
    """
    rename = {}
    for v, sn in std.items():
        if v in obs.data_vars or not sn or sn in _ELEVATION_STANDARD_NAMES:
            continue
        same = [k for k, da in obs.data_vars.items() if _standard_name(k, da) == sn and k not in rename]
        if len(same) == 1:
            rename[same[0]] = v
    return obs.rename(rename) if rename else obs


def _warn_unused(obs, used: set) -> None:
    """Warn about observation variables/columns that look like errors but were not used as one."""
    names = obs.columns if isinstance(obs, pd.DataFrame) else obs.data_vars
    odd = [str(n) for n in names if str(n) not in used and any(k in str(n).lower() for k in ("err", "sigma", "uncert"))]
    if odd:
        warnings.warn(f"observation variables {odd} look like error stds but are not used as one: name them "
                      "'<variable>_error' (or list them in the variable's CF `ancillary_variables` attribute)",
                      UserWarning, stacklevel=4)


def collect(obs, background: xr.Dataset, grid: Grid, work_units: dict, obs_error=None, standard_names=None,
            window=times.DEFAULT_WINDOW) -> dict[str, PointObservations]:
    """Turn user observations into :class:`PointObservations` per background variable.

    Parameters
    ----------
    obs : DataArray, Dataset or pandas.DataFrame
        * gridded: on the background grid, NaN where unobserved, optionally with a time
          dimension (each time in the window becomes a set of points);
        * points: a Dataset whose variables share one dimension (e.g. ``obs``) with
          ``lat`` / ``lon`` (and optionally ``time``) coordinates along it;
        * Dataset variables match the background's by name, else by a unique CF
          ``standard_name`` (station reports ``T`` for a background ``tas``);
        * a station table (wide): a DataFrame with ``lat``/``lon`` (optional ``time``)
          columns, one column per variable, units in ``df.attrs['units']`` (a dict),
          optional ``<var>_error`` columns (units ``df.attrs['units']['<var>_error']``,
          else the variable's);
        * a long table: columns ``variable``, ``observation`` (or ``value``), ``lat``,
          ``lon`` and optional ``error``, ``time``, ``units`` (else
          ``df.attrs['units'][variable]``).
        Error stds come from ``<var>_error`` or from a variable named in ``<var>``'s CF
        ``ancillary_variables`` attribute; other variables whose names look like errors
        draw a warning.
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
    window : str, Timedelta or None
        Full width of the assimilation window centred on the background's time (its
        scalar ``time`` coordinate): observations with times in ``[t - window/2, t +
        window/2)`` are used (default ``"6h"``, i.e. +-3 h). Without a background time,
        observations spanning more than ``window`` are refused rather than merged.
        ``None``: use every observation whatever its time.

    Raises
    ------
    ObservationError, GridError, UnitsError, CoordinateError
    """
    obs_error = {} if obs_error is None else obs_error
    if not isinstance(obs_error, dict):
        obs_error = {v: obs_error for v in work_units}
    unknown = sorted(set(obs_error) - set(work_units))
    if unknown:
        raise ObservationError(f"obs_error names {unknown}, which are not background variables {list(work_units)}; "
                               "key it by the background's variable names")
    ctx = _Context(grid, work_units, obs_error,
                   var_units={v: str(xu.units_of(background[v], name=v)) for v in work_units},
                   std={v: (standard_names or {}).get(v) or _standard_name(v, background[v]) for v in work_units},
                   t0=times.analysis_time(background), window=times.as_window(window),
                   t0_label=times.label_time(background))
    if isinstance(obs, xr.DataArray):
        if obs.name is None:
            if len(work_units) != 1:
                raise ObservationError("the observation DataArray has no name; name it after a background variable with `.rename('t2m')`")
            obs = obs.rename(next(iter(work_units)))
        obs = obs.to_dataset()
    if isinstance(obs, pd.DataFrame) and obs.columns.duplicated().any():
        dup = sorted({str(c) for c in obs.columns[obs.columns.duplicated()]})
        raise ObservationError(f"the observation table has more than one column named {dup}; which one to use is "
                               "ambiguous: drop or rename the others, e.g. `df.loc[:, ~df.columns.duplicated()]`")
    if isinstance(obs, pd.DataFrame) and "variable" in obs.columns and _column(obs, ("observation", "value")):
        out = {v: _from_table(t, v, ctx) for v, t in _long_to_wide(obs, work_units).items()}
    elif isinstance(obs, pd.DataFrame):
        out = {v: _from_table(obs, v, ctx) for v in work_units if v in obs.columns}
        _warn_unused(obs, {e for v in out for e in (v, v + "_error")})
    elif isinstance(obs, xr.Dataset):
        obs = _by_standard_name(obs, ctx.std)
        out = {v: _from_dataset(obs, v, ctx) for v in work_units if v in obs.data_vars}
        used = {v for v in out} | {c.name for v in out if (c := _error_variable(obs, v)) is not None}
        _warn_unused(obs, used)
    else:
        raise ObservationError(f"observations must be an xarray DataArray/Dataset or a pandas DataFrame, not {type(obs).__name__}")
    if not out:
        raise ObservationError(
            f"none of the observed variables match the background's {list(work_units)}; "
            "name observation variables (or DataFrame columns) after background variables"
        )
    return {v: _without_repeats(ctx.in_window(ob)) for v, ob in out.items()}


#: Background variables taken as the model's surface altitude (besides CF standard names).
_OROGRAPHY_NAMES = ("orog", "orography", "zs", "surface_altitude", "hgt_sfc", "topo")


def on_model_terrain(obs_by_var: dict, background: xr.Dataset, grid: Grid, work_units: dict, orography=None,
                     standard_names: dict | None = None) -> tuple[dict, dict]:
    """The observations of near-surface temperature with the lapse-rate height term in ``H``.

    Reports with a station elevation (:data:`_ELEVATION` names or a CF standard name) of a
    variable in :data:`HEIGHT_ADJUSTED` get ``H(x) = W x + gamma (z_s - z_m)`` with the
    standard atmosphere's ``gamma = -6.5 K/km`` (:func:`to_model_terrain`); station reports
    without one get the sub-grid relief's spread for the background check (:func:`unresolved_relief`).

    Parameters
    ----------
    obs_by_var : dict of PointObservations
        From :func:`collect`, values in the working units.
    background : Dataset
    grid : Grid
    work_units : dict
        Units of each variable's observation values.
    orography : DataArray, False or None
        The background model's surface altitude ``z_m`` on the background grid (units of
        length). None: the background's variable with standard name ``surface_altitude``
        (or named ``orog``, ``zs``, ...), else ETOPO averaged onto the background's cells
        (:func:`xda.static.surface_altitude`), an estimate of a model's smoothed terrain.
        False: no height term, and no allowance for unresolved relief.
    standard_names : dict, optional
        CF standard name per variable (else the background's).

    Returns
    -------
    (dict of PointObservations, dict of str)
        The observations, and per adjusted variable a note for its attrs.

    Raises
    ------
    GridError
        ``orography`` not on the background grid.
    """
    names = {v: (standard_names or {}).get(v) or _standard_name(v, background[v]) for v in obs_by_var}
    if orography is False:
        return obs_by_var, {}
    obs_by_var = unresolved_relief(obs_by_var, grid, work_units, names)
    todo = [v for v, ob in obs_by_var.items() if names[v] in HEIGHT_ADJUSTED and ob.elevation is not None
            and np.isfinite(ob.elevation).any()]
    if not todo:
        return obs_by_var, {}
    altitude, source = _model_altitude(orography, background, grid)
    out, notes = dict(obs_by_var), {}
    for v in todo:
        gamma = _standard_lapse_rate(work_units[v])
        out[v] = to_model_terrain(obs_by_var[v], altitude, gamma)
        off = np.abs(out[v].offset)
        notes[v] = (f"H includes {STANDARD_LAPSE_RATE * 1e3:g} K/km x (station elevation - model surface altitude, "
                    f"{source}): {int(np.isfinite(out[v].elevation).sum())} of {out[v].n} reports, mean |term| "
                    f"{off.mean():.3g}, max {off.max():.3g}")
    return out, notes


def _standard_lapse_rate(units: str) -> float:
    """:data:`STANDARD_LAPSE_RATE` (K m-1) in ``units`` per metre (a temperature difference)."""
    return xu.to_quantity(f"{STANDARD_LAPSE_RATE} K", units, name="lapse rate", difference=True)


def unresolved_relief(obs_by_var: dict, grid: Grid, work_units: dict, names: dict) -> dict:
    """Near-surface temperature reports without an elevation, with the spread that the background cell's
    unresolved relief implies: ``|gamma| * std(ETOPO altitude in the cell)`` (``unresolved``).

    A report from a valley or a summit inside a 5-degree cell can differ from the cell's
    mean by ``gamma`` times its height above the mean; the background check widens its
    threshold by this representativeness std (Lussana et al. 2010, QJRMS 136, the
    spatial consistency test of station temperatures) instead of rejecting good reports
    in mountains and on the Antarctic escarpment. The analysis's ``R`` is unchanged.
    Reports with an elevation get the height term in ``H`` instead (:func:`to_model_terrain`).
    """
    todo = [v for v, ob in obs_by_var.items() if names.get(v) in HEIGHT_ADJUSTED and not ob.gridded]
    if not todo:
        return obs_by_var
    from .static import relief_std

    spread = relief_std(grid.lat, grid.lon)
    out = dict(obs_by_var)
    for v in todo:
        ob = obs_by_var[v]
        gamma = abs(_standard_lapse_rate(work_units[v]))
        without = np.ones(ob.n, bool) if ob.elevation is None else ~np.isfinite(ob.elevation)
        out[v] = replace(ob, unresolved=np.where(without, gamma * apply(ob.operator, spread), 0.0))
    return out


def _model_altitude(orography, background: xr.Dataset, grid: Grid) -> tuple[np.ndarray, str]:
    """The model's surface altitude on the background grid (m, the grid's order) and where it came from."""
    if orography is None:
        found = [k for k, da in background.data_vars.items()
                 if da.attrs.get("standard_name") in _ELEVATION_STANDARD_NAMES or str(k).lower() in _OROGRAPHY_NAMES]
        if not found:
            from .static import relief_for, surface_altitude

            return (surface_altitude(grid.lat, grid.lon),
                    f"{relief_for(grid.lat, grid.lon).upper()} cell means on the background grid")
        orography = background[found[0]]
    if not isinstance(orography, xr.DataArray):
        raise ObservationError(f"orography must be a DataArray on the background grid (or False), not {type(orography).__name__}")
    name = str(orography.name or "orography")
    og = grid_of(orography)
    if _flipped(og, grid):  # the same grid in the other latitude order
        orography = orography.isel({og.lat_dim: slice(None, None, -1)})
        og = grid_of(orography)
    if not og.same_as(grid) or set(orography.dims) != {og.lat_dim, og.lon_dim}:
        raise GridError(f"orography {name!r} is {dict(orography.sizes)}; it must be the background model's surface "
                        f"altitude on the background's {grid.shape[0]} x {grid.shape[1]} grid (lat, lon), e.g. "
                        "`xda.static.orography_like(background)`")
    z = xu.magnitude(orography.transpose(og.lat_dim, og.lon_dim), "m", name=name)
    if not np.isfinite(z).all():
        raise GridError(f"orography {name!r} has {int((~np.isfinite(z)).sum())} NaN values; fill them (sea = 0 m)")
    return z, f"{name!r}"
