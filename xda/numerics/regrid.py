"""Coarsening (block means) and interpolation between a coarse and a fine lat-lon grid.

Plain arrays, degrees for coordinates, the last two axes are (lat, lon). Used by the
downscaling model (its training pairs and its base field) and by the bilinear / bicubic
baselines.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline, RegularGridInterpolator, make_interp_spline


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


def block_labels(shape, k: int) -> np.ndarray:
    """Cluster label of every cell of a (B, ny, nx) batch, raveled: its field and its ``k x k`` block (for
    cluster-robust statistics over fine cells whose errors within a block are not independent)."""
    b, ny, nx = shape
    i = np.arange(ny)[:, None] // k * (nx // k) + np.arange(nx)[None, :] // k
    return (np.arange(b)[:, None, None] * (ny // k) * (nx // k) + i[None]).ravel()


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
    """Interpolate (..., ny, nx) fields from a coarse grid to a fine one (scipy), never extrapolating.

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
    A global grid (``periodic``, an even number of longitudes, cells reaching a pole) is
    padded across each pole with the rows on the other side of it (longitude + 180 deg),
    so the polar half-cells are interpolated like any other. Elsewhere (the outer
    half-cells of a regional grid) the field is padded with one line extrapolated
    linearly from the two outermost centres, and fine cells within it are interpolated:
    linear fields stay exact, and a cubic's own extrapolation (which grows without
    bound) is never used.
    Interpolation is not conservative: see :func:`conserve`.
    """
    a = np.asarray(a)
    lead = a.shape[:-2]
    ny, nx = a.shape[-2:]
    flat = a.reshape(-1, ny, nx).astype(np.float64)
    y = np.asarray(lat, np.float64)
    k = 3 if method == "cubic" else 1
    if y.size <= k or nx <= k:
        raise ValueError(f"{method} interpolation needs more than {k} coarse cells along each axis; got {ny} x {nx}")
    x = np.asarray(lon, np.float64)
    if periodic:
        flat, y = _across_poles(flat, y, p=min(3, ny))
        if method == "cubic":  # a periodic spline along longitude: no seam, whatever the longitude origin
            return _periodic_cubic(flat, y, x, lat_f, lon_f).reshape(*lead, np.size(lat_f), np.size(lon_f)).astype(
                a.dtype if a.dtype.kind == "f" else np.float64, copy=False)
        p = min(3, nx)
        flat = np.concatenate([flat[..., -p:], flat, flat[..., :p]], axis=-1)
        x = np.concatenate([x[-p:] - 360.0, x, x[:p] + 360.0])
        xq = x[p] + np.mod(np.asarray(lon_f, np.float64) - x[p], 360.0)
    else:
        flat, x = _edge_cells(flat, x, axis=-1)
        xq = np.clip(np.asarray(lon_f, np.float64), x[0], x[-1])
    if y[0] > -90.0:  # not padded across a pole: one linearly extrapolated row
        flat, y = _edge_cells(flat, y, axis=-2, side=0)
    if y[-1] < 90.0:
        flat, y = _edge_cells(flat, y, axis=-2, side=1)
    yq = np.clip(np.asarray(lat_f, np.float64), y[0], y[-1])
    yy, xx = np.meshgrid(yq, xq, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=-1)
    out = np.empty((flat.shape[0], yy.size))
    for i in range(flat.shape[0]):
        out[i] = RegularGridInterpolator((y, x), flat[i], method=method)(pts)
    return out.reshape(*lead, np.size(lat_f), np.size(lon_f)).astype(a.dtype if a.dtype.kind == "f" else np.float64, copy=False)


def _periodic_cubic(flat: np.ndarray, y: np.ndarray, x: np.ndarray, lat_f, lon_f) -> np.ndarray:
    """Tensor-product cubic spline of (B, ny, nx) on a longitude circle: periodic along longitude (no seam),
    not-a-knot along latitude (rows already padded across the poles, or one extrapolated row), at (lat_f, lon_f)."""
    along = CubicSpline(np.append(x, x[0] + 360.0), np.concatenate([flat, flat[..., :1]], axis=-1), axis=-1,
                        bc_type="periodic")
    flat = along(x[0] + np.mod(np.asarray(lon_f, np.float64) - x[0], 360.0))
    if y[0] > -90.0:
        flat, y = _edge_cells(flat, y, axis=-2, side=0)
    if y[-1] < 90.0:
        flat, y = _edge_cells(flat, y, axis=-2, side=1)
    return make_interp_spline(y, flat, k=3, axis=1)(np.clip(np.asarray(lat_f, np.float64), y[0], y[-1]))


def _edge_cells(flat: np.ndarray, c: np.ndarray, axis: int, side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pad (B, ny, nx) along ``axis`` with a linearly extrapolated line one spacing beyond the edge centres
    (both sides, or ``side`` 0 / 1), so that the outer half-cells are interpolated; linear fields stay exact."""
    a = np.moveaxis(flat, axis, 0)
    parts, coords = [a], [c]
    if side in (None, 0):
        parts.insert(0, (2 * a[0] - a[1])[None])
        coords.insert(0, [2 * c[0] - c[1]])
    if side in (None, 1):
        parts.append((2 * a[-1] - a[-2])[None])
        coords.append([2 * c[-1] - c[-2]])
    return np.moveaxis(np.concatenate(parts), 0, axis), np.concatenate(coords)


def _across_poles(flat: np.ndarray, lat: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (B, ny, nx) with ``p`` rows across each pole the grid's cells reach (needs an even ``nx``)."""
    edges = cell_bounds(lat, -90.0, 90.0)
    nx = flat.shape[-1]
    if nx % 2:
        return flat, lat
    half = nx // 2
    if edges[0] <= -90.0:
        flat = np.concatenate([np.roll(flat[:, :p][:, ::-1], half, axis=-1), flat], axis=1)
        lat = np.concatenate([-180.0 - lat[:p][::-1], lat])
    if edges[-1] >= 90.0:
        flat = np.concatenate([flat, np.roll(flat[:, -p:][:, ::-1], half, axis=-1)], axis=1)
        lat = np.concatenate([lat, 180.0 - lat[-p:][::-1]])
    return flat, lat


def conserve(fine: np.ndarray, coarse: np.ndarray, lat_f: np.ndarray, factor: int) -> np.ndarray:
    """``fine`` corrected so that its area-weighted block means equal ``coarse`` exactly.

    Each fine cell of a block gets the block's deficit ``coarse - coarsen(fine)``: the
    smallest change, in the area-weighted L2 norm, that makes the field conservative
    (the orthogonal projection onto the fields whose block means are ``coarse``).

    Parameters
    ----------
    fine : ndarray, shape (..., ny * factor, nx * factor)
    coarse : ndarray, shape (..., ny, nx)
    lat_f : ndarray, shape (ny * factor,)
        Fine latitudes in degrees (the cos-latitude area weights of :func:`coarsen`).
    factor : int

    Returns
    -------
    ndarray like ``fine`` (float64)
    """
    deficit = np.asarray(coarse, np.float64) - coarsen(np.asarray(fine, np.float64), factor, lat_f)
    return fine + np.repeat(np.repeat(deficit, factor, axis=-2), factor, axis=-1)


def conservative_upsample(a: np.ndarray, lat: np.ndarray, lon: np.ndarray, lat_f: np.ndarray, lon_f: np.ndarray,
                          factor: int, method: str = "cubic", periodic: bool = True, iterations: int = 3) -> np.ndarray:
    """Interpolation whose block means equal the coarse field exactly (conservative bilinear / bicubic).

    The interpolant :func:`upsample` is corrected ``iterations`` times by the
    interpolated block-mean deficit (a smooth correction), then projected exactly
    (:func:`conserve`). The smooth steps lower the RMSE of the exact projection alone,
    e.g. on MPI-ESM July tas coarsened x2: bicubic 0.643 K, projected 0.578 K, with 3
    smooth steps 0.560 K (``benchmarks/evaluate_downscaling.py``).

    Parameters
    ----------
    a : ndarray, shape (..., ny, nx)
    lat, lon, lat_f, lon_f : ndarray
        Coarse and fine centres in degrees, ascending; the fine grid splits each coarse
        cell into ``factor x factor`` (:func:`fine_coords`).
    factor : int
    method : {"linear", "cubic"}
    periodic : bool
    iterations : int
        Smooth correction steps before the exact projection (0: the projection alone).

    Returns
    -------
    ndarray, shape (..., ny * factor, nx * factor), float64
    """
    a = np.asarray(a, np.float64)
    fine = upsample(a, lat, lon, lat_f, lon_f, method, periodic).astype(np.float64)
    for _ in range(iterations):
        fine = fine + upsample(a - coarsen(fine, factor, lat_f), lat, lon, lat_f, lon_f, method, periodic)
    return conserve(fine, a, lat_f, factor)


def working_grid(lat: np.ndarray, lon: np.ndarray, periodic: bool, spacing: float,
                 tolerance: float = 0.1) -> tuple[np.ndarray, np.ndarray] | None:
    """A regular grid of about ``spacing`` degrees over the same domain, or None if ``lat, lon`` is one.

    Learned models see scales in grid cells; xda runs them on a grid of the spacing
    they were trained at and interpolates back (:func:`resample`), so that they see
    the same physical scales on any grid.

    Parameters
    ----------
    lat, lon : ndarray (ny,), (nx,)
        Degrees; latitudes in either order, longitudes increasing and evenly spaced.
    periodic : bool
        Whether the grid wraps in longitude.
    spacing : float
        Target spacing in degrees (the model's training grid).
    tolerance : float
        Relative difference of both spacings from ``spacing`` below which the input grid
        is used as it is (None is returned).

    Returns
    -------
    (wlat, wlon) ascending, or None
        Latitudes span the input's extent exactly (end points included); longitudes
        start at the input's first longitude and span 360 degrees (periodic) or its extent.
    """
    lat = np.sort(np.asarray(lat, np.float64))
    lon = np.asarray(lon, np.float64)
    dlat = (lat[-1] - lat[0]) / max(lat.size - 1, 1)
    dlon = 360.0 / lon.size if periodic else (lon[-1] - lon[0]) / max(lon.size - 1, 1)
    if abs(dlat / spacing - 1) <= tolerance and abs(dlon / spacing - 1) <= tolerance:
        return None
    ny = max(int(round((lat[-1] - lat[0]) / spacing)) + 1, 2)
    wlat = np.linspace(lat[0], lat[-1], ny)
    if periodic:
        nx = max(int(round(360.0 / spacing)), 4)
        wlon = lon[0] + np.arange(nx) * (360.0 / nx)
    else:
        wlon = np.linspace(lon[0], lon[-1], max(int(round((lon[-1] - lon[0]) / spacing)) + 1, 2))
    return wlat, wlon


def resample(a: np.ndarray, lat: np.ndarray, lon: np.ndarray, lat_to: np.ndarray, lon_to: np.ndarray,
             periodic: bool) -> np.ndarray:
    """Bilinear interpolation of (..., ny, nx) fields between two lat-lon grids.

    Points of the target grid beyond the source's outermost latitudes take the value on
    that latitude (global grids); targets must otherwise lie inside the source domain.

    Parameters
    ----------
    a : ndarray (..., ny, nx)
    lat, lon : ndarray
        Source grid (degrees; latitudes in either order).
    lat_to, lon_to : ndarray
        Target grid (degrees).
    periodic : bool
        Whether the source wraps in longitude.

    Returns
    -------
    ndarray (..., lat_to.size, lon_to.size)
    """
    from .interp import apply, bilinear_weights

    glat, glon = np.meshgrid(np.asarray(lat_to, np.float64), np.asarray(lon_to, np.float64), indexing="ij")
    if not periodic:  # clamp rounding at the domain's edges
        glat = np.clip(glat, np.min(lat), np.max(lat))
        glon = np.clip(glon, np.min(lon), np.max(lon))
    op, inside = bilinear_weights(lat, lon, glat.ravel(), glon.ravel(), periodic=periodic)
    if not inside.all():
        raise ValueError(f"{int((~inside).sum())} target points lie outside the source grid")
    return apply(op, np.asarray(a)).reshape(*np.shape(a)[:-2], *glat.shape)


class WorkingGrid:
    """A grid and the regular grid of a model's spacing over its domain, with the maps between them.

    Parameters
    ----------
    lat, lon : ndarray (ny,), (nx,)
        The grid (degrees; latitudes in either order, longitudes increasing).
    periodic : bool
    spacing : float
        The model's training spacing (degrees); see :func:`working_grid` (native when
        within 10 %).

    Attributes
    ----------
    wlat, wlon : ndarray
        The working grid, latitudes ascending.
    native : bool
        Whether the working grid is the input grid (possibly flipped in latitude).
    """

    def __init__(self, lat, lon, periodic: bool, spacing: float):
        lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        self.flip = bool(lat[0] > lat[-1])
        self.lat, self.lon, self.periodic = (lat[::-1] if self.flip else lat), lon, periodic
        wg = working_grid(self.lat, lon, periodic, spacing)
        self.native = wg is None
        self.wlat, self.wlon = (self.lat, lon) if wg is None else wg

    def to_work(self, a: np.ndarray) -> np.ndarray:
        """(..., ny, nx) on the input grid -> (..., wny, wnx)."""
        a = a[..., ::-1, :] if self.flip else a
        return a if self.native else resample(a, self.lat, self.lon, self.wlat, self.wlon, self.periodic)

    def from_work(self, a: np.ndarray) -> np.ndarray:
        """(..., wny, wnx) -> (..., ny, nx) on the input grid; a pole row gets its zonal mean (one point, one value)."""
        a = np.array(a if self.native else resample(a, self.wlat, self.wlon, self.lat, self.lon, self.periodic))
        poles = np.abs(self.lat) >= 90.0 - 1e-6
        a[..., poles, :] = a[..., poles, :].mean(axis=-1, keepdims=True)
        return a[..., ::-1, :] if self.flip else a


def _overlaps(src: np.ndarray, dst: np.ndarray, period: float | None = None) -> np.ndarray:
    """(n_dst, n_src) lengths of the overlaps of intervals ``dst[i]..dst[i+1]`` and ``src[j]..src[j+1]``
    (ascending edges; with ``period`` the source is also counted one period either way)."""
    lo_d, hi_d = dst[:-1, None], dst[1:, None]
    total = np.zeros((dst.size - 1, src.size - 1))
    for shift in ((-period, 0.0, period) if period else (0.0,)):
        lo_s, hi_s = src[None, :-1] + shift, src[None, 1:] + shift
        total += np.clip(np.minimum(hi_d, hi_s) - np.maximum(lo_d, lo_s), 0.0, None)
    return total


def conservative_remap(a: np.ndarray, lat: np.ndarray, lon: np.ndarray, lat_to: np.ndarray, lon_to: np.ndarray,
                       periodic: bool) -> np.ndarray:
    """First-order conservative remapping of (..., ny, nx) cell means onto another lat-lon grid.

    Each target cell's value is the area-weighted mean of the source cells it overlaps
    (Jones 1999, first order, on a rectilinear grid where the overlap areas factor
    into latitude (``d sin(lat)``) and longitude parts). Target cells partly outside the
    source domain average the part inside. Used where the target is no finer than the
    source, so that a target equal to a coarser grid of nested cells gets its exact
    block means.

    Parameters
    ----------
    a : ndarray (..., ny, nx)
        Source cell means, latitudes ascending.
    lat, lon : ndarray
        Source cell centres (degrees; ascending).
    lat_to, lon_to : ndarray
        Target cell centres (degrees; latitudes in either order, longitudes ascending).
    periodic : bool
        Whether the source wraps in longitude.

    Returns
    -------
    ndarray (..., lat_to.size, lon_to.size)
    """
    order = np.argsort(lat_to)
    src_lat, dst_lat = cell_bounds(lat, -90.0, 90.0), cell_bounds(np.asarray(lat_to)[order], -90.0, 90.0)
    w_lat = _overlaps(np.sin(np.deg2rad(src_lat)), np.sin(np.deg2rad(dst_lat)))
    w_lon = _overlaps(cell_bounds(lon), cell_bounds(lon_to), 360.0 if periodic else None)  # regular: mirrored edges
    w_lat /= w_lat.sum(axis=1, keepdims=True)
    w_lon /= w_lon.sum(axis=1, keepdims=True)
    out = np.einsum("ij,...jk,lk->...il", w_lat, np.asarray(a, np.float64), w_lon)
    return out[..., np.argsort(order), :]
