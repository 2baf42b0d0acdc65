"""Physics diagnostics on labeled fields: gradient, laplacian, advection, residuals.

Each function finds the horizontal coordinates (cf-xarray; ``lat=``/``lon=``
overrides), converts units with pint, runs the numba kernels of
:mod:`xda.numerics.stencils` on plain SI arrays, and returns DataArrays with the
input's dims and coordinates, CF units and a ``long_name``. Dask-backed inputs stay
lazy (chunks along non-spatial dimensions; the residual also needs ``time`` in one
chunk). Latitudes may descend and longitudes may be 0..360 or -180..180; projected
grids with ``x``/``y`` in metres work too.

Sign convention: ``advection`` is ``u dc/dx + v dc/dy``, the transport term on the
left of ``dc/dt + u.grad(c) = kappa lap(c)``; MetPy's ``advection`` returns
``-u.grad(c)``, the tendency due to advection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .labeled import units as xu
from .labeled.grid import grid_of
from .errors import CoordinateError, GridError
from .numerics import stencils as st


@dataclass(frozen=True)
class _Layout:
    ydim: str
    xdim: str
    geo: st.Geometry
    flip: bool  # latitudes stored descending


def _layout(da: xr.DataArray, lat=None, lon=None) -> _Layout:
    try:
        g = grid_of(da, lat=lat, lon=lon)
        flip = g.lat[0] > g.lat[-1]
        la = g.lat[::-1] if flip else g.lat
        return _Layout(g.lat_dim, g.lon_dim, st.geometry(la, g.lon, g.periodic), flip)
    except CoordinateError:
        pass
    # projected grid: x / y coordinates in length units
    for ycand, xcand in (("y", "x"), ("projection_y_coordinate", "projection_x_coordinate")):
        if ycand in da.coords and xcand in da.coords:
            y = xu.magnitude(da[ycand], "m", name=ycand)
            x = xu.magnitude(da[xcand], "m", name=xcand)
            if not np.allclose(np.diff(x), x[1] - x[0], rtol=1e-6):
                raise GridError(f"projected coordinate {xcand!r} must be evenly spaced")
            flip = y[0] > y[-1]
            geo = st.geometry(y[::-1] if flip else y, x, periodic=False, projected=True)
            return _Layout(da[ycand].dims[0], da[xcand].dims[0], geo, flip)
    raise CoordinateError(
        f"cannot find latitude/longitude (or projected x/y in metres) on {da.name!r}; "
        "pass `lat=` and `lon=` with the coordinate names"
    )


def _wrap(values_fn, inputs: list[xr.DataArray], lay: _Layout, core_extra=(), n_out=1):
    """Run ``values_fn`` on arrays (..., [time,] ny, nx) with ascending latitudes."""
    core = [*core_extra, lay.ydim, lay.xdim]

    def fn(*arrays):
        if lay.flip:
            arrays = [a[..., ::-1, :] for a in arrays]
        res = values_fn(*arrays)
        res = res if isinstance(res, tuple) else (res,)
        if lay.flip:
            res = tuple(np.ascontiguousarray(r[..., ::-1, :]) for r in res)
        return res if n_out > 1 else res[0]

    for a in inputs:
        if a.chunks is not None:
            for d in core:
                if d in a.dims and len(a.chunksizes[d]) > 1:
                    raise GridError(
                        f"{a.name!r} is chunked along {d!r}; the stencils need it in one chunk: "
                        f"`.chunk({{{d!r}: -1}})` (chunk along other dimensions instead)"
                    )
    out_dtype = np.result_type(*[a.dtype for a in inputs], np.float32)
    return xr.apply_ufunc(
        fn, *inputs,
        input_core_dims=[core] * len(inputs),
        output_core_dims=[core] * n_out,
        dask="parallelized",
        output_dtypes=[out_dtype] * n_out,
        keep_attrs=False,
    )


def _si(da: xr.DataArray, units: str, name: str) -> xr.DataArray:
    """``da`` converted to ``units`` (values only; dims, coords and chunks kept)."""
    src = xu.units_of(da, name=name)
    ureg = xu.registry()
    try:
        offset = ureg.Quantity(0.0, src).to(units).magnitude  # non-zero for degC -> K
        factor = ureg.Quantity(1.0, src).to(units).magnitude - offset
    except Exception as err:  # pint.DimensionalityError
        raise xu.UnitsError(f"{name!r} has units {src:~} which cannot be converted to {units!r}") from err
    out = da * factor + offset if (factor != 1.0 or offset) else da
    return out.astype(np.result_type(da.dtype, np.float32))


def _base_units(da: xr.DataArray, name: str):
    """SI unit of the field (temperatures in K) and the DataArray converted to it."""
    ureg = xu.registry()
    src = xu.units_of(da, name=name)
    base = ureg.Quantity(1.0, src).to_base_units().units
    if "degree_Celsius" in str(src) or "degree_Fahrenheit" in str(src):
        base = ureg.kelvin
    return base, _si(da, str(base), name)


def gradient(c: xr.DataArray, *, lat: str | None = None, lon: str | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """Horizontal gradient ``(dc/dx, dc/dy)`` on the sphere (or a projected grid).

    ``dc/dx = (c[i+1] - c[i-1]) / (2 a cos(phi) dlambda)``, ``dc/dy`` by centred
    differences in ``y = a phi``; one-sided on regional edges; periodic in longitude
    when the grid wraps; NaN on rows exactly at a pole (zonal part).

    Parameters
    ----------
    c : DataArray (..., lat, lon) with ``units``

    Returns
    -------
    (DataArray, DataArray)
        Same dims as ``c``; units of ``c`` per metre.

    Raises
    ------
    UnitsError, CoordinateError, GridError
    """
    lay = _layout(c, lat, lon)
    base, cs = _base_units(c, c.name or "c")
    gx, gy = _wrap(lambda a: st.gradient(a, lay.geo), [cs], lay, n_out=2)
    u = xu.cf_string(base / xu.registry().meter)
    out = []
    for g, axis in ((gx, "eastward"), (gy, "northward")):
        g = g.transpose(*c.dims).rename(f"{c.name or 'c'}_{axis}_derivative")
        g.attrs = {"units": u, "long_name": f"{axis} derivative of {c.attrs.get('long_name', c.name or 'c')}"}
        out.append(g)
    return tuple(out)


def laplacian(c: xr.DataArray, *, lat: str | None = None, lon: str | None = None) -> xr.DataArray:
    """Spherical laplacian ``1/(a^2 cos^2 phi) c_lambda,lambda + 1/(a^2 cos phi) (cos phi c_phi)_phi``.

    Flux (conservative) form; zero meridional flux through the poles; NaN on the edge
    rows/columns of a regional grid. Second-order accurate: a spherical harmonic
    ``Y_l^m`` gives ``-l(l+1)/a^2 Y_l^m`` up to ``O(dphi^2)``.

    Returns
    -------
    DataArray
        Same dims as ``c``; units of ``c`` per square metre.
    """
    lay = _layout(c, lat, lon)
    base, cs = _base_units(c, c.name or "c")
    out = _wrap(lambda a: st.laplacian(a, lay.geo), [cs], lay)
    out = out.transpose(*c.dims).rename(f"{c.name or 'c'}_laplacian")
    out.attrs = {"units": xu.cf_string(base / xu.registry().meter ** 2), "long_name": f"laplacian of {c.attrs.get('long_name', c.name or 'c')}"}
    return out


def _winds(c, u, v):
    """Winds in m/s, on exactly the grid of ``c`` and in its dimension order."""
    us = _si(u, "m/s", u.name or "u")
    vs = _si(v, "m/s", v.name or "v")
    try:
        c2, us, vs = xr.align(c, us, vs, join="exact")
    except ValueError as err:
        raise GridError(
            f"winds {u.name!r}/{v.name!r} are not on the grid of {c.name!r}; interpolate them with `.interp_like(c)`"
        ) from err
    return us.transpose(*c.dims), vs.transpose(*c.dims)


def advection(c: xr.DataArray, u: xr.DataArray, v: xr.DataArray, *, lat: str | None = None, lon: str | None = None) -> xr.DataArray:
    """Advection ``u dc/dx + v dc/dy`` (the sign of the transport term; MetPy returns minus this).

    Parameters
    ----------
    c, u, v : DataArray (..., lat, lon)
        Field and eastward/northward wind (any speed units) on the same grid.

    Returns
    -------
    DataArray
        Units of ``c`` per second.
    """
    lay = _layout(c, lat, lon)
    base, cs = _base_units(c, c.name or "c")
    us, vs = _winds(c, u, v)
    out = _wrap(lambda a, b, d: st.advection(a, b, d, lay.geo), [cs, us, vs], lay)
    out = out.transpose(*c.dims).rename(f"{c.name or 'c'}_advection")
    out.attrs = {"units": xu.cf_string(base / xu.registry().second), "long_name": f"advection of {c.attrs.get('long_name', c.name or 'c')} (u.grad c)"}
    return out


def _time_seconds(c: xr.DataArray, time: str) -> np.ndarray:
    if time not in c.coords:
        raise CoordinateError(f"{c.name!r} has no time coordinate {time!r}; pass `time=` with its name")
    t = c[time]
    if np.issubdtype(t.dtype, np.datetime64):
        return (t.values - t.values[0]) / np.timedelta64(1, "s")
    if t.dtype == object:  # cftime
        return np.array([(x - t.values[0]).total_seconds() for x in t.values])
    if "units" not in t.attrs:
        raise CoordinateError(f"time coordinate {time!r} is numeric without units; set e.g. `c[{time!r}].attrs['units'] = 'hours'`")
    return xu.magnitude(t, "s", name=time)


def advection_diffusion_residual(
    c: xr.DataArray,
    u: xr.DataArray,
    v: xr.DataArray,
    kappa=0.0,
    *,
    time: str = "time",
    lat: str | None = None,
    lon: str | None = None,
) -> xr.DataArray:
    """Residual of the advection-diffusion equation ``R = dc/dt + u.grad(c) - kappa lap(c)``.

    The tendency is a centred difference along ``time`` (datetime, cftime, or numeric
    with units), one-sided at the first and last time; the spatial terms are those of
    :func:`advection` and :func:`laplacian`, fused in one numba pass that reads each
    input once. ``R`` is zero for a field exactly advected and diffused.

    Parameters
    ----------
    c, u, v : DataArray (time, ..., lat, lon)
    kappa : float, str or pint quantity
        Diffusivity; a number is in m2 s-1 (``"1e5 m2/s"`` also works).
    time : str
        Name of the time dimension.

    Returns
    -------
    DataArray
        Units of ``c`` per second.

    References
    ----------
    The PDE-informed downscaling loss of arXiv 2510.23866 (section 3), with explicit winds.
    """
    lay = _layout(c, lat, lon)
    k = xu.to_quantity(kappa, "m**2/s", name="kappa")
    if time not in c.dims:
        raise CoordinateError(f"{c.name!r} has no dimension {time!r}; pass `time=` with the name of its time dimension")
    ts = _time_seconds(c, time)
    base, cs = _base_units(c, c.name or "c")
    us, vs = _winds(c, u, v)

    def kernel(a, b, d):
        # a: (..., time, ny, nx): loop over leading dims
        out = np.empty_like(a)
        for idx in np.ndindex(a.shape[:-3]):
            out[idx] = st.advection_diffusion_residual(a[idx], b[idx], d[idx], k, ts, lay.geo)
        return out

    out = _wrap(kernel, [cs, us, vs], lay, core_extra=(time,))
    out = out.transpose(*c.dims).rename(f"{c.name or 'c'}_advection_diffusion_residual")
    out.attrs = {"units": xu.cf_string(base / xu.registry().second),
                 "long_name": f"advection-diffusion residual of {c.attrs.get('long_name', c.name or 'c')}",
                 "kappa": f"{k} m2 s-1"}
    return out


def effective_diffusivity(c: xr.DataArray, u: xr.DataArray, v: xr.DataArray, *, time: str = "time",
                          lat: str | None = None, lon: str | None = None, dim=None) -> xr.DataArray:
    """Least-squares diffusivity that best closes ``dc/dt + u.grad(c) = kappa lap(c)``.

    ``kappa = sum(T L) / sum(L^2)`` with ``T = dc/dt + u.grad(c)`` (the residual at
    ``kappa = 0``) and ``L = lap(c)``, over all finite points (or over ``dim``).
    A negative value means the transport residual is anti-correlated with the
    laplacian: unresolved sources/sinks dominate and no diffusion closes the budget.

    Returns
    -------
    DataArray
        ``kappa`` in m2 s-1.
    """
    tend = advection_diffusion_residual(c, u, v, 0.0, time=time, lat=lat, lon=lon)
    lap = laplacian(c, lat=lat, lon=lon)
    ok = np.isfinite(tend) & np.isfinite(lap)
    k = (tend * lap).where(ok).sum(dim) / (lap**2).where(ok).sum(dim)
    k.attrs = {"units": "m2 s-1", "long_name": "effective diffusivity (least squares)"}
    return k.rename("kappa")


def _wind_pair(u: xr.DataArray, v: xr.DataArray, lat, lon):
    lay = _layout(u, lat, lon)
    us, vs = _winds(u, u, v)  # v on the grid of u, both in m/s
    return lay, us, vs


def divergence(u: xr.DataArray, v: xr.DataArray, *, lat: str | None = None, lon: str | None = None) -> xr.DataArray:
    """Horizontal divergence ``1/(a cos phi) [du/dlambda + d(v cos phi)/dphi]`` in s-1.

    Centred differences as :func:`gradient` (same edges and poles). Winds in any speed units.
    """
    lay, us, vs = _wind_pair(u, v, lat, lon)
    out = _wrap(lambda a, b: st.divergence(a, b, lay.geo), [us, vs], lay).transpose(*u.dims).rename("divergence")
    out.attrs = {"units": "s-1", "standard_name": "divergence_of_wind", "long_name": "horizontal divergence"}
    return out


def vorticity(u: xr.DataArray, v: xr.DataArray, *, lat: str | None = None, lon: str | None = None) -> xr.DataArray:
    """Relative vorticity ``1/(a cos phi) [dv/dlambda - d(u cos phi)/dphi]`` in s-1.

    Solid-body rotation ``u = U cos(phi)`` gives ``2 U sin(phi) / a`` (tested).
    """
    lay, us, vs = _wind_pair(u, v, lat, lon)
    out = _wrap(lambda a, b: st.vorticity(a, b, lay.geo), [us, vs], lay).transpose(*u.dims).rename("vorticity")
    out.attrs = {"units": "s-1", "standard_name": "atmosphere_relative_vorticity", "long_name": "relative vorticity"}
    return out


def geostrophic_residual(z: xr.DataArray, u: xr.DataArray, v: xr.DataArray, *, min_lat: float = 15.0,
                         lat: str | None = None, lon: str | None = None) -> xr.Dataset:
    """Departure of the wind from geostrophic balance: ``u + (g/f) dz/dy``, ``v - (g/f) dz/dx``.

    Parameters
    ----------
    z : DataArray
        Geopotential height (length units) or geopotential (m2 s-2, divided by g).
    u, v : DataArray
        Wind on the same grid and level.
    min_lat : float
        Latitudes closer to the equator than this (degrees) are NaN: ``f -> 0`` there.

    Returns
    -------
    Dataset with ``u_ageostrophic`` and ``v_ageostrophic`` (m s-1).
    """
    lay = _layout(z, lat, lon)
    try:
        zs = _si(z, "m", z.name or "z")
    except xu.UnitsError:
        zs = _si(z, "m**2/s**2", z.name or "z") / st.GRAVITY
    us, vs = _winds(zs, u, v)
    ua, va = _wrap(lambda a, b, c: st.geostrophic_residual(a, b, c, lay.geo, min_lat), [zs, us, vs], lay, n_out=2)
    out = xr.Dataset({"u_ageostrophic": ua.transpose(*z.dims), "v_ageostrophic": va.transpose(*z.dims)})
    for k in out:
        out[k].attrs = {"units": "m s-1", "long_name": f"{k[0]}-wind minus geostrophic wind (f = 2 Omega sin(lat), |lat| >= {min_lat})"}
    return out
