"""The classical anchors every learned analysis starts from (plain arrays, working units): the OI analysis
and the balanced multivariate analysis. One copy, used by inference (:mod:`xda.tasks`) and by training
(:mod:`xda.training`), so that a network learns departures from exactly the anchor it will be given."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..labeled.observations import PointObservations
from ..numerics import balance, oi
from ..numerics.interp import apply
from .covariance import BackgroundError


def std_grid(be: BackgroundError, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``s_b`` (ny, nx) on the grid of ``lat`` x ``lon`` (degrees)."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    return be.std_at(glat, glon)


def oi_anchor(xb: np.ndarray, d: np.ndarray, olat, olon, obs_error, be: BackgroundError, lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """``x_a = x_b + B H^T (H B H^T + R)^-1 d`` (ny, nx) and the analysis-error std (ny, nx).

    ``xb`` (ny, nx) on the grid ``lat`` x ``lon``; innovations ``d``, positions and error stds
    (n,) of the observations; ``B`` as :class:`~xda.assimilation.covariance.BackgroundError`
    (:func:`xda.numerics.oi.oi_analysis`: dense or local solves).
    """
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    gxyz, oxyz = oi.unit_vectors(glat, glon), oi.unit_vectors(olat, olon)
    inc, var = oi.oi_analysis(d, gxyz, oxyz, std_grid(be, lat, lon).ravel(), be.std_at(olat, olon), obs_error,
                              be.length_scale, be.correlation)
    return xb + inc.reshape(xb.shape), np.sqrt(var).reshape(xb.shape)


def oi_analysis(xb, d, ob: PointObservations, be: BackgroundError, grid) -> tuple[np.ndarray, np.ndarray]:
    """:func:`oi_anchor` of observations ``ob`` on ``grid``: ``x_a`` (1, ny, nx) and ``s_a`` (ny, nx)."""
    xa, sa = oi_anchor(np.asarray(xb).reshape(grid.shape), d, ob.lat, ob.lon, ob.error, be, grid.lat, grid.lon)
    return xa[None], sa


def oi_analyser(xb, ob: PointObservations, be: BackgroundError, grid) -> Callable:
    """``analyse(sub, background=xb) -> (x_a (1, ny, nx), s_a (ny, nx))``: :func:`oi_analysis` of any subset
    ``sub`` of the observations ``ob``, with the grid-observation correlations computed once
    (:class:`xda.numerics.oi.Network`) where they fit. Where the observations' positions are distinct, every
    subset is had from the factorisation of all of them (:class:`xda.numerics.oi.Withholding`, kept for the next
    time on the same network with the same ``B``: :func:`xda.numerics.oi.cached_withholding`), for work of the
    size of what it leaves out (the folds of a cross-validation); elsewhere each subset costs its own solve."""
    xb = np.asarray(xb).reshape(grid.shape)
    glat, glon = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    if not oi.Network.fits(glat.size, ob.n):
        return lambda sub, background=xb: oi_analysis(background, sub.value - apply(sub.operator, background), sub,
                                                      be, grid)
    net = oi.Network(oi.unit_vectors(glat, glon), oi.unit_vectors(ob.lat, ob.lon), be.length_scale, be.correlation)
    index = {pos: i for i, pos in enumerate(zip(ob.lat.tolist(), ob.lon.tolist()))}  # a position's correlations
    sg, so = std_grid(be, grid.lat, grid.lon).ravel(), be.std_at(ob.lat, ob.lon)
    kept = []  # the Withholding, made at the first subset that can use it

    def analyse(sub: PointObservations, background=xb):
        background = np.asarray(background).reshape(grid.shape)
        idx = np.fromiter((index[pos] for pos in zip(sub.lat.tolist(), sub.lon.tolist())), np.int64, sub.n)
        d = sub.value - apply(sub.operator, background)
        keep = np.zeros(ob.n, bool)
        keep[idx] = True
        if len(index) == ob.n and keep.sum() == sub.n and np.array_equal(sub.error, ob.error[idx]):
            if not kept:
                kept.append(oi.cached_withholding(net, sg, so, ob.error))
            inc, var = kept[0].analysis(keep, d[np.argsort(idx)])
        else:  # repeated positions, or errors other than ob's: the subset's own solve
            inc, var = net.analysis(idx, d, sg, so[idx], sub.error)
        return (background + inc.reshape(grid.shape))[None], np.sqrt(var).reshape(grid.shape)

    return analyse


def balanced_anchor(xb: dict, order, observed, analyse: Callable, unobserved: Callable, geo, alpha: float) -> dict:
    """The multivariate anchor: per variable of ``order`` present in ``xb``, in that order (z500 first), the
    OI of its observations, the winds' background first given the tapered geostrophic wind of the height
    increment times ``alpha`` (:func:`xda.numerics.balance.balanced_winds`).

    ``analyse(key, xb_key)`` -> (x_a, payload) for an observed variable; ``unobserved(key, xb_key)`` ->
    (x_b, payload) for the others. Returns ``{key: payload}``.
    """
    out, xa, xb_bal = {}, {}, dict(xb)
    for key in order:
        if key not in xb:
            continue
        if key == "u500" and "z500" in observed and "v500" in xb:
            xb_bal["u500"], xb_bal["v500"] = balance.balanced_winds(xb["u500"], xb["v500"], xa["z500"] - xb["z500"], geo, alpha)
        xa[key], out[key] = (analyse if key in observed else unobserved)(key, xb_bal[key])
    return out
