"""Isotropic correlation functions of distance and the covariance matrices built from them (numba kernels).

``rho(r / L)`` for the three families of :func:`correlation`, its derivative in ``log L``
(:func:`correlation_dlogl`), the correlations of two sets of points on the sphere straight from
their unit vectors (:func:`correlation_between`), and ``K = S rho S + R`` in one pass
(:func:`covariance_matrix`).
These are the inner loop of the OI (a grid's correlations with every observation) and of the
search for ``B`` (one ``K`` per likelihood evaluation): each element is computed once in a
fused loop, where the whole-array form makes five to seven passes over arrays of tens of MB.
The kernels are serial on purpose: numba's OpenMP pool does not survive a ``fork``, and an OI
runs in the forked workers of training banks and of users' process pools. They release the GIL,
so that threads (dask's threaded scheduler) analyse several times at once.
:mod:`xda.numerics.reference` keeps the whole-array form; the tests check these against it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .constants import EARTH_RADIUS

#: The families, in the order of the kernels' ``kind`` code.
KINDS = ("soar", "matern52", "gaussian")
_FASTMATH = {"contract", "reassoc", "arcp", "nsz"}


def _code(kind: str) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown correlation {kind!r}; use 'soar', 'matern52' or 'gaussian'")
    return KINDS.index(kind)


def _inverse_scale(length_scale: float, kind: str) -> float:
    """``x = r * this``: ``r / L``, or ``sqrt(5) r / L`` for the Matern 5/2."""
    return (np.sqrt(5.0) if kind == "matern52" else 1.0) / float(length_scale)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _rho(x, kind):
    if kind == 0:
        return (1.0 + x) * math.exp(-x)
    if kind == 1:
        return (1.0 + x + x * x / 3.0) * math.exp(-x)
    return math.exp(-0.5 * x * x)


@numba.njit(cache=True, fastmath=_FASTMATH)
def _drho(x, kind):
    """``-x rho'(x)``."""
    if kind == 0:
        return x * x * math.exp(-x)
    if kind == 1:
        return x * x * (1.0 + x) / 3.0 * math.exp(-x)
    return x * x * math.exp(-0.5 * x * x)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _map(r, inv_scale, kind, derivative, out):
    for i in range(r.size):
        x = r[i] * inv_scale
        out[i] = _drho(x, kind) if derivative else _rho(x, kind)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _scaled(dist, inv_scale, kind, derivative, s, e2, out):
    n = dist.shape[0]
    for i in range(n):
        si = s[i]
        for j in range(n):
            x = dist[i, j] * inv_scale
            out[i, j] = si * s[j] * (_drho(x, kind) if derivative else _rho(x, kind))
        out[i, i] += e2[i]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _between(p, q, radius_scale, kind, out):
    for i in range(p.shape[0]):
        px, py, pz = p[i, 0], p[i, 1], p[i, 2]
        for j in range(q.shape[0]):  # |p - q|: exact 0 for coinciding points, unlike sqrt(2 - 2 p.q)
            dx, dy, dz = px - q[j, 0], py - q[j, 1], pz - q[j, 2]
            out[i, j] = _rho(radius_scale * math.sqrt(dx * dx + dy * dy + dz * dz), kind)


def _elementwise(r, length_scale: float, kind: str, derivative: bool) -> np.ndarray:
    code = _code(kind)
    r = np.asarray(r, np.float64)
    flat = np.ascontiguousarray(r).reshape(-1)
    out = np.empty(flat.size)
    _map(flat, _inverse_scale(length_scale, kind), code, derivative, out)
    return out.reshape(r.shape)


def correlation(r, length_scale: float, kind: str = "soar") -> np.ndarray:
    """Isotropic correlation of distance ``r`` (m, any shape) for length scale ``L`` (m); a new array.

    ``soar``: second-order auto-regressive ``(1 + r/L) exp(-r/L)`` (Daley 1991, eq. 4.3.19;
    the Matern function of smoothness 3/2 with ``L`` scaled by ``sqrt 3``);
    ``matern52``: Matern of smoothness 5/2, ``(1 + x + x^2/3) exp(-x)``, ``x = sqrt(5) r/L``
    (Rasmussen & Williams 2006, eq. 4.17), between SOAR and the Gaussian in smoothness;
    ``gaussian``: ``exp(-r^2 / 2L^2)``. All three are positive definite in R^3, hence on
    the sphere for chordal ``r``.

    Raises
    ------
    ValueError
        For another ``kind``.
    """
    return _elementwise(r, length_scale, kind, False)


def correlation_dlogl(r, length_scale: float, kind: str = "soar") -> np.ndarray:
    """``d rho / d log L`` of :func:`correlation` at distance ``r`` (m): ``-x rho'(x)`` with ``x = r / L``
    (``sqrt(5) r / L`` for the Matern 5/2), the derivative the gradient of a likelihood in ``L`` needs."""
    return _elementwise(r, length_scale, kind, True)


def correlation_between(p: np.ndarray, q: np.ndarray, length_scale: float, kind: str = "soar") -> np.ndarray:
    """:func:`correlation` of the chordal distances between unit vectors ``p`` (n, 3) and ``q`` (m, 3): (n, m).

    ``correlation(xda.numerics.oi.chordal_distance(p, q), L, kind)`` in one pass that writes only
    the result: a grid's correlations with every observation are the largest array of an OI
    (64 x 128 points and 800 observations: 55 MB), and the distances would be a second one as
    large. The chord is ``|p - q|``, exactly 0 for coinciding points (``sqrt(2 - 2 p.q)`` leaves
    up to 0.1 m there).

    Raises
    ------
    ValueError
        For another ``kind``.
    """
    code = _code(kind)
    p, q = (np.ascontiguousarray(a, np.float64).reshape(-1, 3) for a in (p, q))
    out = np.empty((p.shape[0], q.shape[0]))
    _between(p, q, EARTH_RADIUS * _inverse_scale(length_scale, kind), code, out)
    return out


def covariance_matrix(dist: np.ndarray, length_scale: float, kind: str, s, error=None, derivative: bool = False) -> np.ndarray:
    """``K = S rho S + R`` in one pass: ``s_i s_j rho(r_ij / L) + delta_ij e_i^2`` (n, n) of observations at
    distances ``dist`` (n, n) (m) with background-error stds ``s`` (n,) and error stds ``error`` (n,; default
    none); with ``derivative``, ``dK / d log L`` (``rho`` replaced by :func:`correlation_dlogl`, no ``R``)."""
    dist = np.ascontiguousarray(dist, np.float64)
    n = dist.shape[0]
    s = np.ascontiguousarray(np.broadcast_to(np.asarray(s, np.float64), (n,)))
    e2 = np.zeros(n) if error is None or derivative else np.broadcast_to(np.asarray(error, np.float64), (n,)) ** 2
    out = np.empty(dist.shape)
    _scaled(dist, _inverse_scale(length_scale, kind), _code(kind), derivative, s, np.ascontiguousarray(e2), out)
    return out
