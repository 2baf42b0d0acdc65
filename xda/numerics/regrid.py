"""Coarsening (block means) and interpolation between a coarse and a fine lat-lon grid.

Plain arrays, degrees for coordinates, the last two axes are (lat, lon). Used by the
downscaling model (its training pairs and its base field) and by the bilinear / bicubic
baselines.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RegularGridInterpolator


def coarsen(a: np.ndarray, factor: int, lat: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted block mean over ``factor x factor`` cells.

    Parameters
    ----------
    a : ndarray, shape (..., ny, nx)
        ``ny`` and ``nx`` must be multiples of ``factor``.
    factor : int
    lat : ndarray, shape (ny,), optional
        Latitudes in degrees: each row is weighted by cos(latitude), the cell area of a
        regular grid. Without it, a plain block mean.

    Returns
    -------
    ndarray, shape (..., ny // factor, nx // factor)

    Notes
    -----
    This is the coarsening operator of the downscaling training pairs: the mean of the
    fine cells inside a coarse cell (what a coarse model's grid-cell value represents),
    not subsampling, which would alias the fine scales into the coarse field.
    """
    a = np.asarray(a)
    ny, nx = a.shape[-2:]
    if ny % factor or nx % factor:
        raise ValueError(f"grid {ny} x {nx} is not a multiple of factor {factor}")
    w = np.ones(ny) if lat is None else np.cos(np.deg2rad(np.asarray(lat, np.float64)))
    w = w.reshape(ny // factor, factor)
    blocks = a.reshape(*a.shape[:-2], ny // factor, factor, nx // factor, factor)
    num = (blocks * w[:, :, None, None]).sum(axis=(-3, -1))
    den = w.sum(axis=1)[:, None] * factor
    return (num / den).astype(a.dtype, copy=False)


def cell_bounds(centres: np.ndarray, lo: float | None = None, hi: float | None = None,
                periodic: bool = False) -> np.ndarray:
    """Cell edges half-way between centres.

    Parameters
    ----------
    centres : ndarray, shape (n,)
        Monotonic (ascending for ``periodic``) cell centres, degrees.
    lo, hi : float, optional
        Clip the edges to this range (e.g. -90, 90 for latitude).
    periodic : bool
        Longitudes that wrap: the outer edges lie half-way across the wrap-around gap
        (the last cell runs to the first + 360). Otherwise the outer edges mirror the
        inner ones.

    Returns
    -------
    ndarray, shape (n + 1,)
    """
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        raise ValueError("need at least two cell centres to derive cell bounds")
    mid = 0.5 * (c[1:] + c[:-1])
    if periodic:
        half = 0.5 * (c[0] + 360.0 - c[-1])
        first, last = c[0] - half, c[-1] + half
    else:
        first, last = c[0] - (mid[0] - c[0]), c[-1] + (c[-1] - mid[-1])
    edges = np.concatenate([[first], mid, [last]])
    if lo is not None or hi is not None:
        edges = np.clip(edges, lo, hi)
    return edges


def coarse_coords(lat: np.ndarray, lon: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the coarse cells: the mean of the fine centres in each block.

    On a regular grid this is the centre of the coarse cell, and
    :func:`fine_coords` recovers the fine centres exactly.
    """
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    return lat.reshape(-1, factor).mean(axis=1), lon.reshape(-1, factor).mean(axis=1)


def fine_coords(lat: np.ndarray, lon: np.ndarray, factor: int, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the cells obtained by splitting each coarse cell into ``factor x factor``.

    Cell bounds are half-way between centres (the outer bounds mirror the inner ones and
    are clipped to +-90 deg); each cell is split into ``factor`` equal parts along each
    axis.

    Parameters
    ----------
    lat, lon : ndarray, shape (ny,), (nx,)
        Coarse cell centres in degrees, monotonic (either order).
    factor : int
    periodic : bool
        Whether the longitudes wrap around the globe.

    Returns
    -------
    lat_f, lon_f : ndarray, shape (ny * factor,), (nx * factor,)
    """
    def split(edges):
        frac = (np.arange(factor) + 0.5) / factor
        return (edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * frac[None]).ravel()

    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    return split(cell_bounds(lat, -90.0, 90.0)), split(cell_bounds(lon, periodic=periodic))


def upsample(a: np.ndarray, lat: np.ndarray, lon: np.ndarray, lat_f: np.ndarray, lon_f: np.ndarray,
             method: str = "cubic", periodic: bool = True) -> np.ndarray:
    """Interpolate (..., ny, nx) fields from a coarse grid to a fine one (scipy).

    Parameters
    ----------
    a : ndarray, shape (..., ny, nx)
    lat, lon : ndarray
        Coarse centres in degrees, ascending.
    lat_f, lon_f : ndarray
        Fine centres in degrees, ascending.
    method : {"linear", "cubic"}
        ``scipy.interpolate.RegularGridInterpolator`` methods: bilinear, or cubic
        spline interpolation (the "bicubic" baseline of the downscaling literature).
    periodic : bool
        Wrap in longitude (three coarse columns of padding on each side).

    Returns
    -------
    ndarray, shape (..., ny_f, nx_f)

    Notes
    -----
    Fine rows poleward of the outermost coarse centres (the polar half-cells of a
    global grid) are extrapolated linearly with ``method="linear"``; with ``"cubic"``
    the spline's own extrapolation is used. Regional fine cells outside the coarse
    centres are extrapolated the same way.
    """
    a = np.asarray(a)
    lead = a.shape[:-2]
    ny, nx = a.shape[-2:]
    flat = a.reshape(-1, ny, nx).astype(np.float64)
    x = np.asarray(lon, np.float64)
    if periodic:
        p = min(3, nx)
        flat = np.concatenate([flat[..., -p:], flat, flat[..., :p]], axis=-1)
        x = np.concatenate([x[-p:] - 360.0, x, x[:p] + 360.0])
        xq = x[p] + np.mod(np.asarray(lon_f, np.float64) - x[p], 360.0)
    else:
        xq = np.asarray(lon_f, np.float64)
    y = np.asarray(lat, np.float64)
    k = 3 if method == "cubic" else 1
    if y.size <= k or x.size <= k:
        raise ValueError(f"{method} interpolation needs more than {k} coarse cells along each axis; got {ny} x {nx}")
    yy, xx = np.meshgrid(np.asarray(lat_f, np.float64), xq, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=-1)
    out = np.empty((flat.shape[0], yy.size))
    for i in range(flat.shape[0]):
        f = RegularGridInterpolator((y, x), flat[i], method=method, bounds_error=False, fill_value=None)
        out[i] = f(pts)
    return out.reshape(*lead, lat_f.size, np.size(lon_f)).astype(a.dtype if a.dtype.kind == "f" else np.float64, copy=False)
