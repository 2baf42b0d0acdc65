"""Finite-difference operators on a regular latitude-longitude sphere (numba kernels).

Plain arrays in SI units; the last two axes are (lat, lon). Grid geometry
(:class:`Geometry`) holds per-row coefficients, so every kernel is a single pass over
the field. Conventions (``a`` Earth radius, ``phi`` latitude, ``lambda`` longitude,
``x = a cos(phi) lambda``, ``y = a phi``):

* gradient: ``dc/dx = (c[i+1] - c[i-1]) / (2 a cos(phi) dlambda)``,
  ``dc/dy = (c[j+1] - c[j-1]) / (y[j+1] - y[j-1])``; one-sided first differences on
  the edges of a regional grid; periodic in longitude when the grid wraps.
* laplacian (flux form, conservative):
  ``1/(a^2 cos^2 phi) d2c/dlambda2 + 1/(a^2 cos phi) d/dphi(cos phi dc/dphi)``,
  with the meridional flux through the poles taken as zero (``cos(+-90) = 0``);
  NaN on the edge rows/columns of a regional grid, where the stencil is incomplete.
* advection: ``u dc/dx + v dc/dy`` (the transport term as it appears on the left of
  ``dc/dt + u.grad(c) = ...``; MetPy's ``advection`` returns the opposite sign).
* advection-diffusion residual: ``R = dc/dt + u dc/dx + v dc/dy - kappa lap(c)``.

Rows exactly at a pole (``cos(phi) = 0``) have no zonal derivative: NaN there.
NaNs propagate only to the stencil neighbours that read them.

Latitudes may ascend or descend: the per-row coefficients carry the sign of the
spacing, so a north-first field is differenced in place, never flipped. Longitudes
wrap in one of three ways (:attr:`Geometry.wrap`): not at all (regional), periodically
(``nx * dlon = 360``), or periodically with a cyclic point (the last column repeats
the first, ``(nx - 1) * dlon = 360``). Unit conversions are folded into the per-row
coefficients (``scale`` arguments), so the kernels read the caller's arrays as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np

from ..errors import ParameterError
from .constants import EARTH_RADIUS, GRAVITY, OMEGA  # noqa: F401

#: LLVM fast-math flags that allow vectorisation (contraction, reassociation) but keep
#: IEEE NaN/inf semantics, so that NaNs still propagate locally.
_FASTMATH = {"contract", "reassoc", "arcp", "nsz"}


@dataclass(frozen=True)
class Geometry:
    """Per-row finite-difference coefficients of a lat-lon grid (all float64, SI).

    Build with :func:`geometry`.
    """

    inv_2dx: np.ndarray  # (ny,) 1 / (2 a cos(phi) dlambda); NaN at the poles
    inv_dx2: np.ndarray  # (ny,) 1 / (a cos(phi) dlambda)^2
    inv_dy_c: np.ndarray  # (ny,) 1 / (y[j+1] - y[j-1]); one-sided 1/(y1-y0) on edges
    lap_n: np.ndarray  # (ny,) weight of c[j+1] in the meridional laplacian
    lap_s: np.ndarray  # (ny,) weight of c[j-1]
    periodic: bool
    regional_lat: bool  # True: edge rows are grid edges (NaN laplacian), not poles
    cos_lat: np.ndarray  # (ny,) cos(phi); 1 on projected grids
    sin_lat: np.ndarray  # (ny,) sin(phi); NaN on projected grids
    cyclic_point: bool = False  # the last column repeats the first (periodic grids only)

    @property
    def wrap(self) -> int:
        """0: regional in longitude; 1: periodic; 2: periodic with a cyclic point."""
        return 2 if self.cyclic_point else int(self.periodic)

    def rows(self, start: int, stop: int) -> "Geometry":
        """The coefficients of rows ``start:stop`` (for a block of a chunked field)."""
        sl = slice(start, stop)
        return replace(self, inv_2dx=self.inv_2dx[sl], inv_dx2=self.inv_dx2[sl], inv_dy_c=self.inv_dy_c[sl],
                       lap_n=self.lap_n[sl], lap_s=self.lap_s[sl], cos_lat=self.cos_lat[sl], sin_lat=self.sin_lat[sl])

    def columns_unwrapped(self) -> "Geometry":
        """The same rows, not wrapping in longitude (for blocks that carry their own halo)."""
        return replace(self, periodic=False, cyclic_point=False)


def _check_axes(lat: np.ndarray, lon: np.ndarray, projected: bool) -> None:
    """ValueError unless ``lat`` is strictly monotonic and ``lon`` evenly increasing (mod 360 on the sphere)."""
    if lat.ndim != 1 or lon.ndim != 1 or lat.size < 2 or lon.size < 2:
        raise ValueError(f"need 1-D coordinates of at least 2 points, got lat {lat.shape} and lon {lon.shape}")
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ValueError("latitudes and longitudes must be finite")
    dlat = np.diff(lat)
    if not (np.all(dlat > 0) or np.all(dlat < 0)) or (not projected and np.abs(lat).max() > 90 + 1e-9):
        raise ValueError("latitudes must be strictly monotonic (no repeats) and within [-90, 90]")
    dlon = np.diff(lon) if projected else np.mod(np.diff(lon), 360.0)
    if not (dlon[0] > 0 and np.allclose(dlon, dlon[0], rtol=1e-4, atol=1e-6)):
        raise ValueError("longitudes must increase in even steps (modulo 360): sort them, without repeats")


def geometry(lat_deg: np.ndarray, lon_deg: np.ndarray, periodic: bool, radius: float = EARTH_RADIUS,
             projected: bool = False, cyclic_point: bool = False) -> Geometry:
    """Coefficients for a grid with monotonic latitudes ``lat_deg`` and even longitudes.

    ``projected=True`` treats ``lat_deg``/``lon_deg`` as y/x in metres (no sphere).
    ``cyclic_point=True``: a periodic grid whose last column repeats the first.
    ValueError for other grids (:func:`_check_axes`).
    """
    lat = np.asarray(lat_deg, np.float64)
    lon = np.asarray(lon_deg, np.float64)
    _check_axes(lat, lon, projected)
    ny = lat.size
    if projected:
        y = lat
        dx = np.full(ny, lon[1] - lon[0])
        cos_c = np.ones(ny)
        cos_half = np.ones(ny + 1)
        regional = True
    else:
        phi = np.deg2rad(lat)
        y = radius * phi
        dlam = np.deg2rad(lon[1] - lon[0])
        cos_c = np.cos(phi)
        cos_c[np.isclose(np.abs(lat), 90.0)] = 0.0
        dx = radius * cos_c * dlam
        # latitudes of the cell faces: midpoints, and the poles beyond the edge rows
        # of a global grid (zero meridional flux there)
        south, north = (0, -1) if lat[-1] > lat[0] else (-1, 0)
        step = max(abs(lat[1] - lat[0]), abs(lat[-1] - lat[-2]))
        regional = not periodic or lat[south] > -90 + 1.5 * step or lat[north] < 90 - 1.5 * step
        faces = np.concatenate([[-90.0], 0.5 * (lat[1:] + lat[:-1]), [90.0]])
        cos_half = np.cos(np.deg2rad(faces))
        cos_half[[0, -1]] = 0.0
    with np.errstate(divide="ignore"):
        inv_2dx = np.where(dx > 0, 1.0 / (2 * dx), np.nan)
        inv_dx2 = np.where(dx > 0, 1.0 / dx**2, np.nan)
    inv_dy_c = np.empty(ny)
    inv_dy_c[1:-1] = 1.0 / (y[2:] - y[:-2])
    inv_dy_c[0] = 1.0 / (y[1] - y[0])
    inv_dy_c[-1] = 1.0 / (y[-1] - y[-2])
    lap_n = np.zeros(ny)
    lap_s = np.zeros(ny)
    # flux form: [cos_{j+1/2} (c_{j+1}-c_j)/dy_+ - cos_{j-1/2} (c_j-c_{j-1})/dy_-] / (cos_j * cell height)
    y_face = np.concatenate([[y[0] - 0.5 * (y[1] - y[0])], 0.5 * (y[1:] + y[:-1]), [y[-1] + 0.5 * (y[-1] - y[-2])]])
    if not projected and not regional:
        pole = radius * np.pi / 2 * np.sign(y[-1] - y[0])
        y_face[0], y_face[-1] = -pole, pole
    height = y_face[1:] - y_face[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.where(cos_c > 0, cos_c * height, np.nan)
        lap_n[:-1] = cos_half[1:-1] / (y[1:] - y[:-1]) / denom[:-1]
        lap_s[1:] = cos_half[1:-1] / (y[1:] - y[:-1]) / denom[1:]
    sin_c = np.full(ny, np.nan) if projected else np.sin(np.deg2rad(lat))
    return Geometry(inv_2dx, inv_dx2, inv_dy_c, lap_n, lap_s, bool(periodic), bool(regional), cos_c, sin_c,
                    bool(periodic and cyclic_point))


@numba.njit(cache=True, fastmath=_FASTMATH)
def _lat(j, ny):
    if j == 0:
        return 0, 1
    if j == ny - 1:
        return ny - 2, ny - 1
    return j - 1, j + 1


@numba.njit(cache=True, fastmath=_FASTMATH)
def _ends(nx, wrap):
    """West/east neighbours and centred-difference factor of the first and last column."""
    if wrap == 1:
        return nx - 1, 1, 1.0, nx - 2, 0, 1.0
    if wrap == 2:  # cyclic point: column nx-1 is column 0
        return nx - 2, 1, 1.0, nx - 2, 1, 1.0
    return 0, 1, 2.0, nx - 2, nx - 1, 2.0


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _gradient(c, inv_2dx, inv_dy_c, wrap, gx, gy):
    nt, ny, nx = c.shape
    for k in numba.prange(nt * ny):
        t, j = k // ny, k % ny
        js, jn = _lat(j, ny)
        cj, cn, cs = c[t, j], c[t, jn], c[t, js]
        ax, ay = inv_2dx[j], inv_dy_c[j]
        ox, oy = gx[t, j], gy[t, j]
        for i in range(1, nx - 1):
            ox[i] = (cj[i + 1] - cj[i - 1]) * ax
            oy[i] = (cn[i] - cs[i]) * ay
        w0, e0, f0, w1, e1, f1 = _ends(nx, wrap)
        gx[t, j, 0] = (cj[e0] - cj[w0]) * ax * f0
        gx[t, j, nx - 1] = (cj[e1] - cj[w1]) * ax * f1
        gy[t, j, 0] = (cn[0] - cs[0]) * ay
        gy[t, j, nx - 1] = (cn[nx - 1] - cs[nx - 1]) * ay


@numba.njit(cache=True, fastmath=_FASTMATH)
def _row_lap(cj, cn, cs, lx, ln, ls, i, iw, ie):
    cc = cj[i]
    return (cj[ie] - 2.0 * cc + cj[iw]) * lx + ln * (cn[i] - cc) + ls * (cs[i] - cc)


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _laplacian(c, inv_dx2, lap_n, lap_s, wrap, regional, out):
    nt, ny, nx = c.shape
    for k in numba.prange(nt * ny):
        t, j = k // ny, k % ny
        js, jn = _lat(j, ny)
        cj, cn, cs, o = c[t, j], c[t, jn], c[t, js], out[t, j]
        lx, ln, ls = inv_dx2[j], lap_n[j], lap_s[j]
        lapnan = np.nan if regional and (j == 0 or j == ny - 1) else 0.0
        for i in range(1, nx - 1):
            o[i] = _row_lap(cj, cn, cs, lx, ln, ls, i, i - 1, i + 1) + lapnan
        w0, e0, f0, w1, e1, f1 = _ends(nx, wrap)
        edge = lapnan if wrap > 0 else np.nan
        out[t, j, 0] = _row_lap(cj, cn, cs, lx, ln, ls, 0, w0, e0) + edge
        out[t, j, nx - 1] = _row_lap(cj, cn, cs, lx, ln, ls, nx - 1, w1, e1) + edge


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _advection(c, u, v, inv_2dx_u, inv_dy_v, wrap, out):
    nt, ny, nx = c.shape
    for k in numba.prange(nt * ny):
        t, j = k // ny, k % ny
        js, jn = _lat(j, ny)
        cj, cn, cs, uj, vj, o = c[t, j], c[t, jn], c[t, js], u[t, j], v[t, j], out[t, j]
        ax, ay = inv_2dx_u[j], inv_dy_v[j]
        for i in range(1, nx - 1):
            o[i] = uj[i] * (cj[i + 1] - cj[i - 1]) * ax + vj[i] * (cn[i] - cs[i]) * ay
        w0, e0, f0, w1, e1, f1 = _ends(nx, wrap)
        out[t, j, 0] = uj[0] * (cj[e0] - cj[w0]) * ax * f0 + vj[0] * (cn[0] - cs[0]) * ay
        out[t, j, nx - 1] = uj[nx - 1] * (cj[e1] - cj[w1]) * ax * f1 + vj[nx - 1] * (cn[nx - 1] - cs[nx - 1]) * ay


@numba.njit(cache=True, fastmath=_FASTMATH)
def _res_point(cj, cn, cs, cp, cm, uj, vj, i, iw, ie, f, idt, ax, ay, lx, ln, ls, kappa, lapnan):
    cc = cj[i]
    lap = (cj[ie] - 2.0 * cc + cj[iw]) * lx + ln * (cn[i] - cc) + ls * (cs[i] - cc) + lapnan
    return ((cp[i] - cm[i]) * idt + uj[i] * (cj[ie] - cj[iw]) * ax * f + vj[i] * (cn[i] - cs[i]) * ay
            - kappa * lap)


@numba.njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _residual(c, u, v, kappa, inv_dt, inv_2dx, inv_dy_c, inv_dx2, lap_n, lap_s, wrap, regional, out):
    """Fused ``dc/dt + u.grad(c) - kappa lap(c)``: one pass, each input read once per point."""
    nt, ny, nx = c.shape
    for k in numba.prange(nt * ny):
        t, j = k // ny, k % ny
        tp, tm = min(t + 1, nt - 1), max(t - 1, 0)
        js, jn = _lat(j, ny)
        cj, cn, cs, cp, cm = c[t, j], c[t, jn], c[t, js], c[tp, j], c[tm, j]
        uj, vj, o = u[t, j], v[t, j], out[t, j]
        idt, ax, ay, lx, ln, ls = inv_dt[t], inv_2dx[j], inv_dy_c[j], inv_dx2[j], lap_n[j], lap_s[j]
        lapnan = np.nan if regional and (j == 0 or j == ny - 1) else 0.0
        for i in range(1, nx - 1):
            cc = cj[i]
            lap = (cj[i + 1] - 2.0 * cc + cj[i - 1]) * lx + ln * (cn[i] - cc) + ls * (cs[i] - cc) + lapnan
            o[i] = ((cp[i] - cm[i]) * idt + uj[i] * (cj[i + 1] - cj[i - 1]) * ax + vj[i] * (cn[i] - cs[i]) * ay
                    - kappa * lap)
        w0, e0, f0, w1, e1, f1 = _ends(nx, wrap)
        edge = 0.0 if wrap > 0 else np.nan
        out[t, j, 0] = _res_point(cj, cn, cs, cp, cm, uj, vj, 0, w0, e0, f0, idt, ax, ay, lx, ln, ls, kappa, lapnan + edge)
        out[t, j, nx - 1] = _res_point(cj, cn, cs, cp, cm, uj, vj, nx - 1, w1, e1, f1, idt, ax, ay, lx, ln, ls, kappa, lapnan + edge)


def work_dtype(dtype) -> np.dtype:
    """The dtype the kernels compute in for input of ``dtype``: float32/float64 as they are, float16 in float32
    (numba has no float16 arithmetic, and a laplacian of ~1e-10 K m-2 underflows float16), anything else in float64."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype.newbyteorder("=")
    return np.dtype(np.float32 if dtype.kind == "f" else np.float64)


def _as3d(a):
    """A (n, ny, nx) view of ``a`` (a copy only when ``a`` is not C-contiguous, not native-endian or not
    float32/float64)."""
    a = np.asarray(a)
    a = a.astype(work_dtype(a.dtype), copy=False)
    return np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def check_out(out, shape: tuple, dtype) -> np.ndarray:
    """``out`` if it is a writeable C-contiguous ndarray of ``shape`` and ``dtype``; else :class:`ParameterError`."""
    dtype, shape = np.dtype(dtype), tuple(shape)
    if not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous
            and out.flags.writeable):
        got = (f"dtype {out.dtype}, shape {out.shape}" + ("" if out.flags.c_contiguous else ", not C-contiguous")
               + ("" if out.flags.writeable else ", read-only") if isinstance(out, np.ndarray) else f"a {type(out).__name__}")
        raise ParameterError(f"out= must be a writeable C-contiguous {dtype} array of shape {shape} (the result's, dims "
                             f"ordered (..., lat, lon)); got {got}: pass e.g. `out=np.empty({shape}, np.{dtype.name})`, "
                             "or leave out=None to allocate the result")
    return out


def _out(c3: np.ndarray, out: np.ndarray | None, shape: tuple) -> np.ndarray:
    """A (n, ny, nx) output like ``c3``: new, or ``out`` (checked against the result's ``shape``)."""
    if out is None:
        return np.empty_like(c3)
    return check_out(out, shape, c3.dtype).reshape(c3.shape)


def _coef(a: np.ndarray, scale: float, dtype) -> np.ndarray:
    return (a * scale).astype(dtype)


def gradient(c: np.ndarray, geo: Geometry, scale: float = 1.0, out=None) -> tuple[np.ndarray, np.ndarray]:
    """(dc/dx, dc/dy) of ``c`` (..., ny, nx), in units of ``scale * c`` per metre.

    ``out``: an optional pair of C-contiguous arrays to write into.
    """
    c3 = _as3d(c)
    gx, gy = (_out(c3, o, np.shape(c)) for o in ((None, None) if out is None else out))
    d = c3.dtype
    _gradient(c3, _coef(geo.inv_2dx, scale, d), _coef(geo.inv_dy_c, scale, d), geo.wrap, gx, gy)
    return gx.reshape(np.shape(c)), gy.reshape(np.shape(c))


def laplacian(c: np.ndarray, geo: Geometry, scale: float = 1.0, out=None) -> np.ndarray:
    """Spherical laplacian of ``c`` (..., ny, nx), in units of ``scale * c`` per square metre."""
    c3 = _as3d(c)
    o = _out(c3, out, np.shape(c))
    d = c3.dtype
    _laplacian(c3, _coef(geo.inv_dx2, scale, d), _coef(geo.lap_n, scale, d), _coef(geo.lap_s, scale, d),
               geo.wrap, geo.regional_lat, o)
    return o.reshape(np.shape(c))


def advection(c: np.ndarray, u: np.ndarray, v: np.ndarray, geo: Geometry, scale: float = 1.0,
              u_scale: float = 1.0, v_scale: float = 1.0, out=None) -> np.ndarray:
    """``u dc/dx + v dc/dy`` for fields (..., ny, nx) of equal shape.

    ``scale``, ``u_scale``, ``v_scale`` convert differences of ``c`` and the winds to SI.
    """
    c3 = _as3d(c)
    d = c3.dtype
    o = _out(c3, out, np.shape(c))
    _advection(c3, _as3d(u).astype(d, copy=False), _as3d(v).astype(d, copy=False),
               _coef(geo.inv_2dx, scale * u_scale, d), _coef(geo.inv_dy_c, scale * v_scale, d), geo.wrap, o)
    return o.reshape(np.shape(c))


def tendency_weights(time_s: np.ndarray) -> np.ndarray:
    """``1 / (t[k+1] - t[k-1])`` (one-sided at the ends): the centred time difference's weights.

    Raises ValueError for fewer than 2 times, or times not finite and strictly monotonic.
    """
    t = np.asarray(time_s, np.float64)
    nt = t.size
    if nt < 2:
        raise ValueError(f"need at least 2 times for a tendency, got {nt}")
    dt = np.diff(t)
    if not (np.isfinite(t).all() and (np.all(dt > 0) or np.all(dt < 0))):
        raise ValueError("times must be finite and strictly monotonic (no repeated times) for a tendency")
    span = t[np.minimum(np.arange(nt) + 1, nt - 1)] - t[np.maximum(np.arange(nt) - 1, 0)]
    return 1.0 / span


def advection_diffusion_residual(c, u, v, kappa: float, time_s: np.ndarray, geo: Geometry, out: np.ndarray | None = None,
                                 scale: float = 1.0, u_scale: float = 1.0, v_scale: float = 1.0) -> np.ndarray:
    """``dc/dt + u dc/dx + v dc/dy - kappa lap(c)`` for fields (nt, ny, nx).

    ``time_s`` (nt,) are the times in seconds; the tendency is a centred difference
    (one-sided at the first and last time). ``out`` (C-contiguous, shape and dtype of
    ``c``) is reused when given: on large fields, first-touch page faults of a fresh
    output cost several times the computation itself. ``scale``, ``u_scale``,
    ``v_scale`` convert differences of ``c`` and the winds to SI (folded into the
    coefficients). ValueError for a negative or non-finite ``kappa``.
    """
    if not (np.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa must be a finite diffusivity >= 0 (m2 s-1), got {kappa!r}")
    c3, u3, v3 = _as3d(c), _as3d(u), _as3d(v)
    nt = c3.shape[0]
    if np.size(time_s) != nt:
        raise ValueError(f"need times matching the field's {nt}, got {np.size(time_s)}")
    inv_dt = tendency_weights(time_s)
    d = c3.dtype
    o = _out(c3, out, c3.shape)
    _residual(c3, u3.astype(d, copy=False), v3.astype(d, copy=False), d.type(kappa * scale), _coef(inv_dt, scale, d),
              _coef(geo.inv_2dx, scale * u_scale, d), _coef(geo.inv_dy_c, scale * v_scale, d), _coef(geo.inv_dx2, 1.0, d),
              _coef(geo.lap_n, 1.0, d), _coef(geo.lap_s, 1.0, d), geo.wrap, geo.regional_lat, o)
    return o.reshape(c3.shape)


def divergence(u: np.ndarray, v: np.ndarray, geo: Geometry, u_scale: float = 1.0, v_scale: float = 1.0) -> np.ndarray:
    """Horizontal divergence ``1/(a cos phi) [du/dlambda + d(v cos phi)/dphi]`` (s-1 for m/s winds)."""
    dudx, _ = gradient(u, geo, u_scale)
    _, dvc = gradient(np.asarray(v) * geo.cos_lat[:, None], geo, v_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        return dudx + dvc / geo.cos_lat[:, None]


def vorticity(u: np.ndarray, v: np.ndarray, geo: Geometry, u_scale: float = 1.0, v_scale: float = 1.0) -> np.ndarray:
    """Relative vorticity ``1/(a cos phi) [dv/dlambda - d(u cos phi)/dphi]`` (s-1)."""
    dvdx, _ = gradient(v, geo, v_scale)
    _, duc = gradient(np.asarray(u) * geo.cos_lat[:, None], geo, u_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        return dvdx - duc / geo.cos_lat[:, None]


def geostrophic_residual(z: np.ndarray, u: np.ndarray, v: np.ndarray, geo: Geometry, min_lat: float = 15.0,
                         z_scale: float = 1.0, u_scale: float = 1.0, v_scale: float = 1.0):
    """``(u + (g/f) dz/dy, v - (g/f) dz/dx)``: departure of the wind from geostrophy.

    ``z`` is geopotential height (m after ``z_scale``), ``f = 2 Omega sin(phi)``; NaN
    where ``|phi| < min_lat`` (degrees), where geostrophy does not hold, and on the
    equator itself (``f = 0``) whatever ``min_lat``.
    """
    gx, gy = gradient(z, geo, z_scale)
    f = 2 * OMEGA * geo.sin_lat
    keep = (np.abs(geo.sin_lat) >= np.sin(np.deg2rad(min_lat))) & (f != 0)  # f = 0 on the equator
    with np.errstate(divide="ignore", invalid="ignore"):
        gf = np.where(keep, GRAVITY / f, np.nan)[:, None]
    return u * u_scale + gf * gy, v * v_scale - gf * gx
