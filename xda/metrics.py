"""Verification metrics on labeled fields (xskillscore's vocabulary: ``dim``, ``weights``, ``skipna``)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .coords import grid_of, latitude_weights


def _weights(a: xr.DataArray, weights):
    if isinstance(weights, str) and weights == "latitude":
        g = grid_of(a)
        return xr.DataArray(latitude_weights(g.lat), dims=g.lat_dim, coords={g.lat_dim: a[g.lat_dim]})
    return weights


def rmse(a: xr.DataArray, b: xr.DataArray, dim=None, weights=None, skipna: bool = True) -> xr.DataArray:
    """Root-mean-square error ``sqrt(sum w (a-b)^2 / sum w)``.

    ``weights="latitude"`` uses cos(latitude) (normalised to mean 1), the usual
    area weighting of regular grids (e.g. WeatherBench, Rasp et al. 2020, eq. 1).
    NaNs in either input are skipped (``skipna``) with their weights.
    """
    err = (a - b) ** 2
    w = _weights(a, weights)
    if w is None:
        return np.sqrt(err.mean(dim, skipna=skipna))
    return np.sqrt(err.weighted(w.fillna(0)).mean(dim, skipna=skipna))


def mae(a: xr.DataArray, b: xr.DataArray, dim=None, weights=None, skipna: bool = True) -> xr.DataArray:
    """Mean absolute error ``sum w |a-b| / sum w`` (weights as in :func:`rmse`)."""
    err = abs(a - b)
    w = _weights(a, weights)
    if w is None:
        return err.mean(dim, skipna=skipna)
    return err.weighted(w.fillna(0)).mean(dim, skipna=skipna)
