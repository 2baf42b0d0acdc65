"""Unit handling on top of pint's application registry (with cf-xarray's CF units).

Real files carry unit strings pint cannot read (``DEG C``, ``MB``, ``M/S``) or none at
all. This module keeps the table of such aliases apart from the logic, converts
DataArrays to SI magnitudes for the numerics, and writes CF unit strings back.
"""

from __future__ import annotations

import numpy as np
import pint
import xarray as xr

from ..errors import UnitsError

#: Unit strings seen in real files that pint (with cf-xarray's definitions) misreads
#: or rejects, mapped to what they mean. Keys are compared case-sensitively first,
#: then upper-cased.
ALIASES = {
    "DEG C": "degC",
    "DEG K": "K",
    "deg C": "degC",
    "MB": "hPa",
    "mb": "hPa",
    "M/S": "m/s",
    "METERS": "m",
    "gpm": "m",
    "text_time": None,
}

#: CF unit string written back for each SI unit we produce.
CF_UNITS = {"kelvin": "K", "meter": "m", "pascal": "Pa", "meter / second": "m s-1", "dimensionless": "1"}


def registry() -> pint.UnitRegistry:
    """The registry in force: pint's application registry, fetched at call time.

    cf-xarray's registry is used when pint's application registry has not been set
    by the user, so that CF strings (``degrees_north``, ``gpm``) parse.
    """
    app = pint.get_application_registry()
    try:  # a user-set registry wins; otherwise cf-xarray's, which knows CF strings
        app.Unit("degrees_north")
        return app
    except Exception:
        from cf_xarray.units import units as cf_units

        return cf_units


def parse_units(text: str, *, name: str = "variable") -> pint.Unit:
    """Parse a unit string from a file, repairing the usual non-CF spellings.

    Parameters
    ----------
    text : str
        Unit string, e.g. ``"K"``, ``"celsius"``, ``"DEG C"``, ``"gpm"``, ``"MB"``.
    name : str
        Name of the variable, for the error message.

    Returns
    -------
    pint.Unit

    Raises
    ------
    UnitsError
        If the string cannot be understood.
    """
    ureg = registry()
    text = str(text).strip()
    alias = ALIASES.get(text, ALIASES.get(text.upper(), text))
    if alias is None:
        raise UnitsError(f"{name!r} has units {text!r}, which are not physical units.")
    try:
        return ureg.parse_units(alias)
    except Exception as err:
        raise UnitsError(
            f"cannot understand the units {text!r} of {name!r}; set them explicitly, "
            f"e.g. `da.attrs['units'] = 'K'`"
        ) from err


def units_of(da: xr.DataArray, *, name: str | None = None) -> pint.Unit:
    """Units of a DataArray from ``attrs['units']`` or a pint-quantified array.

    Raises
    ------
    UnitsError
        If the DataArray carries no units; the message shows how to add them.
    """
    name = name or da.name or "variable"
    data = da.data
    if isinstance(data, pint.Quantity):
        return data.units
    if "units" not in da.attrs:
        raise UnitsError(
            f"{name!r} has no units. Add them, e.g. `ds[{name!r}].attrs['units'] = 'K'`, "
            "or open the file with `xda.datasets.open_dataset`, which repairs known files."
        )
    return parse_units(da.attrs["units"], name=name)


def magnitude(da: xr.DataArray, target: str, *, name: str | None = None) -> np.ndarray:
    """Values of ``da`` converted to ``target`` units, as a plain float array.

    Temperature offsets (degC -> K) are handled. Raises :class:`UnitsError` when the
    units are missing or incompatible.
    """
    name = name or da.name or "variable"
    src = units_of(da, name=name)
    ureg = registry()
    values = da.data.magnitude if isinstance(da.data, pint.Quantity) else da.values
    try:
        return ureg.Quantity(np.asarray(values, dtype=np.float64), src).to(target).magnitude
    except pint.DimensionalityError as err:
        raise UnitsError(
            f"{name!r} has units {src:~} which cannot be converted to {target!r}."
        ) from err


def convert(da: xr.DataArray, target: str, *, name: str | None = None) -> xr.DataArray:
    """A copy of ``da`` in ``target`` units (attrs kept, ``units`` updated)."""
    out = da.copy(data=magnitude(da, target, name=name).astype(np.result_type(da.dtype, np.float32)))
    out.attrs["units"] = target
    return out


def cf_string(unit) -> str:
    """A pint unit written the CF way (``K s-1``, ``m2``)."""
    ureg = registry()
    unit = ureg.Unit(str(unit))
    parts = []
    for name, exp in sorted(unit._units.items(), key=lambda kv: -kv[1]):
        sym = ureg.get_symbol(name)
        e = int(exp) if float(exp).is_integer() else exp
        parts.append(sym if e == 1 else f"{sym}{e}")
    return " ".join(parts) if parts else "1"


def to_quantity(value, default: str, *, name: str = "value") -> float:
    """A number, string (``"0.5 K"``) or pint quantity as a float in ``default`` units."""
    ureg = registry()
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    try:
        q = ureg.Quantity(value) if isinstance(value, str) else value
        return float(q.to(default).magnitude)
    except Exception as err:
        raise UnitsError(f"cannot read {name}={value!r} as a quantity in {default!r}") from err
