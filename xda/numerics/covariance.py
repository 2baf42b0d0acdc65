"""Choosing the background-error covariance ``B`` (plain arrays, working units, metres).

``B_ij = s_i s_j rho(r_ij / L)`` (:mod:`xda.numerics.oi`). Three estimators of its
parameters, each by cross-validation rather than by a curve fit alone:

* :func:`fit_correlation` -- the Hollingsworth & Lonnberg (1986) fit of ``rho`` to
  binned correlations of *known* (normalised) errors: intercept 1, bins up to the first
  zero crossing (beyond it the sample correlation is noise and negative lobes that no
  positive-definite isotropic family can follow).
* :func:`archive_cv_error` -- the error of OI estimates of an archive's known
  background errors from pseudo-observations at the user's positions: the score that
  chooses the correlation family and ``L`` for an archive B.
* :func:`loo_nll` -- the leave-one-out predictive negative log-likelihood of
  innovations (Rasmussen & Williams 2006, eq. 5.10-5.12), pooled over samples: the
  score of the inflation on an archive, and the data term of the empirical-Bayes B
  (:func:`fit_loo`), whose prior on ``(log s_b, log L)`` dominates at small ``n``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.optimize

from .correlations import correlation, correlation_between, covariance_matrix
from .oi import chordal_distance, innovation_covariance, inverse_from_factor

#: Bounds of the length scale (m) and of the inflation searched by :func:`fit_loo`.
LENGTH_BOUNDS = (5e4, 5e6)
INFLATION_BOUNDS = (0.2, 5.0)
#: The B search stops once an iteration improves its score by less than this (nats of the summed
#: log-likelihood), far below what the data can tell apart (a likelihood-ratio test needs about 2).
SCORE_TOL = 0.05
#: A search that starts from a close answer (a fit on a subset) stays within this factor of its L and inflation.
WARM_RANGE = 3.0


def fit_correlation(centers: np.ndarray, corr: np.ndarray, count: np.ndarray, kind: str = "soar") -> float:
    """Length scale ``L`` (m) of ``rho(r / L)`` fitted to binned correlations of normalised errors.

    Weighted least squares (weights: square root of the pair counts) with the
    intercept fixed at 1 (the errors are normalised: their correlation at zero
    separation is 1), over the bins with at least 10 pairs up to the first one whose
    correlation is <= 0 (Hollingsworth & Lonnberg 1986; a free intercept and the
    negative far lobes drag ``L`` short).

    Parameters
    ----------
    centers, corr, count : ndarray (n_bins,)
        Bin centres (m), mean correlation and pair count per bin.
    kind : str
        Correlation family (:func:`xda.numerics.oi.correlation`).

    Raises
    ------
    ValueError
        With fewer than 2 usable bins before the first zero crossing.
    """
    ok = np.isfinite(corr) & (count >= 10)
    r, c, w = centers[ok], corr[ok], np.sqrt(count[ok])
    stop = int(np.argmax(c <= 0)) if np.any(c <= 0) else r.size
    r, c, w = r[:stop], c[:stop], w[:stop]
    if r.size < 2:
        raise ValueError("too few distance bins with positive correlation to fit a correlation length (need >= 2)")

    def cost(log_l):
        return float(np.sum((w * (correlation(r, np.exp(log_l), kind) - c)) ** 2))

    sol = scipy.optimize.minimize_scalar(cost, bounds=(np.log(1e4), np.log(2e7)), method="bounded")
    return float(np.exp(sol.x))


def archive_cv_error(err_obs, err_grid, obs_xyz, grid_xyz, s_obs, s_grid, obs_error, noise, weights,
                     length_scale: float, kind: str) -> float:
    """Weighted mean squared error of OI estimates of known background errors from pseudo-observations.

    For each archive sample ``t``, pseudo-observations ``y_t = e_t(obs) + noise_t``
    (the background error at the observation positions plus observation noise) are
    analysed by OI with ``B = s s^T rho(r / L)`` and ``R = diag(obs_error^2)``; the
    estimate ``s_g rho_go s_o K^-1 y_t`` is scored against ``e_t`` at the grid points.
    One Cholesky factor serves all samples.

    Parameters
    ----------
    err_obs, noise : ndarray (T, n)
        Background errors at the observation positions and the noise added to them.
    err_grid : ndarray (T, m)
        Background errors at the scoring grid points.
    obs_xyz, grid_xyz : ndarray (n, 3), (m, 3)
        Unit vectors.
    s_obs, s_grid, obs_error : ndarray (n,), (m,), (n,)
        Background-error stds and observation-error stds (working units).
    weights : ndarray (m,)
        Area weights of the grid points (mean 1).
    length_scale : float
        ``L`` (m).
    kind : str
        Correlation family.

    Returns
    -------
    float
        Working units squared.
    """
    k = innovation_covariance(obs_xyz, s_obs, obs_error, length_scale, kind)
    gain = s_obs[:, None] * scipy.linalg.cho_solve(scipy.linalg.cho_factor(k, lower=True), (err_obs + noise).T)
    est = s_grid[:, None] * (correlation_between(grid_xyz, obs_xyz, length_scale, kind) @ gain)
    return float(np.mean(weights[:, None] * (est - err_grid.T) ** 2))


def loo_nll(innovations, obs_xyz, s_obs, obs_error, length_scale: float, kind: str) -> float:
    """Leave-one-out predictive negative log-likelihood of innovations, summed over observations and samples.

    ``d_t ~ N(0, K)``, ``K = H B H^T + R``: each ``d_ti`` is predicted from the others
    with error ``(K^-1 d_t)_i / (K^-1)_ii`` and variance ``1 / (K^-1)_ii`` (Rasmussen &
    Williams 2006, eq. 5.10-5.12); one Cholesky factor for all ``n`` withholdings of all
    samples. Constant terms are left out.

    Parameters
    ----------
    innovations : ndarray (T, n) or (n,)
        Innovations ``y - H x_b`` of ``T`` samples on the same ``n`` positions.
    obs_xyz, s_obs, obs_error, length_scale, kind
        As :func:`archive_cv_error`.
    """
    d = np.atleast_2d(innovations)
    return nll_and_gradient(d, chordal_distance(obs_xyz, obs_xyz), s_obs, obs_error, length_scale, kind, loo=True)[0]


def marginal_nll(innovations, obs_xyz, s_obs, obs_error, length_scale: float, kind: str) -> float:
    """Negative log marginal likelihood of innovations, ``d_t ~ N(0, K)``, ``K = H B H^T + R``, summed over samples.

    ``0.5 d^T K^-1 d + 0.5 log |K|`` per sample (constants left out): type-II maximum
    likelihood, the data term of empirical Bayes (Rasmussen & Williams 2006, eq. 5.8).
    Every observation informs the variance, so it is the better data term with few
    observations; :func:`loo_nll` is the more robust one to a misspecified model with many.
    """
    d = np.atleast_2d(innovations)
    return nll_and_gradient(d, chordal_distance(obs_xyz, obs_xyz), s_obs, obs_error, length_scale, kind, loo=False)[0]


def nll_and_gradient(d: np.ndarray, dist: np.ndarray, s_obs, obs_error, length_scale: float, kind: str, loo: bool,
                     gradient: bool = False) -> tuple[float, np.ndarray | None]:
    """:func:`loo_nll` (``loo``) or :func:`marginal_nll` of innovations ``d`` (T, n) at distances ``dist`` (n, n, m),
    and with ``gradient`` its derivatives in ``(log L, log a)``, ``a`` a factor on ``s_obs`` (at ``a = 1``).

    One Cholesky factor of ``K`` and, for the leave-one-out score or a gradient, ``K^-1`` from it. The
    derivatives follow Rasmussen & Williams (2006, eq. 5.9 and 5.13) with ``Z_j = K^-1 dK/d theta_j``:
    ``dK/d log a = 2 (K - R)`` costs ``O(n^2)``, ``dK/d log L`` one ``n^3`` product.
    """
    k = covariance_matrix(dist, length_scale, kind, s_obs, obs_error)
    cf = scipy.linalg.cho_factor(k, lower=True, overwrite_a=True, check_finite=False)
    alpha = scipy.linalg.cho_solve(cf, d.T, check_finite=False)  # (n, T)
    t = d.shape[0]
    value = None if loo else float(0.5 * np.sum(alpha * d.T) + t * np.sum(np.log(np.diag(cf[0]))))
    if not (loo or gradient):
        return value, None
    kinv = inverse_from_factor(cf[0], full=gradient)  # the factor is not needed after this
    diag = np.diag(kinv).copy()
    if loo:
        value = float(0.5 * t * np.sum(np.log(1.0 / diag)) + 0.5 * np.sum(alpha**2 / diag[:, None]))
    if not gradient:
        return value, None
    e2 = np.asarray(obs_error, np.float64) ** 2
    d_l = covariance_matrix(dist, length_scale, kind, s_obs, derivative=True)
    if not loo:  # 0.5 T tr(K^-1 D) - 0.5 sum_t alpha_t^T D alpha_t
        g_a = t * (k.shape[0] - np.sum(diag * e2)) - np.sum(alpha * d.T) + np.sum(e2[:, None] * alpha**2)
        g_l = 0.5 * t * np.sum(kinv * d_l) - 0.5 * np.sum(alpha * (d_l @ alpha))
        return value, np.array([g_l, g_a])
    grads = []
    for z_alpha, z_kinv_diag in ((kinv @ (d_l @ alpha), np.einsum("ij,ij->i", kinv @ d_l, kinv)),
                                 (2.0 * (alpha - kinv @ (e2[:, None] * alpha)), 2.0 * (diag - np.einsum("ij,ij,j->i", kinv, kinv, e2)))):
        lp = np.sum(alpha * z_alpha / diag[:, None]) - 0.5 * np.sum((t + np.sum(alpha**2, axis=1) / diag) * z_kinv_diag / diag)
        grads.append(-lp)
    return value, np.array(grads)


#: Fewest observations whose leave-one-out likelihood is the data term of :func:`fit_loo` (below: the marginal).
MIN_LOO = 100


class Prior(NamedTuple):
    """A Gaussian prior on ``(log s_b, log L)`` of one variable (empirical Bayes; see :func:`fit_loo`).

    ``log_sigma`` is the log of the rms background-error std in working units
    (``sd_log_sigma = inf``: no prior on it); ``log_length`` the log of ``L`` in metres.
    """

    log_sigma: float
    sd_log_sigma: float
    log_length: float
    sd_log_length: float
    correlation: str
    shape_lat: tuple = ()  #: latitudes (degrees, ascending) of the shape of s_b
    log_shape: tuple = ()  #: log(s_b / its rms) there; empty: no shape (a constant s_b)


class Fit(NamedTuple):
    """Result of :func:`fit_loo`."""

    inflation: float  #: factor on the given std shape
    length_scale: float  #: m
    correlation: str
    score: float  #: penalised leave-one-out NLL (lower is better)


def fit_loo(innovations, obs_xyz, s_obs, obs_error, length_scale: float, kinds=("soar",),
            prior: Prior | None = None, inflation: float | None = None) -> Fit:
    """Inflation ``a`` (``s -> a s``), ``L`` and family maximising the leave-one-out likelihood (plus a prior).

    Minimises ``nll(a s, L) + 0.5 ((log(a s_rms) - mu_s) / sd_s)^2 + 0.5 ((log L -
    mu_L) / sd_L)^2`` over ``(log L, log a)`` for each family in ``kinds``. The data term
    ``nll`` is :func:`loo_nll`, except with a prior and fewer than :data:`MIN_LOO`
    observations, where it is the marginal likelihood (:func:`marginal_nll`): with 5-50
    observations the leave-one-out scores are noise, while every observation still
    informs the variance (on the real cases of ``benchmarks/evaluate_oi.py`` the marginal
    term lowered the default's error at 0.5-2 % observed in 4 rows of 5). A coarse
    grid about the start (5 L x 3 a; for each family after the first, 3 L about the best
    family's point, where the families' optima lie on one ridge), then L-BFGS-B with the analytic gradient
    (:func:`nll_and_gradient`), within :data:`LENGTH_BOUNDS` and
    :data:`INFLATION_BOUNDS`; the distances are computed once. From a given ``inflation`` (a close start) the search
    stays within :data:`WARM_RANGE` of it and stops once an iteration gains less than :data:`SCORE_TOL`. The data
    term is a sum over observations, so the prior
    dominates at small ``n`` and the observations at large ``n`` (empirical Bayes:
    Carlin & Louis 2000, ch. 3). Without a prior this is the leave-one-out
    cross-validation of Rasmussen & Williams (2006, sec. 5.4.2).

    Parameters
    ----------
    innovations : ndarray (T, n) or (n,)
    obs_xyz : ndarray (n, 3)
    s_obs, obs_error : ndarray (n,)
        Shape of the background-error std and the observation-error std.
    length_scale : float
        Starting ``L`` (m).
    kinds : sequence of str
        Correlation families to compare.
    prior : Prior, optional
    inflation : float, optional
        A starting inflation that is already close (e.g. from a fit on a subset): the search starts at
        ``(length_scale, inflation)`` without the coarse grid.
    """
    d = np.atleast_2d(np.asarray(innovations, np.float64))
    dist = chordal_distance(obs_xyz, obs_xyz)
    loo = not (prior is not None and d.shape[1] < MIN_LOO)
    lo, hi = np.log([LENGTH_BOUNDS[0], INFLATION_BOUNDS[0]]), np.log([LENGTH_BOUNDS[1], INFLATION_BOUNDS[1]])
    penalty = _log_prior(prior, float(np.sqrt(np.mean(s_obs**2))))

    def objective(p, kind, gradient=True):
        q = np.clip(p, lo, hi)
        value, grad = nll_and_gradient(d, dist, np.exp(q[1]) * s_obs, obs_error, np.exp(q[0]), kind, loo, gradient)
        pv, pg = penalty(q)
        return (value + pv, grad + pg) if gradient else value + pv

    best = None
    for kind in kinds:
        start = np.log([length_scale, 1.0 if inflation is None else inflation])
        if inflation is None and best is not None:  # from the best family so far, L x 0.6-1.6
            start, stencil = np.log([best.length_scale, best.inflation]), [(dl, 0.0) for dl in np.log([0.6, 1.0, 1.6])]
        else:
            stencil = [(dl, da) for dl in np.log([0.35, 0.6, 1.0, 1.6, 2.5]) for da in np.log([0.5, 1.0, 2.0])]
        first = start if inflation is not None else min((start + p for p in np.array(stencil)),
                                                        key=lambda p: objective(p, kind, False))
        near = (lo, hi) if inflation is None else (np.maximum(lo, first - np.log(WARM_RANGE)),
                                                   np.minimum(hi, first + np.log(WARM_RANGE)))
        sol = _minimise(objective, np.clip(first, lo, hi), kind, *near, tol=-np.inf if inflation is None else SCORE_TOL)
        fit = Fit(float(np.exp(sol.x[1])), float(np.exp(sol.x[0])), kind, float(sol.fun))
        if best is None or fit.score < best.score:
            best = fit
    return best


def _minimise(objective, x0, kind: str, lo, hi, tol: float):
    """L-BFGS-B on ``objective(p, kind) -> (value, gradient)`` within ``[lo, hi]``, stopped once an iteration
    improves the value by less than ``tol``."""
    last = [np.inf]

    def stop(intermediate_result):
        if last[0] - intermediate_result.fun < tol:
            raise StopIteration
        last[0] = intermediate_result.fun

    return scipy.optimize.minimize(objective, np.clip(x0, lo, hi), args=(kind,), jac=True, method="L-BFGS-B",
                                   bounds=list(zip(lo, hi)), callback=stop,
                                   options=dict(ftol=1e-9, gtol=1e-3, maxiter=60))


def _log_prior(prior: Prior | None, s_rms: float):
    """``p -> (penalty, gradient)`` of the Gaussian prior on ``(log L, log(a s_rms))`` at ``p = (log L, log a)``."""
    def penalty(p):
        if prior is None:
            return 0.0, np.zeros(2)
        zl = (p[0] - prior.log_length) / prior.sd_log_length
        value, grad = 0.5 * zl**2, np.array([zl / prior.sd_log_length, 0.0])
        if np.isfinite(prior.sd_log_sigma):
            zs = (p[1] + np.log(s_rms) - prior.log_sigma) / prior.sd_log_sigma
            value, grad[1] = value + 0.5 * zs**2, zs / prior.sd_log_sigma
        return value, grad

    return penalty
