"""Bilinear observation operator from a latitude-longitude grid to points.

The operator is stored as 4 flat indices and 4 weights per point, so that applying it
is a gather and a weighted sum: the same in numpy (:func:`apply`) and torch
(:func:`apply_torch`, differentiable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bilinear:
    """Sparse bilinear interpolation weights.

    Attributes
    ----------
    index : ndarray of int64, shape (n_obs, 4)
        Flat indices into a (ny, nx) field.
    weight : ndarray of float64, shape (n_obs, 4)
        Weights, summing to 1 per row.
    shape : tuple
        The (ny, nx) grid shape the indices refer to.
    """

    index: np.ndarray
    weight: np.ndarray
    shape: tuple[int, int]

    @property
    def n_obs(self) -> int:
        return self.index.shape[0]

    def nearest(self) -> np.ndarray:
        """Flat index of the grid point with the largest weight, shape (n_obs,)."""
        return self.index[np.arange(self.n_obs), np.argmax(self.weight, axis=1)]


def _bracket(coord: np.ndarray, x: np.ndarray, clamp: bool):
    """Lower index and fraction of ``x`` in the increasing array ``coord``."""
    n = coord.size
    i = np.clip(np.searchsorted(coord, x, side="right") - 1, 0, n - 2)
    f = (x - coord[i]) / (coord[i + 1] - coord[i])
    inside = (f >= -1e-9) & (f <= 1 + 1e-9)
    if clamp:
        f = np.clip(f, 0.0, 1.0)
    return i, f, inside


def bilinear_weights(
    lat: np.ndarray, lon: np.ndarray, plat: np.ndarray, plon: np.ndarray, *, periodic: bool
) -> tuple[Bilinear, np.ndarray]:
    """Weights of bilinear interpolation from a grid to points.

    Parameters
    ----------
    lat : ndarray, shape (ny,)
        Grid latitudes in degrees, ascending or descending (a Gaussian grid is fine).
    lon : ndarray, shape (nx,)
        Evenly spaced grid longitudes in degrees, increasing (any origin).
    plat, plon : ndarray, shape (n,)
        Point latitudes and longitudes in degrees (longitudes in any range).
    periodic : bool
        Whether the grid wraps in longitude. If so, points between the last and the
        first longitude interpolate across the seam; on a global grid, points poleward
        of the outermost latitude take the value on that latitude (constant in
        latitude). If not, points outside the grid are flagged.

    Returns
    -------
    op : Bilinear
        The operator for the points inside the domain (all points when flagged inside).
    inside : ndarray of bool, shape (n,)
        Which points lie inside the domain; ``op`` has one row per ``True``.
    """
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    plat = np.asarray(plat, np.float64).ravel()
    plon = np.asarray(plon, np.float64).ravel()
    ny, nx = lat.size, lon.size
    flip = lat[0] > lat[-1]
    la = lat[::-1] if flip else lat
    j, fy, in_y = _bracket(la, plat, clamp=periodic)
    if flip:  # indices into the stored (descending) order
        j, fy = ny - 2 - j, 1.0 - fy
    dlon = lon[1] - lon[0]
    if periodic:
        rel = np.mod(plon - lon[0], 360.0) / dlon
        i = np.floor(rel).astype(np.int64) % nx
        fx = rel - np.floor(rel)
        i1 = (i + 1) % nx
        in_x = np.ones_like(in_y)
        in_y = np.ones_like(in_y)  # poles: constant extrapolation in latitude
    else:
        # bring point longitudes to the grid's range
        plon = lon[0] + np.mod(plon - lon[0] + 1e-9, 360.0) - 1e-9
        i, fx, in_x = _bracket(lon, plon, clamp=False)
        i1 = i + 1
    inside = in_x & in_y
    i, i1, fx, j, fy = (a[inside] for a in (i, i1, fx, j, fy))
    fx = np.clip(fx, 0, 1)
    fy = np.clip(fy, 0, 1)
    index = np.stack([j * nx + i, j * nx + i1, (j + 1) * nx + i, (j + 1) * nx + i1], axis=1)
    weight = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1)
    return Bilinear(index.astype(np.int64), weight, (ny, nx)), inside


def apply(op: Bilinear, field: np.ndarray) -> np.ndarray:
    """Interpolate ``field`` of shape (..., ny, nx) to the points: shape (..., n_obs)."""
    flat = field.reshape(*field.shape[:-2], -1)
    return (flat[..., op.index] * op.weight).sum(-1)


def apply_torch(index, weight, field):
    """Torch twin of :func:`apply`: ``field`` (..., ny, nx) -> (..., n_obs), differentiable.

    ``index`` (n_obs, 4) int64 and ``weight`` (n_obs, 4) are torch tensors on the
    field's device.
    """
    flat = field.reshape(*field.shape[:-2], -1)
    return (flat[..., index] * weight).sum(-1)


def to_cells(op: Bilinear, value: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point values binned to their nearest grid cell: (mean value, mask, error of the mean), each (ny, nx).

    Several observations in one cell are averaged; the error std of their mean is the
    mean error over ``sqrt(count)`` (independent errors). Unobserved cells are 0.
    """
    ny, nx = op.shape
    flat = op.nearest()
    cnt = np.bincount(flat, minlength=ny * nx)
    n = np.maximum(cnt, 1)
    mean = np.bincount(flat, value, ny * nx) / n
    err = np.bincount(flat, error, ny * nx) / n / np.sqrt(n)
    return mean.reshape(ny, nx), (cnt > 0).astype(np.float64).reshape(ny, nx), err.reshape(ny, nx)
