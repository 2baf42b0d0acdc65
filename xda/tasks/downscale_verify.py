"""The learned downscaling, verified on the input itself one level up (plain arrays, K, latitudes ascending).

The default ``downscale`` is the lapse-rate anchor plus the learned departure weighted by
the skill the model shows where the truth is known: the input's own block means are
downscaled back onto the input grid (one level up: the input is the truth there), and the
anchor's residuals ``r = T - A`` are regressed on the learned departures ``c = R - A``
(:func:`xda.assimilation.verify.correction_weight`, with the coarse cells as clusters: the errors
of one cell's fine cells are not independent). The weight ``w`` in [0, 1] is kept only
where it shows skill and is shrunk by its standard error, so that where the model is out of
its depth the answer is the anchor. The error of the weighted estimate at that level,
smoothed over 3 x 3 cells, extrapolated to the target's level (:func:`_per_level`) and scaled
by :data:`STANDARD_ERROR_SCALE` (the extrapolation errs on the large side; the scale is the
actual over the stated error in the training world), is the standard error handed back.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import uniform_filter

from ..numerics import regrid
from ..numerics.lapse_rate import lapse_rate_downscale, model_relief
from ..assimilation.verify import MIN_VERIFY, Weight, correction_weight


class Coarse(NamedTuple):
    """A batch of coarse fields and their grid."""

    t: np.ndarray  #: (B, ny, nx), K
    lat: np.ndarray  #: (ny,), ascending
    lon: np.ndarray  #: (nx,)
    periodic: bool
    u: np.ndarray | None = None  #: (B, ny, nx), m s-1
    v: np.ndarray | None = None


class Fine(NamedTuple):
    """The fine grid and its surface fields."""

    lat: np.ndarray
    lon: np.ndarray
    orog: np.ndarray  #: (fy, fx), m
    land: np.ndarray  #: (fy, fx), 0..1
    factor: int
    relief: float = 0.0  #: the anchor's relief: 0 the cell means, else smoothed as a model's (Gaussian width, cells)


def anchor_orography(c: Coarse, f: Fine) -> np.ndarray:
    """The relief the anchor's lapse-rate correction follows: ``f.orog``, or with ``f.relief`` the model's
    (:func:`xda.numerics.lapse_rate.model_relief`)."""
    return model_relief(f.orog, c.periodic, f.relief)


def anchor(c: Coarse, f: Fine, gamma=None) -> tuple[np.ndarray, np.ndarray]:
    """The lapse-rate method on ``(c, f)``: (fine (B, fy, fx) K, gamma (B,) K m-1)."""
    return lapse_rate_downscale(c.t, anchor_orography(c, f), c.lat, c.lon, f.lat, f.lon, f.factor, c.periodic,
                                gamma=gamma)


class Learned(NamedTuple):
    """What the learned model adds to its anchor, and how much of it was kept."""

    anchor: np.ndarray  #: (B, fy, fx), K: the lapse-rate method
    estimate: np.ndarray  #: (B, fy, fx), K: anchor + w (regression - anchor)
    gamma: np.ndarray  #: (B,), K m-1
    weight: Weight
    standard_error: np.ndarray  #: (B, fy, fx), K
    regression: np.ndarray | None = None  #: (B, fy, fx), K: the model's own estimate, None out of its range


def regression(c: Coarse, f: Fine, net, card, gamma=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(anchor, the model's regression, the anchor's gamma), each (B, fy, fx) / (B,). The network sees the
    cell-mean relief it was trained on, whatever relief the anchor follows."""
    from ..models.downscaling import downscale_arrays

    base, gamma_anchor = anchor(c, f, gamma)
    reg, _, _ = downscale_arrays(c.t, c.lat, c.lon, f.lat, f.lon, f.orog, f.land, c.periodic, model=net, card=card,
                                 u_c=c.u, v_c=c.v, method="regression", gamma=gamma)
    return base, reg[0], gamma_anchor


def one_level_up(c: Coarse, f: Fine) -> tuple[Coarse, Fine] | None:
    """The input's block means (the coarse problem) and the input grid (its truth), cropped to whole blocks:
    by the target's factor where that gives :data:`~xda.assimilation.verify.MIN_VERIFY` blocks over the
    batch (the fewest a weight is verified on), else by 2; by the first of the two where at least 4 x 4
    blocks fit and neither gives that many (the standard error only); None where no 4 x 4 blocks fit."""
    fit = [k for k in dict.fromkeys((f.factor, 2)) if c.lat.size >= 4 * k and c.lon.size >= 4 * k]
    if not fit:
        return None
    k = next((k for k in fit if c.t.shape[0] * (c.lat.size // k) * (c.lon.size // k) >= MIN_VERIFY), fit[0])
    ny, nx = (c.lat.size // k) * k, (c.lon.size // k) * k
    periodic = c.periodic and nx == c.lon.size
    lat, lon = c.lat[:ny], c.lon[:nx]
    up = lambda a: None if a is None else regrid.coarsen(a[..., :ny, :nx], k, lat)  # noqa: E731
    lat2, lon2 = regrid.coarse_coords(lat, lon, k)
    level = Fine(lat, lon, regrid.coarsen(f.orog, f.factor, f.lat)[:ny, :nx], regrid.coarsen(f.land, f.factor, f.lat)[:ny, :nx],
                 k, f.relief)
    return Coarse(up(c.t), lat2, lon2, periodic, up(c.u), up(c.v)), level


def verified(c: Coarse, f: Fine, net, card, in_range: bool, gamma=None) -> Learned:
    """The anchor, the learned estimate weighted by its skill one level up, and its standard error.

    ``in_range`` False (a grid the model was not trained for): the anchor, verified for its
    standard error only. ``gamma``: the anchor's lapse rate (K m-1), else estimated per field.
    """
    if in_range:
        base, reg, gamma = regression(c, f, net, card, gamma)
    else:
        (base, gamma), reg = anchor(c, f, gamma), None
    up = one_level_up(c, f)
    if up is None:  # too small to verify: the weight a fine-tuned model verified on its held-out times, else 0
        w = held_out_weight(card, f.factor) if reg is not None else Weight(0.0, np.inf, 0.0, np.inf)
        return Learned(base, base if reg is None else base + w.weight * (reg - base), gamma, w,
                       np.full(base.shape, np.nan), reg)
    c2, f2 = up
    given = None if gamma is None or np.ndim(gamma) else gamma
    if in_range:
        a2, r2, _ = regression(c2, f2, net, card, given)
    else:
        a2, _ = anchor(c2, f2, given)
        r2 = a2
    truth = c.t[:, : f2.lat.size, : f2.lon.size]
    clusters = regrid.block_labels(truth.shape, f2.factor)
    w = correction_weight((truth - a2).ravel(), (r2 - a2).ravel(), clusters) if in_range else Weight(0.0, np.inf, 0.0, np.inf)
    est = base if reg is None else base + w.weight * (reg - base)
    err = truth - (a2 + w.weight * (r2 - a2))
    se = STANDARD_ERROR_SCALE * _on_fine(err, c, f, f2) * _per_level(c2, f2, truth - a2, given)[:, None, None]
    return Learned(base, est, gamma, w, se, reg)


def held_out_weight(card, factor: int) -> Weight:
    """The weight a fine-tuned model's learned departure earned on the held-out times of its user's archive at
    ``factor`` (card ``finetune.held_out_weight``, :mod:`xda.training.downscaling_finetune`), for inputs too small
    to verify one level up; no weight (0, unverified) without one."""
    stored = (card or {}).get("finetune", {}).get("held_out_weight", {}).get(f"x{factor}")
    return Weight(*map(float, stored)) if stored else Weight(0.0, np.inf, 0.0, np.inf)


#: The least factor by which an error is taken to shrink from one level up to the target's level.
MIN_SHRINK = 0.25
#: The actual over the extrapolated error (one level up, :func:`_per_level`), the median over the training world's
#: held-out times (Held-Suarez seed 0's test split, the globe and North America, x2-x4;
#: ``benchmarks/fit_standard_error.py``): the extrapolation is an upper estimate, about twice the actual error.
STANDARD_ERROR_SCALE = 0.52


def _per_level(c2: Coarse, f2: Fine, e1: np.ndarray, gamma) -> np.ndarray:
    """Factor (B,) by which the error shrinks from one level up to the target's level: the anchor's rms error one
    level up ``e1`` (B, ny2, nx2) over its rms error two levels up, clipped to [:data:`MIN_SHRINK`, 1]. Errors of
    the unresolved scales of a power-law spectrum shrink by the same factor per level (a geometric extrapolation,
    as in Richardson's); 1 (the error one level up, an upper estimate) where two levels up with the same factor
    cannot be had."""
    up = one_level_up(c2, f2)
    if up is None or up[1].factor != f2.factor:
        return np.ones(e1.shape[0])
    c3, f3 = up
    a3, _ = anchor(c3, f3, gamma)
    e2 = c2.t[:, : f3.lat.size, : f3.lon.size] - a3
    rms = lambda e: np.sqrt(np.mean(e.reshape(e.shape[0], -1) ** 2, axis=1))  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rms(e1) / rms(e2)
    return np.clip(np.nan_to_num(ratio, nan=1.0), MIN_SHRINK, 1.0)


def _on_fine(err: np.ndarray, c: Coarse, f: Fine, f2: Fine) -> np.ndarray:
    """rms of ``err`` (B, ny2, nx2) over 3 x 3 cells, extended to the whole input grid, then to its fine cells."""
    mode = ("nearest", "nearest", "wrap" if c.periodic and f2.lon.size == c.lon.size else "nearest")
    rms = np.sqrt(uniform_filter(err**2, size=(1, 3, 3), mode=mode))
    ny, nx = c.lat.size, c.lon.size
    rms = np.pad(rms, ((0, 0), (0, ny - rms.shape[1]), (0, nx - rms.shape[2])), mode="edge")
    return np.repeat(np.repeat(rms, f.factor, axis=1), f.factor, axis=2)
