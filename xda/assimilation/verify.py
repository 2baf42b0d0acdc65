"""Verification of a learned correction on the user's own observations: repeated K-fold cross-validation.

The learned analysis is ``x_a + w s_a u``: the OI analysis plus the network's
correction. Before it is applied, the observations are split into
:data:`FOLDS` folds, :data:`REPEATS` times (the splits are fixed by the observations'
positions, never by the user's ``seed``: the default analysis is the same for every
seed); each fold is withheld in turn, OI and the correction are computed from the
others, and at the withheld observations the OI residuals ``r = y - H x_a`` are
regressed on the correction ``c = H(s_a u)``. Each observation's ``r`` and ``c`` are
averaged over the repeats. The weight is that regression's slope, kept only where it
shows skill and shrunk towards 0 by its uncertainty (:func:`correction_weight`).

Also here: the analysis in observation space (:func:`obs_table`) and Desroziers et al.'s
consistency check of the observation errors (:func:`desroziers`).
"""

from __future__ import annotations

from typing import Callable, Generator, NamedTuple

import numpy as np

from ..labeled.observations import PointObservations
from ..numerics.threads import map_in_threads
from ..numerics.interp import apply
from .anchor import oi_analyser

#: Folds and repeats of the cross-validation.
FOLDS, REPEATS = 4, 2
#: Fewest observations of a variable for its correction to be verified; below it the weight is 0.
MIN_VERIFY = 40
#: The slope must exceed this many standard errors for any weight (a one-sided test at about 2.3 %).
SKILL_Z = 2.0
#: Standard deviation of the prior on the slope (mean 0): the correction must earn its weight.
PRIOR_SD = 0.5


class Weight(NamedTuple):
    """The weight of a learned correction and how it was reached (see :func:`correction_weight`)."""

    weight: float  #: in [0, 1]
    stderr: float  #: posterior standard deviation of the slope (inf where unverified)
    estimate: float  #: least-squares slope before the test and the shrinkage
    estimate_stderr: float  #: its heteroscedasticity-robust standard error


def folds(ob: PointObservations, repeat: int = 0, k: int = FOLDS) -> np.ndarray:
    """Fold (0..k-1) of each observation in repeat ``repeat``: a permutation seeded by ``repeat`` alone, dealt in
    position order, so the same for any order of the observations and any user ``seed``."""
    fold = np.empty(ob.n, np.int64)
    fold[np.lexsort((np.mod(ob.lon, 360.0), ob.lat))] = np.random.default_rng(repeat).permutation(ob.n) % k
    return fold


def withheld(obs: dict) -> Generator[list, list, tuple[dict, int]]:
    """Residuals and corrections at withheld observations, averaged over the repeats.

    A generator, like :func:`cross_validation`: it yields the observations each fold's
    analysis takes, ``[train, ...]`` (``{key: PointObservations}``, every key; all
    ``FOLDS x REPEATS`` folds at once, so that they can share the network's batches), is
    sent their analyses ``[{key: (x_a, s_a u, s_a)}, ...]`` (grids, working units) for the
    keys to verify, and returns what follows. Keys with fewer than :data:`MIN_VERIFY`
    observations are never withheld (they always inform the analyses).

    Parameters
    ----------
    obs : dict
        ``{key: PointObservations}``.

    Returns
    -------
    dict
        ``{key: (r, c, s, e)}``, each (n,): OI residual, correction, analysis-error std
        at the observation, observation-error std.
    int
        Analyses computed.
    """
    tests, trains = _splits(obs)
    outs = yield trains
    return _averaged(obs, tests, outs), REPEATS * FOLDS


def _splits(obs: dict) -> tuple[list, list]:
    """The withheld observations of each fold and repeat (``[{key: mask}]``, verified keys only) and the
    observations each fold's analysis takes (``[{key: PointObservations}]``, every key)."""
    check = {k for k, ob in obs.items() if ob.n >= MIN_VERIFY}
    tests = [{k: folds(obs[k], rep) == f for k in check} for rep in range(REPEATS) for f in range(FOLDS)]
    return tests, [{k: (ob.subset(~test[k]) if k in test else ob) for k, ob in obs.items()} for test in tests]


def _averaged(obs: dict, tests: list, outs: list) -> dict:
    """``{key: (r, c, s, e)}`` of :func:`withheld` from the folds' analyses ``outs``."""
    check = set(tests[0]) if tests else set()
    sums = {k: np.zeros((3, obs[k].n)) for k in check}
    for test, out in zip(tests, outs):
        for k in check & set(out):
            (xa, corr, sa), held = out[k], obs[k].subset(test[k])
            sums[k][:, test[k]] += np.stack([held.value - apply(held.operator, xa), apply(held.operator, corr),
                                             apply(held.operator, sa)])
    return {k: (*(v / REPEATS), obs[k].error) for k, v in sums.items()}


def weight_attrs(w: Weight) -> dict:
    """A verified weight and its standard error as attrs (``"unverified"`` where there is none)."""
    return dict(xda_correction_weight=round(w.weight, 4),
                xda_correction_weight_stderr=round(w.stderr, 4) if np.isfinite(w.stderr) else "unverified")


def correction_weight(r: np.ndarray, c: np.ndarray, clusters: np.ndarray | None = None) -> Weight:
    """The weight of a correction ``c`` given withheld residuals ``r`` (both (n,)).

    The least-squares slope ``a = sum(r c) / sum(c c)`` with its heteroscedasticity-
    robust standard error ``se = sqrt(sum(c^2 (r - a c)^2)) / sum(c c)`` (White 1980;
    observation noise is independent of ``c``, so ``a`` is unbiased). With ``clusters``
    (an integer label per element, e.g. the coarse cell of a gridded residual), the
    cluster-robust form ``sqrt(sum_g (sum_{i in g} c_i (r_i - a c_i))^2) / sum(c c)``
    (Liang & Zeger 1986), which allows errors correlated within a cluster, and the
    clusters count as the observations. No weight unless
    ``a > SKILL_Z se`` and there are at least :data:`MIN_VERIFY` observations (the
    verification cannot tell otherwise); then the posterior mean of the slope under a
    prior ``N(0, PRIOR_SD^2)``, ``a tau^2 / (tau^2 + se^2)``, clipped to [0, 1]. Using
    ``w`` instead of 0 lowers the expected squared error by ``(2 a* w - w^2) |c|^2``
    for a true slope ``a*``, which is positive whenever ``0 < w < 2 a*``: the test and
    the shrinkage make ``w`` small where ``a*`` may be small.
    """
    cc = float(c @ c)
    n = r.size if clusters is None else np.unique(clusters).size
    if n < MIN_VERIFY or not cc > 0:
        return Weight(0.0, np.inf, 0.0, np.inf)
    a = float(r @ c) / cc
    score = c * (r - a * c)
    if clusters is not None:
        score = np.bincount(clusters, weights=score)
    se = float(np.sqrt(np.sum(score**2))) / cc
    tau2 = PRIOR_SD**2
    post_sd = float(np.sqrt(tau2 * se**2 / (tau2 + se**2)))
    if not a > SKILL_Z * se:
        return Weight(0.0, post_sd, a, se)
    return Weight(float(np.clip(a * tau2 / (tau2 + se**2), 0.0, 1.0)), post_sd, a, se)


#: Range of the cross-validated scale of the analysis-error std (outside it, the OI std is off by more than
#: the cross-validation can tell; see :func:`cross_validation`).
SPREAD_RANGE = (0.5, 2.0)


class Verification(NamedTuple):
    """What cross-validation on the observations says about the learned analysis (:mod:`xda.assimilation.verify`)."""

    weight: Weight  #: weight in [0, 1] of the learned correction, with its standard error
    spread: float  #: scale of the analysis-error std (and members' spread) that fits the withheld innovations
    evaluations: int  #: network evaluations spent
    members: str = "recentred"  #: how members are made: "recentred" on the estimate, "raw" (about a mean head), "pointwise"


def cross_validation(xb, ob: PointObservations, be, grid, anchor: Callable | None = None, workers: int = 1
                     ) -> Generator[list, np.ndarray, Verification]:
    """Weight of the learned correction and scale of the error std, by repeated K-fold cross-validation.

    The weight: :func:`xda.assimilation.verify.correction_weight` of the withheld OI residuals
    ``r`` on the correction ``c`` (:func:`xda.assimilation.verify.withheld`). The spread scale
    ``k`` makes the withheld residuals of the corrected analysis ``r - w c`` consistent
    with its error std: ``k^2 = (mean (r - w c)^2 - mean sigma_o^2) / mean (H s_a)^2``,
    clipped to :data:`SPREAD_RANGE` (Desroziers et al. 2005, for withheld rather than
    assimilated observations). With fewer than :data:`xda.assimilation.verify.MIN_VERIFY`
    observations: ``w = 0`` (the verification cannot tell), ``k = 1``. ``anchor``:
    :func:`xda.assimilation.anchor.oi_analyser` of ``ob`` where the caller made it already. The folds' OI
    analyses run on ``workers`` threads (:func:`xda.numerics.threads.map_in_threads`).

    A generator, so that the folds of many analyses can go through the network together:
    it yields the folds' cases ``[(x_a (ny, nx), s_a (ny, nx), observations), ...]`` once
    (none below ``MIN_VERIFY``), is sent the network's departures ``u`` of those cases
    (len(cases), ny, nx), in units of ``s_a``, and returns the :class:`Verification`.
    """
    if ob.n < MIN_VERIFY:
        return Verification(correction_weight(np.zeros(0), np.zeros(0)), 1.0, 0)
    anchor, obs = anchor or oi_analyser(xb, ob, be, grid), {"x": ob}
    tests, trains = _splits(obs)
    anchors = map_in_threads(lambda train: anchor(train["x"]), trains, workers)
    u = yield [(xa[0], sa, train["x"]) for (xa, sa), train in zip(anchors, trains)]
    r, c, s, e = _averaged(obs, tests, [{"x": (xa[0], sa * u_k, sa)} for (xa, sa), u_k in zip(anchors, u)])["x"]
    w = correction_weight(r, c)
    return Verification(w, spread_scale(r, c, s, e, w.weight), REPEATS * FOLDS)


def spread_scale(r, c, s, e, weight: float) -> float:
    """``k`` with ``k^2 = (mean (r - w c)^2 - mean e^2) / mean s^2`` at withheld observations (OI residual ``r``,
    correction ``c``, analysis-error std ``s``, observation-error std ``e``), clipped to :data:`SPREAD_RANGE`:
    the factor that makes the corrected analysis's stated error fit its actual error (Desroziers et al. 2005,
    for withheld rather than assimilated observations)."""
    k2 = (np.mean((r - weight * c) ** 2) - np.mean(e**2)) / np.mean(s**2)
    return float(np.clip(np.sqrt(max(k2, 0.0)), *SPREAD_RANGE))


def obs_table(name: str, ob: PointObservations, xb: np.ndarray, xa: np.ndarray, sa: np.ndarray, pre: np.ndarray,
              ok: np.ndarray, units: str):
    """The analysis in observation space: one row per observation of ``name`` (a pandas DataFrame).

    Columns: ``variable``, [``time``], ``lat``, ``lon``, ``observation``, ``error`` (the
    observation-error std used), ``background`` and ``analysis`` (``H x``; the members'
    mean), ``analysis_error`` (the analysis-error std ``H s_a``, interpolated), ``omb``
    (O-B) and ``oma`` (O-A), ``qc`` (True where assimilated) and ``qc_reason``, ``units``
    (the working units); with station elevations, ``elevation`` and ``height_term`` (the
    lapse-rate part of ``H``, included in ``background`` and ``analysis``). A long
    observation table: it can be passed back as ``obs``.
    """
    import pandas as pd

    offset = 0.0 if ob.offset is None else ob.offset
    hb, ha = apply(ob.operator, xb) + offset, apply(ob.operator, np.mean(xa, axis=0)) + offset
    reason = np.where(ok, "", np.where(pre, "background check", "gross error (robust pre-screen)"))
    cols = {"variable": name, **({} if ob.time is None else {"time": ob.time}), "lat": ob.lat, "lon": ob.lon,
            **({} if ob.elevation is None else {"elevation": ob.elevation}),
            "observation": ob.reported, "error": ob.error, "background": hb, "analysis": ha,
            "analysis_error": apply(ob.operator, np.broadcast_to(sa, xb.shape)), "omb": ob.reported - hb,
            "oma": ob.reported - ha, "qc": ok, "qc_reason": reason, "units": units}
    if ob.offset is not None:
        cols["height_term"] = ob.offset
    return pd.DataFrame(cols)


def desroziers(table) -> dict:
    """Desroziers et al. (2005, eq. 1): ``E[(O-B)(O-A)] = s_o^2`` for a consistent analysis; both stds in attrs."""
    t = table[table["qc"]]
    if len(t) < 2:
        return {}
    est = float(np.mean(t["omb"] * t["oma"]))
    return dict(xda_desroziers_obs_error_std=round(float(np.sqrt(max(est, 0.0))), 6),
                xda_assumed_obs_error_std=round(float(np.sqrt(np.mean(t["error"] ** 2))), 6))
