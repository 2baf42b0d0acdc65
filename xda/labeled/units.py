"""The one unit path of xda, on pint's application registry (with cf-xarray's CF units).

Real files carry unit strings pint cannot read (``DEG C``, ``MB``, ``M/S``, ``degrees K``)
or none at all. This module keeps the table of such aliases apart from the logic,
converts DataArrays to SI magnitudes for the numerics, and writes CF unit strings back.

Absolute quantities and differences
-----------------------------------
A temperature of 0.5 degC is 273.65 K, but a temperature *difference* of 0.5 degC
(an observation error, an increment, a spread, a gradient's numerator) is 0.5 K.
Every conversion here says which it is: ``difference=True`` converts with the scale
factor only (pint's ``delta_`` units), never the offset.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import warnings

import numpy as np
import pint
import xarray as xr

from ..errors import DataError, PlausibilityWarning, UnitsError

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

#: ``degrees K`` / ``deg C`` / ``Degree F`` spellings (pint reads ``degrees K`` as angle x kelvin).
_DEGREE_SPELLING = re.compile(r"^\s*deg(?:ree)?s?[\s_]*([CKF])\s*$", re.IGNORECASE)
_DEGREE_UNIT = {"C": "degC", "K": "K", "F": "degF"}

#: CF unit string written back for each SI unit we produce.
CF_UNITS = {"kelvin": "K", "meter": "m", "pascal": "Pa", "meter / second": "m s-1", "dimensionless": "1"}


def registry() -> pint.UnitRegistry:
    """The registry in force: pint's application registry, fetched at call time.

    cf-xarray's registry is used when pint's application registry cannot read CF
    strings (``degrees_north``, ``degrees_Celsius``): pint's default, or MetPy's, which its
    xarray backend installs as soon as any netCDF file is opened.
    """
    app = pint.get_application_registry()
    try:  # a user-set registry that reads CF strings wins; otherwise cf-xarray's, which knows them
        for text in ("degrees_north", "degrees_Celsius"):  # (MetPy's, set when any netCDF file is opened, lacks the second)
            app.Unit(text)
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
    m = _DEGREE_SPELLING.match(text)
    if m:
        alias = _DEGREE_UNIT[m.group(1).upper()]
    if alias is None:
        raise UnitsError(f"{name!r} has units {text!r}, which are not physical units.")
    try:
        return ureg.parse_units(alias)
    except Exception as err:
        raise UnitsError(
            f"cannot understand the units {text!r} of {name!r}; set them explicitly in a form pint reads, "
            f"e.g. `da.attrs['units'] = 'K'` (or 'degC', 'm', 'm s-1', 'hPa')"
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


def _delta(unit: pint.Unit) -> pint.Unit:
    """The unit of a difference: ``delta_degC`` for ``degC``; others unchanged."""
    ureg = registry()
    q = ureg.Quantity(1.0, unit)
    return (q - ureg.Quantity(0.0, unit)).units


def scale_and_offset(src, target: str, *, name: str = "variable", difference: bool = False) -> tuple[float, float]:
    """``(a, b)`` such that a value ``x`` in ``src`` is ``a * x + b`` in ``target``.

    With ``difference=True`` the quantity is a difference (``b = 0``; degC -> K is 1).

    Raises
    ------
    UnitsError
        If the units cannot be converted; the message names the variable.
    """
    ureg = registry()
    src = ureg.Unit(src) if isinstance(src, str) else src
    tgt = parse_units(target, name=name) if isinstance(target, str) else target
    try:
        if difference:
            return float(ureg.Quantity(1.0, _delta(src)).to(_delta(tgt)).magnitude), 0.0
        b = float(ureg.Quantity(0.0, src).to(tgt).magnitude)
        return float(ureg.Quantity(1.0, src).to(tgt).magnitude) - b, b
    except pint.DimensionalityError as err:
        raise UnitsError(f"{name!r} has units {src:~} which cannot be converted to {target!s}.{_hint(src, tgt)}") from err


#: Unit symbols that are a temperature scale in everyday use but another quantity in SI (pint, UDUNITS).
_NOT_TEMPERATURE = {"coulomb": ("Celsius", "degC"), "farad": ("Fahrenheit", "degF")}


def _hint(src, tgt) -> str:
    """Advice where ``src`` is a temperature written as an SI symbol of something else ('C' is the coulomb)."""
    try:
        is_temperature = registry().Unit(tgt).dimensionality == registry().Unit("K").dimensionality
    except Exception:  # noqa: BLE001 (no advice rather than a second error)
        return ""
    name = str(src)
    if is_temperature and name in _NOT_TEMPERATURE:
        scale, symbol = _NOT_TEMPERATURE[name]
        return (f" '{src:~}' is the {name} (SI); a {scale} temperature is written '{symbol}': set "
                f"`attrs['units'] = '{symbol}'`")
    return ""


def base_units(src) -> pint.Unit:
    """The SI unit of differences of a quantity in ``src`` (temperatures: kelvin)."""
    ureg = registry()
    return ureg.Quantity(1.0, _delta(ureg.Unit(src) if isinstance(src, str) else src)).to_base_units().units


def raw_values(da: xr.DataArray) -> np.ndarray:
    """The numbers of ``da`` as stored (pint magnitude when quantified); no copy, except that data stored in the
    other byte order (big-endian netCDF) comes back in the machine's, which compiled kernels need."""
    data = da.data
    data = data.magnitude if isinstance(data, pint.Quantity) else data
    if isinstance(data, np.ndarray) and not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def magnitude(da: xr.DataArray, target: str, *, name: str | None = None, difference: bool = False) -> np.ndarray:
    """Values of ``da`` converted to ``target`` units, as a plain float array.

    Temperature offsets (degC -> K) are applied to absolute values and not to
    differences (``difference=True``). Raises :class:`UnitsError` when the units are
    missing or incompatible; absolute temperatures outside the plausible range draw a
    :class:`~xda.errors.PlausibilityWarning` (:func:`check_plausible`).
    """
    name = name or da.name or "variable"
    src = units_of(da, name=name)
    a, b = scale_and_offset(src, target, name=name, difference=difference)
    raw = raw_values(da)
    _require_real(np.dtype(getattr(raw, "dtype", object)), name)
    values = np.asarray(raw, dtype=np.float64)
    if not difference:
        check_plausible(values, src, name=name)
    return values * a + b if (a != 1.0 or b != 0.0) else values


#: dtype kinds that are not real numbers, and the fix (``{name}``: the argument; ``{why}``: why a boolean will not
#: do). Object arrays of numbers are converted. Used by the unit path and by the grid operations (:mod:`.ops`).
NOT_REAL = {"b": "a boolean mask {why}; convert it if 0/1 is meant, e.g. `{name}.astype(float)`",
            "c": "take the real and imaginary parts separately, e.g. `{name}.real` and `{name}.imag`",
            "M": "dates are not a field; difference numbers (e.g. seconds) instead",
            "m": "convert durations to numbers with units, e.g. `({name} / np.timedelta64(1, 's')).assign_attrs(units='s')`",
            "U": "convert text to numbers, e.g. `{name}.astype(float)`",
            "S": "convert text to numbers, e.g. `{name}.astype(float)`",
            "V": "select a numeric field"}


def _require_real(dtype: np.dtype, name: str) -> None:
    """DataError naming ``name`` unless ``dtype`` holds real numbers (bool, complex, dates and text are refused)."""
    if dtype.kind in NOT_REAL:
        raise DataError(f"{name!r} holds {dtype} values, not real numbers: "
                        + NOT_REAL[dtype.kind].format(name=name, why="is not a quantity"))


def convert(da: xr.DataArray, target: str, *, name: str | None = None, difference: bool = False) -> xr.DataArray:
    """A copy of ``da`` in ``target`` units (attrs kept, ``units`` updated)."""
    values = magnitude(da, target, name=name, difference=difference)
    out = da.copy(data=values.astype(np.result_type(da.dtype, np.float32)))
    out.attrs["units"] = target
    return out


#: Plausible range (K) of absolute air temperatures, from the stratosphere to the hottest surface.
PLAUSIBLE_TEMPERATURE_K = (150.0, 350.0)


def check_plausible(values: np.ndarray, units, *, name: str) -> None:
    """Warn (:class:`~xda.errors.PlausibilityWarning`) when absolute temperatures in ``units`` fall outside
    :data:`PLAUSIBLE_TEMPERATURE_K`: the numbers are legal but the units label is probably wrong
    (degC numbers labelled K, or kelvin labelled degC). Other quantities are not checked.
    """
    unit = parse_units(units, name=name) if isinstance(units, str) else units
    if unit.dimensionality != registry().kelvin.dimensionality:
        return
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return
    a, b = scale_and_offset(unit, "K", name=name)
    lo, hi = v.min() * a + b, v.max() * a + b
    low, high = PLAUSIBLE_TEMPERATURE_K
    if low <= lo and hi <= high:
        return
    guess = [u for u in ("degC", "K", "degF") if u != f"{unit:~}" and low <= _in_kelvin(v, u).min()
             and _in_kelvin(v, u).max() <= high]
    hint = f"; the numbers look like {guess[0]}: set `attrs['units'] = {guess[0]!r}`" if guess else "; check the data"
    warnings.warn(PlausibilityWarning(
        f"{name!r} ranges {v.min():.4g}..{v.max():.4g} {unit:~} ({lo:.0f}..{hi:.0f} K), outside the plausible "
        f"{low:.0f}-{high:.0f} K for an air temperature{hint}"), stacklevel=4)


def _in_kelvin(v: np.ndarray, units: str) -> np.ndarray:
    a, b = scale_and_offset(parse_units(units), "K")
    return v * a + b


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


def to_quantity(value, units: str, *, name: str = "value", difference: bool = False, number_units: str | None = None) -> float:
    """A number, string (``"0.5 K"``) or pint quantity as a float in ``units``.

    Parameters
    ----------
    value : number, str or pint.Quantity
    units : str
        Units of the result.
    name : str
        For the error message.
    difference : bool
        The value is a difference (an error std, an increment): ``"0.5 degC"`` is 0.5 K.
    number_units : str, optional
        Units of a bare number (default ``units``): e.g. the variable's own units, so
        that ``obs_error=1`` on a ``dam`` field means 1 dam.

    Raises
    ------
    UnitsError
        If the value cannot be read or converted; the message shows the expected form.
    """
    ureg = registry()
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError("a boolean is not a quantity")
        if isinstance(value, (int, float, np.floating, np.integer)):
            if number_units is None or number_units == units:
                return float(value)
            a, b = scale_and_offset(number_units, units, name=name, difference=difference)
            return float(value) * a + b
        q = ureg.Quantity(value) if isinstance(value, str) else value
        if isinstance(value, str):  # parse the unit part through our aliases
            parts = value.strip().split(maxsplit=1)
            if len(parts) == 2:
                q = ureg.Quantity(float(parts[0]), parse_units(parts[1], name=name))
        if not hasattr(q, "units"):
            return float(q) if number_units is None else to_quantity(float(q), units, name=name, difference=difference,
                                                                    number_units=number_units)
        a, b = scale_and_offset(q.units, units, name=name, difference=difference)
        return float(q.magnitude) * a + b
    except UnitsError:
        raise
    except Exception as err:
        raise UnitsError(f"cannot read {name}={value!r} as a quantity in {units!r}; pass e.g. {name}='1.5 {units}'") from err


# ----------------------------------------------------------------------------- pint in, pint out


def _registry_of(objs) -> pint.UnitRegistry | None:
    """The registry of the first pint-quantified DataArray / Dataset variable among ``objs``, or None."""
    for obj in objs:
        if isinstance(obj, (xr.DataArray, xr.Dataset)):
            for var in ([obj] if isinstance(obj, xr.DataArray) else obj.variables.values()):
                if isinstance(var.data, pint.Quantity):
                    return var.data._REGISTRY
    return None


def _quantified(obj) -> bool:
    variables = obj.variables.values() if isinstance(obj, xr.Dataset) else [obj.variable, *(c.variable for c in obj.coords.values())]
    return any(isinstance(v.data, pint.Quantity) for v in variables)


def _plain(var: xr.Variable) -> xr.Variable:
    """A variable's magnitudes with CF ``units`` in its attrs (numbers stay as they are)."""
    if not isinstance(var.data, pint.Quantity):
        return var
    return xr.Variable(var.dims, var.data.magnitude, {**var.attrs, "units": cf_string(var.data.units)}, var.encoding)


def dequantify(obj):
    """``obj`` with every pint-quantified variable turned into numbers + ``attrs['units']`` (pint-xarray's way).

    pint-xarray's own ``.pint.dequantify()`` where it is installed (it also undoes the
    ``PintIndex`` of quantified index coordinates); else variable by variable.
    """
    if not isinstance(obj, (xr.DataArray, xr.Dataset)) or not _quantified(obj):
        return obj
    try:
        import pint_xarray  # noqa: F401  (registers the .pint accessor)

        return obj.pint.dequantify()
    except ImportError:
        pass
    coords = {k: _plain(c.variable) for k, c in obj.coords.items() if isinstance(c.data, pint.Quantity)}
    if isinstance(obj, xr.DataArray):
        plain = _plain(obj.variable)
        return obj.copy(data=plain.data).assign_attrs(plain.attrs).assign_coords(coords)
    return obj.assign({k: _plain(v.variable) for k, v in obj.data_vars.items()}).assign_coords(coords)


def quantify(obj, ureg: pint.UnitRegistry):
    """Data variables of ``obj`` with ``attrs['units']`` as pint quantities of ``ureg`` (units leave the attrs)."""
    if isinstance(obj, tuple):
        return tuple(quantify(o, ureg) for o in obj)
    if isinstance(obj, xr.DataArray) and "units" in obj.attrs and not isinstance(obj.data, pint.Quantity):
        unit = ureg.Unit(str(parse_units(str(obj.attrs["units"]), name=str(obj.name))))
        attrs = {k: v for k, v in obj.attrs.items() if k != "units"}
        new = obj.copy(data=ureg.Quantity(obj.data, unit))
        new.attrs = attrs
        return new
    if isinstance(obj, xr.Dataset):
        return obj.assign({k: quantify(v, ureg) for k, v in obj.data_vars.items()})
    return obj


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def pint_in_pint_out(func):
    """Decorator: pint-quantified inputs (pint-xarray's ``.pint.quantify()``) give quantified outputs.

    Inputs are dequantified to numbers with ``units`` attrs (the form every xda function
    reads), the function runs, and when any input was quantified its outputs'
    data variables come back as quantities of the same registry. Warnings raised inside
    are re-issued at the first caller outside xda (the user's line).
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ureg = _registry_of([*args, *kwargs.values()])
        caught = []
        try:
            with warnings.catch_warnings(record=True) as caught:  # re-issued at the caller's line, not this one
                if ureg is None:
                    return func(*args, **kwargs)
                return quantify(func(*(dequantify(a) for a in args), **{k: dequantify(v) for k, v in kwargs.items()}), ureg)
        finally:  # also when the call fails: a warning may say why
            level, frame = 1, sys._getframe(0)
            while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):  # the first caller outside xda
                frame, level = frame.f_back, level + 1
            for w in caught:
                warnings.warn(w.message, w.category, stacklevel=level)
    return wrapper
