"""One labeled-operation path for the grid stencils (in the manner of MetPy's
``preprocess_and_wrap`` and xgcm's ``as_grid_ufunc``).

:func:`grid_op` declares, for a numerics kernel, the dimensionality of each argument
and of the output. The wrapper it builds does the labeled work once, the same way for
every diagnostic:

1. finds the grid (:func:`~xda.labeled.grid.stencil_grid`: cf-xarray, overrides,
   periodicity and cyclic points, latitude order, projected x/y) with cached geometry;
2. reads each argument's units (``attrs['units']`` or a pint-quantified array) and
   folds the conversion of *differences* to SI into one scale factor per argument
   (degC and K differ by an offset that no derivative sees);
3. checks that the other arguments share the first one's grid by comparing indexes
   (no ``align`` copies) and dims;
4. runs the kernel on the stored arrays: descending latitudes by a reversed geometry,
   not by flipping data; NumPy inputs write straight into the one output (or ``out=``);
   dask inputs run block by block with a one-cell face halo (:mod:`.halo`,
   periodic in longitude when the grid wraps), so chunks along latitude, longitude and
   time give the NumPy answer with memory bounded by about a slab of chunks;
5. wraps the output with the first argument's coordinates, CF units and a
   ``long_name`` (pint-quantified when an input was).

A Dataset as the first argument applies the operation to each data variable on the
grid with units (other arguments may then be variable names, e.g. ``u="ua"``).
"""

from __future__ import annotations

import functools
import inspect
import numbers
from dataclasses import dataclass

import numpy as np
import pint
import xarray as xr

from ..errors import CoordinateError, DataError, GridError, ParameterError, UnitsError
from ..numerics import stencils as st
from . import times
from . import units as xu
from .grid import Grid, stencil_grid
from .halo import map_halo


@dataclass(frozen=True)
class Operand:
    """One argument of a grid operation, ready for a kernel.

    Attributes
    ----------
    values : ndarray or dask array
        The numbers as stored (no copy), dims in the order of the first argument.
    scale : float
        Multiplies a difference of ``values`` into ``si`` units.
    units, si : pint.Unit
        The argument's own units and the SI units the kernel works in.
    """

    values: object
    scale: float
    units: pint.Unit
    si: pint.Unit


def _operand(da: xr.DataArray, kind: str, name: str) -> Operand:
    src = xu.units_of(da, name=name)
    si = xu.base_units(src) if kind == "field" else xu.parse_units(kind, name=name)
    scale, _ = xu.scale_and_offset(src, si, name=name, difference=True)
    return Operand(xu.raw_values(da), scale, src, si)


def _same_index(a: xr.DataArray, b: xr.DataArray, dim: str) -> bool:
    """Whether ``a`` and ``b`` have the same index along ``dim`` (any index type, e.g. pint-xarray's ``PintIndex``)."""
    if dim not in a.xindexes or dim not in b.xindexes:
        return True
    try:
        return bool(a.xindexes[dim].equals(b.xindexes[dim]))
    except (TypeError, NotImplementedError):  # indexes of different types
        return np.array_equal(xu.raw_values(a[dim]), xu.raw_values(b[dim]))


def _check_same_grid(first: xr.DataArray, other: xr.DataArray, grid: Grid, names: tuple[str, str]) -> xr.DataArray:
    """``other`` with the dims order of ``first``; GridError unless it is on the same grid."""
    for dim in (grid.lat_dim, grid.lon_dim):
        ok = dim in other.dims and other.sizes[dim] == first.sizes[dim] and _same_index(first, other, dim)
        if not ok:
            raise GridError(
                f"{names[1]!r} is not on the grid of {names[0]!r} (dimension {dim!r} differs); "
                f"interpolate it first, e.g. `{names[1]}.interp_like({names[0]})`"
            )
    for dim in set(first.dims) & set(other.dims) - {grid.lat_dim, grid.lon_dim}:  # time, level, ...
        same = other.sizes[dim] == first.sizes[dim] and _same_index(first, other, dim)
        if not same:
            raise GridError(f"{names[1]!r} and {names[0]!r} differ along {dim!r} (other {dim}s or another length); "
                            f"select the same ones, e.g. `{names[1]}.sel({dim}={names[0]}.{dim})`")
    if set(other.dims) != set(first.dims):
        other = other.broadcast_like(first)
    return other.transpose(*first.dims) if other.dims != first.dims else other


def time_seconds(c: xr.DataArray, time: str) -> np.ndarray:
    """Times of ``c[time]`` in seconds since the first (:func:`xda.labeled.times.elapsed_seconds`).

    datetime64, cftime of any calendar (exact), numbers with CF units (``"hours since
    ..."``) or duration units (``"hours"``).

    Raises
    ------
    CoordinateError
        No such dimension or coordinate, or times that cannot be decoded.
    GridError
        Fewer than 2 times, repeated times, or times not monotonic.
    """
    if time not in c.dims:
        raise CoordinateError(f"{c.name!r} has no dimension {time!r} (its dims are {c.dims}); "
                              "pass `time=` with the name of its time dimension")
    if time not in c.coords:
        raise CoordinateError(f"{c.name!r} has no time coordinate {time!r}; assign one, e.g. `c.assign_coords({time}=...)`")
    t = c[time]
    s = times.elapsed_seconds(t.values, t.attrs, name=time)
    _check_steps(t, s, time)
    return s


def _check_steps(t: xr.DataArray, s: np.ndarray, time: str) -> None:
    """GridError unless the times ``s`` are at least 2, without repeats, and monotonic (either way)."""
    if s.size < 2:
        raise GridError(f"a tendency needs at least 2 times along {time!r}, got {s.size}; "
                        f"select more, e.g. `.isel({time}=slice(0, 2))` rather than `.isel({time}=[0])`")
    d = np.diff(s)
    if (d == 0).any():
        dup = [str(np.datetime64(v, "s")) if isinstance(v, np.datetime64) else str(v) for v in t.values[1:][d == 0][:3]]
        raise GridError(f"time {time!r} repeats {int((d == 0).sum())} time stamp(s) ({', '.join(dup)}): the tendency "
                        f"would divide by zero; drop them with `.drop_duplicates({time!r})`")
    if not (np.all(d > 0) or np.all(d < 0)):
        k = int(np.argmax(np.sign(d) != np.sign(d[0]))) + 1
        raise GridError(f"time {time!r} is not monotonic ({t.values[k]} follows {t.values[k - 1]} at index {k}); "
                        f"sort it with `.sortby({time!r})`")


# ----------------------------------------------------------------------------- running


def _run_numpy(kernel, geo, arrays, n_out, out, extra):
    """The kernel's outputs; with ``out=``, written into it (checked, copied in if the kernel made its own)."""
    if out is not None and n_out > 1 and not (isinstance(out, (tuple, list)) and len(out) == n_out):
        raise ParameterError(f"this operation has {n_out} outputs: pass `out=` as a tuple of {n_out} arrays")
    res = kernel(geo, *arrays, out=out, **extra)
    res = res if isinstance(res, tuple) else (res,)
    if out is None:
        return res
    outs = out if n_out > 1 else (out,)
    return tuple(r if np.shares_memory(r, o) else _copy_into(o, r) for r, o in zip(res, outs))


def _copy_into(out, res: np.ndarray) -> np.ndarray:
    np.copyto(st.check_out(out, res.shape, res.dtype), res)
    return out


def _merge_small(chunks: tuple[int, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for n in chunks:
        if out and (n < 2 or out[-1] < 2):
            out[-1] += n
        else:
            out.append(n)
    return tuple(out)


def _run_dask(kernel, geo, arrays, n_out, extra, time_axis, dtype):
    """Block by block with a one-cell face halo (periodic in longitude when the grid wraps)."""
    import dask.array as da

    nd = arrays[0].ndim
    ay, ax = nd - 2, nd - 1
    first = arrays[0]
    if geo.cyclic_point and len(first.chunks[ax]) > 1:
        first = first.rechunk({ax: -1})  # a repeated column cannot wrap through a halo
    arrays = [first] + [a.rechunk(first.chunks) if isinstance(a, da.Array) else da.from_array(a, chunks=first.chunks)
                        for a in arrays[1:]]
    halo_axes = [ay] + ([ax] if len(first.chunks[ax]) > 1 else []) + ([time_axis] if time_axis is not None else [])
    merged = {axis: _merge_small(first.chunks[axis]) for axis in halo_axes if min(first.chunks[axis]) < 2}
    if merged:  # a halo needs 2 points per block: merge single-point blocks into their neighbours
        arrays = [a.rechunk(merged) for a in arrays]
        first = arrays[0]
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]) for c in first.chunks]
    x_halo, time_s = ax in halo_axes, extra.get("time_s")

    def block(blocks, idx, pad):
        y0 = int(starts[ay][idx[ay]]) - pad[ay][0]
        g = geo.rows(y0, y0 + blocks[0].shape[ay])
        g = g.columns_unwrapped() if x_halo else g
        kw = dict(extra)
        if time_axis is not None:
            t0 = int(starts[time_axis][idx[time_axis]]) - pad[time_axis][0]
            kw["time_s"] = time_s[t0:t0 + blocks[0].shape[time_axis]]
        res = kernel(g, *blocks, out=None, **kw)
        return res if isinstance(res, tuple) else (res,)

    periodic = [ax] if x_halo and geo.periodic else []
    res = map_halo(block, arrays, axes=halo_axes, periodic=periodic, n_out=n_out, dtype=dtype, name="xda-stencil")
    return tuple(res[i] for i in range(n_out))


# ----------------------------------------------------------------------------- the decorator


def _read_params(params: dict, spec: dict) -> dict:
    """Parameters as floats in their units; ParameterError outside ``[minimum, below)``.

    ``spec`` maps a name to ``(units, default)`` or ``(units, default, minimum, below, fix)``
    (``minimum`` inclusive, ``below`` exclusive, either None).
    """
    out = dict(params)
    for key, entry in spec.items():
        if key in out:
            units, _, lo, hi, fix = (tuple(entry) + (None, None, ""))[:5]
            value = xu.to_quantity(out[key], units, name=key)
            if not (np.isfinite(value) and (lo is None or value >= lo) and (hi is None or value < hi)):
                want = " and ".join(w for w in (lo is not None and f">= {lo}", hi is not None and f"< {hi}") if w)
                raise ParameterError(f"{key}={out[key]!r} must be a finite number {want} (in {units})".replace("  ", " ")
                                     + (f"; {fix}" if fix else ""))
            out[key] = value
    return out


def _check_labeled(args, fields: dict, op_name: str) -> None:
    """ParameterError naming the argument unless each is a DataArray; DataError for booleans, complex, text or dates."""
    for i, (value, (name, kind)) in enumerate(zip(args, fields.items())):
        units = "K" if kind == "field" else kind
        if not isinstance(value, xr.DataArray):
            what = repr(value) if isinstance(value, numbers.Number) else f"a {type(value).__name__}" + (
                f" of shape {np.shape(value)}" if hasattr(value, "shape") else "")
            fix = (f"for a constant {name}, broadcast it: `{name} = xr.full_like({list(fields)[0]}, {value!r})"
                   f".assign_attrs(units={units!r})`" if i and isinstance(value, numbers.Real) else
                   f"wrap it with its coordinates and units, e.g. `xr.DataArray(values, dims=('lat', 'lon'), "
                   f"coords={{'lat': lat, 'lon': lon}}, attrs={{'units': {units!r}}})`")
            raise ParameterError(f"{op_name}() takes {name} as an xarray DataArray on the grid with units; "
                                 f"{name} is {what}: {fix}")
        kind_ = np.dtype(getattr(xu.raw_values(value), "dtype", object)).kind
        if kind_ in xu.NOT_REAL:
            raise DataError(f"{name} ({value.name!r}) holds {value.dtype} values; {op_name}() differentiates real "
                            f"numbers: {xu.NOT_REAL[kind_].format(name=name, why='has no derivative')}")


def _check_points(grid: Grid, minimum: int, what: str) -> None:
    """GridError unless the grid has ``minimum`` points along latitude and longitude."""
    for dim, n in ((grid.lat_dim, grid.lat.size), (grid.lon_dim, grid.lon.size)):
        if n < minimum:
            raise GridError(f"{what} needs at least {minimum} points along {dim!r} (a centred stencil), got {n}; "
                            f"select a wider region, e.g. `.isel({dim}=slice(0, {minimum}))`")


def _wrap_output(data, like: xr.DataArray, name: str, units, long_name: str, quantified, dims) -> xr.DataArray:
    attrs = {"long_name": long_name}
    if quantified is not None:
        data = quantified.Quantity(data, str(units))
    else:
        attrs = {"units": xu.cf_string(units), **attrs}
    out = xr.DataArray(data, dims=dims, coords=like.coords, name=name, attrs=attrs)
    return out.transpose(*like.dims) if dims != like.dims else out


def _prepare(first: xr.DataArray, others: list, grid: Grid, time: str | None, arg_names: tuple[str, ...]):
    """Dims order for the kernel (..., [time,] lat, lon) and the arguments in it (views)."""
    core = ([time] if time else []) + [grid.lat_dim, grid.lon_dim]
    order = tuple(d for d in first.dims if d not in core) + tuple(core)
    first_t = first.transpose(*order) if first.dims != order else first
    rest = [_check_same_grid(first_t, o, grid, (arg_names[0], arg_names[i + 1])) for i, o in enumerate(others)]
    return order, first_t, rest


def grid_op(*, fields: dict[str, str], output, names: tuple[str, ...], long_names: tuple[str, ...],
            tendency: bool = False, params: dict | None = None, per_variable: bool = True, min_points: int = 2):
    """Make a labeled operation from a kernel ``kernel(geo, *arrays, scales, out, **params)``.

    Parameters
    ----------
    fields : dict
        Argument name -> ``"field"`` (any units; the kernel sees differences in their SI
        base units) or a unit string (``"m/s"``) the argument must be convertible to.
    output : callable
        ``output(ureg, si_of_first_field)`` -> the output's pint unit.
    names, long_names : tuple of str
        Output names and ``long_name`` templates, ``{c}`` being the first argument's name
        (long name). One per output.
    tendency : bool
        The operation differences along ``time`` (argument ``time="time"``); the kernel
        receives ``time_s`` (seconds).
    params : dict
        Scalar parameters with units and defaults (``{"kappa": ("m**2/s", 0.0)}``), read
        once (numbers, strings with units or pint quantities); optionally with their
        domain and the fix to name, ``("m**2/s", 0.0, 0.0, None, "fix")``
        (minimum inclusive, upper bound exclusive): :class:`ParameterError` outside it.
    per_variable : bool
        A Dataset as first argument applies the operation to each variable.
    min_points : int
        Points needed along latitude and longitude (3 for a laplacian, whose regional
        edges are NaN); fewer is a :class:`GridError`.
    """
    arg_names = tuple(fields)
    spec = params or {}

    def decorate(kernel):
        @functools.wraps(kernel)
        def op(*args, lat=None, lon=None, out=None, time="time", **kwargs):
            named = [n for n in arg_names[len(args):] if n in kwargs]
            args = args + tuple(kwargs.pop(n) for n in named)  # fields given by keyword
            if len(args) < len(arg_names):
                raise TypeError(f"{kernel.__name__}() needs the fields {arg_names}; missing {arg_names[len(args):]}")
            if isinstance(args[0], xr.Dataset):
                return _over_dataset(op, args, dict(kwargs, lat=lat, lon=lon, time=time), arg_names, per_variable)
            if not len(arg_names) <= len(args) <= len(arg_names) + len(spec):
                raise TypeError(f"{kernel.__name__}() takes the fields {arg_names}, got {len(args)} positional arguments")
            kwargs.update(zip(spec, args[len(arg_names):]))
            args = args[: len(arg_names)]
            _check_labeled(args, fields, kernel.__name__)
            first = args[0]
            label = str(first.name or arg_names[0])
            grid = stencil_grid(first, lat=lat, lon=lon)
            _check_points(grid, min_points, f"{kernel.__name__}()")
            tname = time if tendency else None
            time_s = time_seconds(first, time) if tendency else None
            order, first_t, rest = _prepare(first, list(args[1:]), grid, tname, arg_names)
            ops_ = [_operand(a, kind, str(a.name or n)) for a, (n, kind) in zip([first_t, *rest], fields.items())]
            extra = _read_params(kwargs, spec)
            extra["scales"] = tuple(o.scale for o in ops_)
            if tendency:
                extra["time_s"] = time_s
            arrays = [o.values for o in ops_]
            dtype = np.result_type(*[a.dtype for a in arrays], np.float32)
            if any(hasattr(a, "dask") for a in arrays):
                if out is not None:
                    raise ParameterError(f"out= cannot be filled from dask-backed {label!r} (the result is lazy); "
                                         "leave out=None, or pass NumPy data, e.g. `c.compute()`")
                taxis = len(order) - 3 if tendency else None
                res = _run_dask(kernel, grid.geometry, arrays, len(names), extra, taxis, dtype)
            else:
                res = _run_numpy(kernel, grid.geometry, arrays, len(names), out, extra)
            quantified = next((a.data._REGISTRY for a in args if isinstance(a.data, pint.Quantity)), None)
            unit = output(xu.registry(), ops_[0].si)
            long = str(first.attrs.get("long_name", label))
            outs = tuple(_wrap_output(r, first, n.format(c=label), unit, ln.format(c=long), quantified, order)
                         for r, n, ln in zip(res, names, long_names))
            return outs[0] if len(outs) == 1 else outs

        params_sig = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in arg_names]
        params_sig += [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=e[1]) for k, e in spec.items()]
        params_sig += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d)
                       for k, d in (("time", "time"),) if tendency]
        params_sig += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in ("lat", "lon", "out")]
        op.__signature__ = inspect.Signature(params_sig)
        op.kernel = kernel
        return op

    return decorate


def _over_dataset(op, args, kwargs, arg_names, per_variable):
    """Apply ``op`` to each data variable of a Dataset that is on the grid and has units."""
    ds = args[0]
    if not per_variable:
        raise TypeError(
            f"pass DataArrays, not a Dataset: e.g. `{op.__name__}(" + ", ".join(f"ds[{n!r}]" for n in arg_names) + ")`"
        )
    others = [ds[a] if isinstance(a, str) else a for a in args[1:]]
    used = {a for a in args[1:] if isinstance(a, str)}
    grid = stencil_grid(ds, lat=kwargs.get("lat"), lon=kwargs.get("lon"))
    results, skipped = {}, []
    for name, da in ds.data_vars.items():
        if name in used or not {grid.lat_dim, grid.lon_dim} <= set(da.dims):
            continue
        try:
            xu.units_of(da, name=name)
        except UnitsError:
            skipped.append(name)
            continue
        res = op(da, *others, **kwargs)
        for r in res if isinstance(res, tuple) else (res,):
            results[r.name] = r
    if not results:
        raise UnitsError(f"no variable of the Dataset is on the grid with units ({skipped or list(ds.data_vars)}); "
                         "set units, e.g. `ds['t'].attrs['units'] = 'K'`")
    out = xr.Dataset(results, attrs={"xda_skipped_without_units": ", ".join(skipped)} if skipped else {})
    return out
