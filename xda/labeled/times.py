"""Times of backgrounds and observations: decoding, the analysis time, the assimilation window.

One place for what a 3D analysis needs to know about time: every form of time
(datetime64, cftime, pandas, ISO strings, numeric with CF ``units = "hours since ..."``)
becomes UTC ``datetime64[ns]``, and observations are kept when they fall in the window
``[t - window/2, t + window/2)`` around the background's time, the half-open interval
that makes consecutive 6-hourly analyses share out a stream of reports exactly once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import CoordinateError, ObservationError

#: Names under which a time coordinate or column is recognised (besides the CF ``T`` axis).
TIME_NAMES = ("time", "valid_time", "datetime", "date_time", "obs_time", "date")

#: Default assimilation window (full width, centred on the background's time): the
#: 6-hourly 3D-Var cycle of operational centres (reports within +-3 h).
DEFAULT_WINDOW = pd.Timedelta("6h")


def to_datetime64(values, attrs: dict | None = None, name: str = "time") -> np.ndarray:
    """``values`` as UTC ``datetime64[ns]`` (any shape).

    Parameters
    ----------
    values : array-like
        datetime64, cftime objects, pandas timestamps (naive = UTC, aware converted),
        ISO strings, or numbers with CF ``attrs["units"]`` (``"hours since 1995-03-18"``).
    attrs : dict, optional
        Attributes with ``units`` (and ``calendar``) for numeric times.
    name : str
        Named in error messages.

    cftime dates keep their labels (a ``noleap`` 1995-03-24 is 1995-03-24), so that model
    and real times compare as a user expects; ``360_day`` dates, which the Gregorian
    calendar lacks (30 February), are mapped by the time elapsed since 1970-01-01 of
    their calendar (:func:`_model_calendar`): windows between ``360_day`` times are
    exact, but they do not compare with real dates.

    Raises
    ------
    CoordinateError
        Numeric times without CF units, text that is not a time, mixed calendars.
    """
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]")
    if np.issubdtype(arr.dtype, np.number):
        units = (attrs or {}).get("units", "")
        if " since " not in str(units):
            raise CoordinateError(f"time {name!r} is numeric without CF units; set e.g. "
                                  f"`attrs['units'] = 'hours since 1995-03-18'` or pass datetimes")
        decoded = xr.coding.times.decode_cf_datetime(arr, units, (attrs or {}).get("calendar"))
        return to_datetime64(decoded, name=name)
    flat = arr.ravel()
    if flat.size and all(hasattr(x, "calendar") for x in flat):  # cftime
        calendars = {x.calendar for x in flat}
        if len(calendars) > 1:
            raise CoordinateError(f"time {name!r} mixes calendars {sorted(calendars)}; convert with `.convert_calendar(...)`")
        if calendars.pop() == "360_day":  # dates Gregorian lacks: mapped by elapsed time (exact within the calendar)
            return _model_calendar(flat).reshape(arr.shape)
    if flat.size and hasattr(flat[0], "isoformat") and not isinstance(flat[0], pd.Timestamp):  # cftime, datetime
        flat = np.array([x.isoformat() for x in flat])
    try:
        stamps = pd.to_datetime(pd.Series(flat), utc=True, format="mixed")
    except (ValueError, TypeError) as e:
        raise CoordinateError(f"time {name!r} holds values that are not times ({flat[:3].tolist()}...): {e}; pass "
                              "datetimes, or numbers with CF units (`attrs['units'] = 'hours since 1996-01-01'`)") from None
    return stamps.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").reshape(arr.shape)


def _model_calendar(flat: np.ndarray) -> np.ndarray:
    """cftime dates of a model calendar (``360_day``, ``noleap``, ...) as ``datetime64[ns]`` that keep their
    intervals exact: 1970-01-01 plus the time elapsed since 1970-01-01 *of that calendar*. Differences and
    windows are exact between times of one calendar; the labels of dates the Gregorian calendar lacks
    (30 February) move."""
    ref = flat[0].replace(year=1970, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    seconds = np.array([(x - ref).total_seconds() for x in flat], np.float64)
    return np.datetime64("1970-01-01", "ns") + np.round(seconds * 1e9).astype("timedelta64[ns]")


def elapsed_seconds(values, attrs: dict | None = None, name: str = "time") -> np.ndarray:
    """Seconds of each time of ``values`` (1-D) since the first, exact in the time's own calendar.

    Parameters
    ----------
    values : array-like, shape (n,)
        datetime64; cftime objects of any calendar (``360_day``, ``noleap``: the objects
        are subtracted, never read through text); numbers with CF ``attrs["units"]``
        (``"hours since 1996-01-01"``, decoded in ``attrs["calendar"]``) or with
        duration units (``"hours"``); pandas timestamps; ISO strings.
    attrs : dict, optional
        The time coordinate's attributes (``units``, ``calendar``).
    name : str
        Named in error messages.

    Raises
    ------
    CoordinateError
        The values cannot be read as times (no units, unknown units or calendar, text
        that is not a date, missing times).
    """
    arr = np.asarray(values).ravel()
    attrs = attrs or {}
    units = str(attrs.get("units", ""))
    if arr.dtype.kind in "iuf" and " since " not in units:
        return _duration_seconds(arr, units, name)
    if arr.dtype.kind in "iuf":
        try:
            arr = np.asarray(xr.coding.times.decode_cf_datetime(arr, units, attrs.get("calendar"))).ravel()
        except Exception as e:  # xarray raises ValueError, OutOfBoundsDatetime, ...
            raise CoordinateError(f"time {name!r} cannot be decoded from units={units!r}, calendar="
                                  f"{attrs.get('calendar')!r}: {e}; fix its attrs, e.g. units='hours since 1996-01-01'") from None
    if arr.dtype == object and arr.size and all(hasattr(x, "calendar") for x in arr):  # cftime: exact in its calendar
        try:
            return np.array([(x - arr[0]).total_seconds() for x in arr], np.float64)
        except TypeError as e:
            raise CoordinateError(f"time {name!r} mixes calendars ({e}); convert it with `.convert_calendar(...)`") from None
    t = arr if np.issubdtype(arr.dtype, np.datetime64) else to_datetime64(arr, name=name)  # any resolution, any year
    if np.isnat(t).any():
        raise CoordinateError(f"time {name!r} has {int(np.isnat(t).sum())} missing (NaT) value(s); drop those times "
                              f"first, e.g. `da.sel({name}=da[{name!r}].notnull())`")
    return (t - t[0]) / np.timedelta64(1, "s")


def _duration_seconds(arr: np.ndarray, units: str, name: str) -> np.ndarray:
    """Numeric times with duration units (``"hours"``) in seconds since the first."""
    from . import units as xu
    from ..errors import UnitsError

    if not units:
        raise CoordinateError(f"time {name!r} is numeric without units; set e.g. "
                              f"`c[{name!r}].attrs['units'] = 'hours since 1996-01-01'` or pass datetimes")
    try:
        scale, _ = xu.scale_and_offset(xu.parse_units(units, name=name), "s", name=name, difference=True)
    except UnitsError as e:
        raise CoordinateError(f"time {name!r} has units {units!r}, not a time: {e}; set e.g. "
                              f"`attrs['units'] = 'hours since 1996-01-01'`") from None
    s = (arr.astype(np.float64) - float(arr[0])) * scale if arr.size else arr.astype(np.float64)
    if not np.isfinite(s).all():
        raise CoordinateError(f"time {name!r} has NaN/inf values; drop those times first")
    return s


def time_dim(ds: xr.Dataset | xr.DataArray) -> str | None:
    """The time dimension of ``ds`` (a dimension coordinate named like time, or CF axis T), or None."""
    for dim in ds.dims:
        if dim in TIME_NAMES or (dim in ds.coords and ds[dim].attrs.get("axis") == "T"):
            return str(dim)
        if dim in ds.coords and np.issubdtype(ds[dim].dtype, np.datetime64):
            return str(dim)
    return None


def analysis_time(ds: xr.Dataset | xr.DataArray) -> np.datetime64 | None:
    """The background's valid time: its scalar time coordinate, or None when it has none."""
    for name, c in ds.coords.items():
        if c.ndim == 0 and (name in TIME_NAMES or c.attrs.get("axis") == "T"
                            or np.issubdtype(c.dtype, np.datetime64)):
            return to_datetime64(c.values, c.attrs, name=str(name))[()]
    return None


def label_time(ds: xr.Dataset | xr.DataArray) -> np.datetime64 | None:
    """The valid time of a ``360_day`` background read by its label (1995-03-18 18:00 of the model is
    1995-03-18 18:00 UTC), to compare it with real-calendar reports; None for other calendars or for
    labels the Gregorian calendar lacks (30 February)."""
    for name, c in ds.coords.items():
        v = c.values[()] if c.ndim == 0 else None
        if getattr(v, "calendar", None) == "360_day":
            try:
                return np.datetime64(pd.Timestamp(v.isoformat()).to_datetime64(), "ns")
            except ValueError:
                return None
    return None


def as_window(window) -> pd.Timedelta | None:
    """``window`` (a Timedelta, ``numpy.timedelta64``, ``"6h"``, or None) as a positive Timedelta or None."""
    if window is None:
        return None
    bare = isinstance(window, str) and window.strip().replace(".", "", 1).isdigit()
    number = isinstance(window, (int, float, np.integer, np.floating)) and not isinstance(window, (bool, np.timedelta64))
    if bare or number:
        raise ObservationError(f"window={window!r} has no unit (pandas would read nanoseconds); pass a duration with "
                               f"one, e.g. '{float(window):g}h' (full width), or None for every observation")
    try:
        w = pd.Timedelta(window)
    except (ValueError, TypeError):
        raise ObservationError(f"window={window!r} is not a duration; pass e.g. window='6h' (full width) or None") from None
    if not w > pd.Timedelta(0):
        raise ObservationError(f"window={window!r} must be a positive duration, e.g. '6h' (observations within +-3 h)")
    return w


def in_window(times: np.ndarray, t0: np.datetime64 | None, window: pd.Timedelta | None, name: str) -> np.ndarray:
    """Mask (n,) of observations of ``name`` to keep: those in ``[t0 - window/2, t0 + window/2)``.

    With no background time, observations spanning at most ``window`` are taken as one
    synoptic time (all kept); a longer span is refused rather than silently merged.
    ``window=None`` keeps everything (the caller's explicit choice).

    Raises
    ------
    ObservationError
        Observations span more than ``window`` and the background has no time.
    """
    keep = ~np.isnat(times)
    if window is None or not keep.any():
        return np.ones(times.shape, bool)
    if t0 is None:
        lo, hi = times[keep].min(), times[keep].max()
        if hi - lo > window.to_timedelta64():
            raise ObservationError(
                f"observations of {name!r} span {lo} to {hi}, longer than window={window}, and the background has no "
                "time: give the background its valid time (`bg.assign_coords(time=np.datetime64('1995-03-18T18:00'))`) "
                "to assimilate the reports within the window around it, or pass window=None to merge them all")
        return keep
    half = window.to_timedelta64() / 2
    return keep & (times >= t0 - half) & (times < t0 + half)
