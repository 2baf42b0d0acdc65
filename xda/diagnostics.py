"""Physics diagnostics on labeled fields: gradient, laplacian, advection, residuals.

Each function is a numerics kernel (:mod:`xda.numerics.stencils`, plain arrays in SI)
declared through :func:`xda.labeled.ops.grid_op`, the one labeled path: it finds the
horizontal grid (cf-xarray; ``lat=``/``lon=`` overrides; latitudes in either order;
longitudes 0..360, -180..180 or with a cyclic point; projected ``x``/``y`` in metres),
folds unit conversions into the kernels, writes into a single output (``out=`` to reuse
one), and returns DataArrays with the input's dims and coordinates, CF units and a
``long_name`` (pint-quantified output for pint-quantified input). Dask inputs stay lazy
and may be chunked along any dimension (one-cell halos). A Dataset applies the
operation to each variable on the grid with units.

Sign convention: ``advection`` is ``u dc/dx + v dc/dy``, the transport term on the
left of ``dc/dt + u.grad(c) = kappa lap(c)``; MetPy's ``advection`` returns
``-u.grad(c)``, the tendency due to advection.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import CoordinateError
from .labeled import units as xu
from .labeled.ops import grid_op
from .numerics import stencils as st

_WIND = {"u": "m/s", "v": "m/s"}
#: kappa: a diffusivity, >= 0 (0: advection only).
_KAPPA = ("m**2/s", 0.0, 0.0, None, "a diffusivity cannot be negative: pass e.g. kappa='1e5 m2/s', or kappa=0 for none")
#: min_lat: degrees poleward of the equator, 0 <= min_lat < 90.
_MIN_LAT = ("degree", 15.0, 0.0, 90.0, "pass the latitude in degrees equatorward of which f is too small for "
            "geostrophy, 0 <= min_lat < 90 (e.g. min_lat=15)")


@grid_op(fields={"c": "field"}, output=lambda ureg, c: c / ureg.meter,
         names=("{c}_eastward_derivative", "{c}_northward_derivative"),
         long_names=("eastward derivative of {c}", "northward derivative of {c}"))
def gradient(geo, c, *, scales, out=None):
    """Horizontal gradient ``(dc/dx, dc/dy)`` on the sphere (or a projected grid).

    ``dc/dx = (c[i+1] - c[i-1]) / (2 a cos(phi) dlambda)``, ``dc/dy`` by centred
    differences in ``y = a phi``; one-sided on regional edges; periodic in longitude
    when the grid wraps; NaN on rows exactly at a pole (zonal part).

    Parameters
    ----------
    c : DataArray (..., lat, lon) with units, or Dataset
    lat, lon : str, optional
        Coordinate names where cf-xarray cannot find them.
    out : tuple of two ndarrays, optional
        C-contiguous arrays (shape and dtype of ``c``) to write into.

    Returns
    -------
    (DataArray, DataArray)
        Same dims as ``c``; SI units of ``c`` per metre (a Dataset for a Dataset).

    Raises
    ------
    UnitsError, CoordinateError
    GridError
        Also for latitudes or longitudes not strictly monotonic (with the fix), or fewer
        than 2 of them (2 give one-sided differences).
    """
    return st.gradient(c, geo, scales[0], out=out)


@grid_op(fields={"c": "field"}, output=lambda ureg, c: c / ureg.meter**2, min_points=3,
         names=("{c}_laplacian",), long_names=("laplacian of {c}",))
def laplacian(geo, c, *, scales, out=None):
    """Spherical laplacian ``1/(a^2 cos^2 phi) c_lambda,lambda + 1/(a^2 cos phi) (cos phi c_phi)_phi``.

    Flux (conservative) form; zero meridional flux through the poles; NaN on the edge
    rows/columns of a regional grid. Second-order accurate: a spherical harmonic
    ``Y_l^m`` gives ``-l(l+1)/a^2 Y_l^m`` up to ``O(dphi^2)``.

    Parameters
    ----------
    c : DataArray (..., lat, lon) with units, or Dataset
    lat, lon : str, optional
    out : ndarray, optional

    Returns
    -------
    DataArray
        Same dims as ``c``; SI units of ``c`` per square metre.

    Raises
    ------
    UnitsError, CoordinateError
    GridError
        Also for fewer than 3 latitudes or longitudes (the stencil needs a neighbour
        on each side).
    """
    return st.laplacian(c, geo, scales[0], out=out)


@grid_op(fields={"c": "field", **_WIND}, output=lambda ureg, c: c / ureg.second,
         names=("{c}_advection",), long_names=("advection of {c} (-u.grad c)",))
def advection(geo, c, u, v, *, scales, out=None):
    """Advection of ``c``: ``-(u dc/dx + v dc/dy)``, the tendency of ``c`` due to transport.

    The meteorological sign, as in MetPy's ``metpy.calc.advection`` (warm advection is
    positive): ``dc/dt = advection(c) + kappa lap(c)`` for a field advected and diffused.
    The advection-diffusion residual subtracts it (:func:`advection_diffusion_residual`).

    Parameters
    ----------
    c, u, v : DataArray (..., lat, lon)
        Field and eastward/northward wind (any speed units) on the same grid; ``c`` may
        be a Dataset (then ``u``/``v`` may be variable names).
    lat, lon : str, optional
    out : ndarray, optional

    Returns
    -------
    DataArray
        SI units of ``c`` per second.

    Raises
    ------
    UnitsError, CoordinateError, GridError

    References
    ----------
    Holton & Hakim (2013), An Introduction to Dynamic Meteorology, 5th ed., sect. 2.5;
    MetPy ``metpy.calc.advection`` (same sign, tested).
    """
    res = st.advection(c, u, v, geo, *scales, out=out)  # the kernel: the transport term u.grad(c)
    return np.negative(res, out=res)


@grid_op(fields={"c": "field", **_WIND}, output=lambda ureg, c: c / ureg.second, tendency=True,
         params={"kappa": _KAPPA}, min_points=3,
         names=("{c}_advection_diffusion_residual",), long_names=("advection-diffusion residual of {c}",))
def advection_diffusion_residual(geo, c, u, v, *, scales, time_s, kappa=0.0, out=None):
    """Residual of the advection-diffusion equation ``R = dc/dt + u.grad(c) - kappa lap(c)``.

    The tendency is a centred difference along ``time`` (datetime64; cftime in any
    calendar, differenced exactly; numbers with CF units ``hours since ...`` or duration
    units ``hours``), one-sided at the first and last time; the
    spatial terms are minus :func:`advection` and :func:`laplacian`, fused in one
    numba pass that reads each input once. ``R`` is zero for a field exactly advected
    and diffused.

    Parameters
    ----------
    c, u, v : DataArray (..., time, ..., lat, lon)
    kappa : float, str or pint quantity
        Diffusivity ``>= 0``; a number is in m2 s-1 (``"1e5 m2/s"`` also works).
    time : str
        Name of the time dimension: at least 2 times, no repeats, monotonic.
    lat, lon : str, optional
    out : ndarray, optional
        Written into when the dims are ordered (..., time, lat, lon).

    Returns
    -------
    DataArray
        SI units of ``c`` per second.

    Raises
    ------
    ParameterError
        ``kappa`` negative or not finite.
    CoordinateError
        No time dimension or coordinate, or times that cannot be decoded.
    GridError
        Fewer than 2 times, repeated or unsorted times (the message says
        ``drop_duplicates``/``sortby``), fewer than 3 latitudes or longitudes, or
        inputs on different grids.
    UnitsError

    References
    ----------
    The PDE-informed downscaling loss of arXiv 2510.23866 (section 3), with explicit winds.
    """
    shape = c.shape
    nt, ny, nx = shape[-3:]
    c4, u4, v4 = (a.reshape(-1, nt, ny, nx) for a in (c, u, v))
    dtype = st.work_dtype(c.dtype)
    res = np.empty(c4.shape, dtype) if out is None else st.check_out(out, shape, dtype).reshape(c4.shape)
    for k in range(c4.shape[0]):
        st.advection_diffusion_residual(c4[k], u4[k], v4[k], kappa, time_s, geo, out=res[k], scale=scales[0],
                                        u_scale=scales[1], v_scale=scales[2])
    return res.reshape(shape)


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
        ``kappa`` in m2 s-1; NaN (with an :class:`~xda.errors.XdaWarning`) where the
        laplacian is zero at every finite point (e.g. a constant or linear field), which
        leaves ``kappa`` undetermined.

    Raises
    ------
    GridError
        Fewer than 2 times, repeated or unsorted times, fewer than 3 latitudes or
        longitudes.
    CoordinateError, UnitsError
        As :func:`advection_diffusion_residual`.
    """
    _check_dims(dim, c, "effective_diffusivity")
    tend = advection_diffusion_residual(c, u, v, 0.0, time=time, lat=lat, lon=lon)
    lap = laplacian(c, lat=lat, lon=lon)
    ok = np.isfinite(tend) & np.isfinite(lap)
    den = (lap**2).where(ok).sum(dim)
    if bool((den == 0).any()):
        import warnings

        from .errors import XdaWarning

        warnings.warn(f"the laplacian of {c.name!r} is zero at every finite point ({int((den == 0).sum())} of "
                      f"{den.size} value(s) of kappa): no diffusivity is determined there (NaN); a constant or linear "
                      "field has no curvature to diffuse", XdaWarning, stacklevel=2)
    k = (tend * lap).where(ok).sum(dim) / den.where(den > 0)
    k.attrs = {"units": "m2 s-1", "long_name": "effective diffusivity (least squares)"}
    return k.rename("kappa")


def _check_dims(dim, da: xr.DataArray, op_name: str) -> None:
    """CoordinateError naming ``dim`` (and a close match) unless each of its names is a dimension of ``da``."""
    import difflib

    for d in [] if dim is None else [dim] if isinstance(dim, str) else list(dim):
        if d not in da.dims:
            close = difflib.get_close_matches(str(d), [str(x) for x in da.dims], n=1)
            raise CoordinateError(f"{op_name}(dim={dim!r}): {d!r} is not a dimension of {getattr(da, 'name', None) or 'c'!r} "
                                  f"(its dims are {tuple(da.dims)})" + (f"; did you mean {close[0]!r}?" if close else
                                                                 "; pass dim= with some of them, or None for all"))


@grid_op(fields=dict(_WIND), output=lambda ureg, c: 1 / ureg.second, per_variable=False,
         names=("divergence",), long_names=("horizontal divergence",))
def divergence(geo, u, v, *, scales, out=None):
    """Horizontal divergence ``1/(a cos phi) [du/dlambda + d(v cos phi)/dphi]`` in s-1.

    Centred differences as :func:`gradient` (same edges and poles). Winds in any speed
    units, on the same grid.

    Returns
    -------
    DataArray (s-1), same dims as ``u``.
    """
    return st.divergence(u, v, geo, *scales)


@grid_op(fields=dict(_WIND), output=lambda ureg, c: 1 / ureg.second, per_variable=False,
         names=("vorticity",), long_names=("relative vorticity",))
def vorticity(geo, u, v, *, scales, out=None):
    """Relative vorticity ``1/(a cos phi) [dv/dlambda - d(u cos phi)/dphi]`` in s-1.

    Solid-body rotation ``u = U cos(phi)`` gives ``2 U sin(phi) / a`` (tested).

    Returns
    -------
    DataArray (s-1), same dims as ``u``.
    """
    return st.vorticity(u, v, geo, *scales)


@grid_op(fields={"z": "m", **_WIND}, output=lambda ureg, c: ureg.meter / ureg.second, per_variable=False,
         params={"min_lat": _MIN_LAT}, names=("u_ageostrophic", "v_ageostrophic"),
         long_names=("u-wind minus geostrophic wind", "v-wind minus geostrophic wind"))
def _ageostrophic(geo, z, u, v, *, scales, min_lat=15.0, out=None):
    return st.geostrophic_residual(z, u, v, geo, min_lat, *scales)


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
        Latitudes closer to the equator than this (degrees, ``0 <= min_lat < 90``) are
        NaN: ``f -> 0`` there (the equator itself is always NaN).

    Returns
    -------
    Dataset with ``u_ageostrophic`` and ``v_ageostrophic`` (m s-1), f = 2 Omega sin(lat).

    Raises
    ------
    ParameterError
        ``min_lat`` outside ``[0, 90)``.
    UnitsError, CoordinateError, GridError
    """
    if xu.units_of(z, name=str(z.name or "z")).dimensionality == xu.registry().Unit("m**2/s**2").dimensionality:
        z = z / st.GRAVITY  # geopotential -> height (xarray keeps pint quantities)
        z.attrs["units"] = "m"
    ua, va = _ageostrophic(z, u, v, min_lat=min_lat, lat=lat, lon=lon)
    for a in (ua, va):
        a.attrs["long_name"] += f" (f = 2 Omega sin(lat), |lat| >= {min_lat})"
    return xr.Dataset({"u_ageostrophic": ua, "v_ageostrophic": va})
