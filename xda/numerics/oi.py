"""Optimal interpolation with a spatially correlated Gaussian background-error covariance.

``x_a = x_b + B H^T (H B H^T + R)^-1 (y - H x_b)`` (Gandin 1963; Daley 1991, ch. 4),
with ``B_ij = s_i s_j rho(r_ij / L)``: background-error standard deviations ``s`` per
grid point and an isotropic correlation ``rho`` of the chordal distance ``r`` (positive
definite on the sphere because ``rho`` is positive definite in R^3). As in operational
OI, ``B H^T`` and ``H B H^T`` are evaluated from the covariance function at the
observation locations; the innovations ``y - H x_b`` use the exact bilinear operator.

For the diagonal ``R`` used here, this is also the minimiser of the 3D-Var cost
function, so the baseline is "OI / 3D-Var" at once.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import scipy.linalg
import scipy.optimize

from . import memory, threads
from .constants import EARTH_RADIUS
from .correlations import correlation, correlation_between, covariance_matrix


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Cartesian unit vectors (n, 3) of points in degrees."""
    la, lo = np.deg2rad(np.ravel(lat)), np.deg2rad(np.ravel(lon))
    c = np.cos(la)
    return np.stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)], axis=1)


def chordal_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Chordal distances (m) between unit vectors ``p`` (n, 3) and ``q`` (m, 3): (n, m)."""
    d = p @ q.T  # in place from here: (n, m) may be tens of MB
    d *= -2.0
    d += 2.0
    np.maximum(d, 0.0, out=d)
    np.sqrt(d, out=d)
    d *= EARTH_RADIUS
    return d


def oi_increment(
    innovation: np.ndarray,
    grid_xyz: np.ndarray,
    obs_xyz: np.ndarray,
    sigma_grid: np.ndarray,
    sigma_obs_b: np.ndarray,
    obs_error: np.ndarray,
    length_scale: float,
    kind: str = "soar",
) -> np.ndarray:
    """Analysis increment ``B H^T (H B H^T + R)^-1 d`` on the grid points.

    Parameters
    ----------
    innovation : ndarray, shape (n_obs,)
        ``d = y - H x_b``.
    grid_xyz : ndarray, shape (n_grid, 3)
        Unit vectors of the grid points.
    obs_xyz : ndarray, shape (n_obs, 3)
        Unit vectors of the observations.
    sigma_grid : ndarray, shape (n_grid,)
        Background-error standard deviation at the grid points.
    sigma_obs_b : ndarray, shape (n_obs,)
        Background-error standard deviation at the observation points (``H s``).
    obs_error : ndarray, shape (n_obs,)
        Observation-error standard deviation (``R = diag(obs_error**2)``).
    length_scale : float
        Correlation length scale (m).

    Returns
    -------
    ndarray, shape (n_grid,)
    """
    return oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind,
                       variance=False)[0]


#: Most observations solved together in one dense system ``H B H^T + R`` (n^2 doubles: 72 MB at 3000).
#: Above it the analysis is local (:func:`local_oi_analysis`).
MAX_DENSE = 3000
#: Observations per local analysis above :data:`MAX_DENSE` (the nearest to each tile of grid points).
LOCAL_OBS = 500
#: Width (degrees of latitude and, at each latitude, of great-circle longitude) of the local analyses' tiles.
TILE_DEGREES = 15.0


def oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind="soar",
                variance: bool = True, max_dense: int | None = None, local_obs: int | None = None,
                tile_degrees: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Increment (as :func:`oi_increment`) and, with ``variance``, the analysis-error variance.

    Up to ``max_dense`` observations, one dense solve (:func:`dense_oi_analysis`); above,
    a local analysis in tiles with the ``local_obs`` nearest observations each
    (:func:`local_oi_analysis`), whose memory does not grow with the observation count.
    Unset, the three come from the module's :data:`MAX_DENSE`, :data:`LOCAL_OBS` and
    :data:`TILE_DEGREES` (which may be set, e.g. ``xda.numerics.oi.MAX_DENSE = 10_000``).

    Returns
    -------
    increment : ndarray, shape (n_grid,)
    variance : ndarray, shape (n_grid,), or None
        Working units squared, floored at 0.
    """
    if obs_xyz.shape[0] <= (MAX_DENSE if max_dense is None else max_dense):
        if 8.0 * (grid_xyz.shape[0] + obs_xyz.shape[0]) * obs_xyz.shape[0] <= CACHE_BYTES:
            return cached_dense_oi(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale,
                                   kind, variance)
        return dense_oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind,
                                 variance)
    return local_oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind,
                             variance, LOCAL_OBS if local_obs is None else local_obs,
                             TILE_DEGREES if tile_degrees is None else tile_degrees)


def solver(n_obs: int) -> str:
    """How :func:`oi_analysis` solves for ``n_obs`` observations, in words (for provenance attrs)."""
    if n_obs <= MAX_DENSE:
        return f"dense: all {n_obs} observations in one solve"
    return f"local: the {LOCAL_OBS} nearest of {n_obs} observations for each {TILE_DEGREES:g}-degree tile"


def dense_oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind="soar",
                      variance: bool = True, correlations: tuple | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """All observations in one solve: one Cholesky factor ``L`` of ``K = H B H^T + R``.

    One pass over blocks of grid points serves both the increment
    ``s_i (rho_io s_o) . K^-1 d`` and the diagonal of ``A = B - B H^T K^-1 H B``,
    ``s_i^2 - |L^-1 (H B)_i|^2`` (Daley 1991, eq. 4.2.17). Memory: about four
    ``n_obs^2`` arrays at the peak and blocks of at most 4 million grid-observation pairs; refused with
    :class:`~xda.errors.ResourceError` before allocating when that cannot fit. ``correlations``:
    ``(rho_go (n, n_obs), rho_oo (n_obs, n_obs))`` computed beforehand (:class:`Network`).
    """
    n, n_obs = grid_xyz.shape[0], obs_xyz.shape[0]
    block = _require_dense(n, n_obs)
    if correlations is None:
        k = innovation_covariance(obs_xyz, sigma_obs_b, obs_error, length_scale, kind)
    else:
        k = covariance_of(correlations[1].copy(), sigma_obs_b, obs_error)
    factor = scipy.linalg.cho_factor(k, lower=True, overwrite_a=True)
    weights = sigma_obs_b * scipy.linalg.cho_solve(factor, innovation)
    inc, var = np.empty(n), (np.empty(n) if variance else None)
    for s in range(0, n, block):  # bound memory on large grids
        sg = sigma_grid[s : s + block]
        c_go = (correlation_between(grid_xyz[s : s + block], obs_xyz, length_scale, kind)
                if correlations is None else correlations[0][s : s + block])
        inc[s : s + block] = sg * (c_go @ weights)
        if variance:
            var[s : s + block] = _variance(factor, c_go, sigma_obs_b, sg)
    return inc, var


def _require_dense(n: int, n_obs: int, kept: int = 0) -> int:
    """Refuse a dense solve that cannot fit (:class:`~xda.errors.ResourceError`, before allocating): about four
    ``n_obs^2`` arrays, blocks of at most 4 million grid-observation pairs and ``kept`` more pairs kept; returns
    the block's rows."""
    block = max(64, int(4e6) // max(n_obs, 1))
    memory.require(8.0 * (4 * n_obs**2 + 6 * min(n, block) * n_obs + kept), f"a dense OI solve of {n_obs} observations",
                   f"let the local analysis take over (it does above {MAX_DENSE} observations), thin the observations "
                   "or shorten the window")
    return block


def _variance(factor, c_go: np.ndarray, sigma_obs_b, sg) -> np.ndarray:
    """``s_i^2 - |L^-1 (H B)_i|^2`` of grid points with correlations ``c_go`` and stds ``sg``, floored at 0."""
    v = scipy.linalg.solve_triangular(factor[0], (c_go * sigma_obs_b[None, :]).T, lower=True, overwrite_b=True)
    return np.maximum(sg**2 * (1.0 - np.einsum("ij,ij->j", v, v)), 0.0)


#: Most bytes of one network's factorisation and grid-observation correlations kept between calls
#: (:func:`cached_dense_oi`); larger problems are solved block by block and forgotten.
CACHE_BYTES = 256 * 2**20
_CORRELATIONS: dict = {}
_SOLVES: dict = {}
_WITHHOLDINGS: dict = {}


def _kept(cache: dict, key: str):
    """What ``cache`` keeps under ``key`` (now the most recently used), or None."""
    entry = cache.pop(key, None)  # a local reference: another thread may change the cache meanwhile
    if entry is None:
        return None
    cache[key] = entry
    return entry[0]


def _keep(cache: dict, key: str, value, nbytes: int) -> None:
    """Keep ``value`` under ``key``, forgetting the least recently used entries until ``cache`` holds at most
    :data:`CACHE_BYTES` (several networks fit: the variables of a joint analysis, each with its observations)."""
    while cache and sum(n for _, n in list(cache.values())) + nbytes > CACHE_BYTES:
        cache.pop(next(iter(list(cache))), None)
    cache[key] = (value, nbytes)


#: Locks of the caches' keys, striped: threads that need the same factorisation wait for the first to make it.
_STRIPES = tuple(threading.Lock() for _ in range(64))


def _kept_or_made(cache: dict, key: str, make, size) -> object:
    """What ``cache`` keeps under ``key``, else ``make()``, then kept (``size(value)`` bytes). Threads analysing
    several times on one network (:func:`xda.numerics.threads.map_in_threads`) make each thing once: a second
    thread that needs the same key waits for the first (one lock per stripe of keys; ``make`` takes no lock)."""
    with _STRIPES[int(key[:8], 16) % len(_STRIPES)]:
        value = _kept(cache, key)
        if value is None:
            value = make()
            _keep(cache, key, value, size(value))
    return value


def clear_cache() -> None:
    """Forget the kept factorisations and correlations (:func:`cached_dense_oi`, :func:`cached_withholding`)."""
    _CORRELATIONS.clear()
    _SOLVES.clear()
    _WITHHOLDINGS.clear()


def _digest(*items) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in items:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.view(np.uint8).ravel())
    return h.hexdigest()


def grid_obs_correlation(grid_xyz, obs_xyz, length_scale: float, kind: str = "soar") -> np.ndarray:
    """``rho(r_io / L)`` (n, n_obs) of grid points and observations; the most recent ones are kept (up to
    :data:`CACHE_BYTES`), so the analyses and the cross-validation folds of a network share them."""
    return _kept_or_made(_CORRELATIONS, _digest(grid_xyz, obs_xyz, length_scale, kind),
                         lambda: correlation_between(grid_xyz, obs_xyz, length_scale, kind), lambda rho: rho.nbytes)


def cached_dense_oi(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind="soar",
                    variance: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`dense_oi_analysis`, keeping the recent networks' factors of ``K``, their grid-observation
    correlations and analysis-error variances: the analyses of many times with the same observation
    positions, errors and ``B`` (a station network, a fixed mask) cost one solve each after the first.
    Keyed by a digest of every input but the innovations; at most :data:`CACHE_BYTES` of correlations and as
    much of factors, the least recently used forgotten first."""
    block = _require_dense(grid_xyz.shape[0], obs_xyz.shape[0], grid_xyz.shape[0] * obs_xyz.shape[0])
    key = _digest(grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind)
    factor = lambda: [scipy.linalg.cho_factor(innovation_covariance(obs_xyz, sigma_obs_b, obs_error, length_scale, kind),  # noqa: E731
                                              lower=True, overwrite_a=True), None]
    solve = _kept_or_made(_SOLVES, key, factor, lambda s: s[0][0].nbytes + 8 * grid_xyz.shape[0])
    rho_go = grid_obs_correlation(grid_xyz, obs_xyz, length_scale, kind)
    inc = sigma_grid * (rho_go @ (sigma_obs_b * scipy.linalg.cho_solve(solve[0], innovation)))
    if variance and solve[1] is None:  # blocks of grid points, on the cores BLAS leaves (threads.workers_for_analysis)
        n, workers = grid_xyz.shape[0], threads.workers_for_analysis(grid_xyz.shape[0])
        size = min(block, -(-n // workers))
        solve[1] = np.concatenate(threads.map_in_threads(
            lambda s: _variance(solve[0], rho_go[s : s + size], sigma_obs_b, sigma_grid[s : s + size]),
            range(0, n, size), workers))
    return inc, (solve[1].copy() if variance else None)


class Network:
    """A grid and one set of observation positions, their correlations computed once: the dense OI of any
    subset of the observations (the folds of a cross-validation) with the same ``L`` and family.

    ``rho_go`` (n, n_obs) and ``rho_oo`` are the parts of :func:`dense_oi_analysis` that do not depend on
    which observations are used, ``s`` or ``R``; each subset's analysis then costs its Cholesky factor and
    its triangular solve. :meth:`fits` says whether the correlations fit in :data:`CACHE_BYTES`.
    """

    def __init__(self, grid_xyz: np.ndarray, obs_xyz: np.ndarray, length_scale: float, kind: str = "soar"):
        self.grid_xyz, self.obs_xyz = grid_xyz, obs_xyz
        self.length_scale, self.kind = length_scale, kind
        self.rho_go = grid_obs_correlation(grid_xyz, obs_xyz, length_scale, kind)
        self.rho_oo = correlation_between(obs_xyz, obs_xyz, length_scale, kind)

    @staticmethod
    def fits(n_grid: int, n_obs: int) -> bool:
        """Whether the correlations of ``n_grid`` points and ``n_obs`` observations fit, and one dense solve does."""
        return n_obs <= MAX_DENSE and 8.0 * (n_grid + n_obs) * n_obs <= CACHE_BYTES

    def analysis(self, idx: np.ndarray, innovation, sigma_grid, sigma_obs_b, obs_error,
                 variance: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """:func:`dense_oi_analysis` of the observations ``idx`` (indices into the network's) with innovations,
        background-error stds and observation errors (each (len(idx),)) and ``sigma_grid`` (n,)."""
        idx = np.asarray(idx)
        return dense_oi_analysis(innovation, self.grid_xyz, self.obs_xyz[idx], sigma_grid, sigma_obs_b, obs_error,
                                 self.length_scale, self.kind, variance,
                                 correlations=(self.rho_go[:, idx], self.rho_oo[np.ix_(idx, idx)]))


class Withholding:
    """The dense OI of all observations of a :class:`Network` for given ``s`` and ``R``, kept so that the
    analysis *without* any subset ``W`` of them (a cross-validation fold) costs solves of size ``|W|`` only.

    With ``P = K^-1`` of all observations, the inverse of the retained block is
    ``K_RR^-1 = P_RR - P_RW P_WW^-1 P_WR`` (the partitioned inverse; Golub & Van Loan 2013,
    sec. 3.2; as in the closed-form leave-out of Sundararajan & Keerthi 2001). Hence, with
    ``U = P S_o rho_og`` (n_obs, n) and ``q_i = (rho S_o U)_ii`` kept, a fold's analysis-error
    variance is ``s_i^2 (1 - q_i + |L_W^-1 U_W|_i^2)`` (``L_W L_W^T = P_WW``) and its increment
    ``s_i rho_io s_o z_o`` with ``z_R = (P d)_R - P_RW P_WW^-1 (P d)_W`` (``d`` zero on ``W``).
    The same numbers as :meth:`Network.analysis` of the retained observations (tested), for
    ``|W|^2 n`` work instead of ``|R|^2 n``. Memory: one (n_obs, n) array besides the network's
    (``U = (P S_o) rho_go^T``: the scaled correlations are never formed), kept by rows so that a fold's
    rows are read contiguously and solved from the right (BLAS ``dtrsm``) without a copy.
    """

    def __init__(self, net: Network, sigma_grid, sigma_obs_b, obs_error):
        n, n_obs = net.rho_go.shape
        memory.require(8.0 * (n * n_obs + 3 * n_obs**2), f"the cross-validation of {n_obs} observations",
                       "thin the observations or pass verify=False")
        k = covariance_of(net.rho_oo.copy(), sigma_obs_b, obs_error)
        self.p = inverse_from_factor(scipy.linalg.cho_factor(k, lower=True, overwrite_a=True)[0])
        self.rho_go, self.sigma_grid, self.sigma_obs_b = net.rho_go, np.asarray(sigma_grid), np.asarray(sigma_obs_b)
        self.u, self.q = np.empty((n_obs, n)), np.empty(n)  # U (n_obs, n), by blocks of grid points on the cores
        ps = self.p * self.sigma_obs_b[None, :]

        def block(rows: slice) -> None:
            self.u[:, rows] = ps @ net.rho_go[rows].T
            self.q[rows] = np.einsum("io,oi,o->i", net.rho_go[rows], self.u[:, rows], self.sigma_obs_b)

        workers = threads.workers_for_analysis(n)
        threads.map_in_threads(block, threads.split(n, workers), workers)

    def analysis(self, keep: np.ndarray, innovation) -> tuple[np.ndarray, np.ndarray]:
        """Increment and analysis-error variance (n,) from the observations ``keep`` (bool (n_obs,)) alone, with
        their innovations (``keep.sum()``,) in the network's order."""
        d = np.zeros(keep.size)
        d[keep] = innovation
        y, q = self.p @ d, self.q
        w = np.flatnonzero(~keep)
        if w.size:
            lw = scipy.linalg.cholesky(self.p[np.ix_(w, w)], lower=True)
            y[keep] -= self.p[np.ix_(np.flatnonzero(keep), w)] @ scipy.linalg.cho_solve((lw, True), y[w])
            y[w] = 0.0
            t = scipy.linalg.blas.dtrsm(1.0, lw, self.u[w].T, side=1, lower=1, trans_a=1, overwrite_b=1)  # U_W^T L_W^-T
            q = q - np.einsum("ij,ij->i", t, t)
        inc = self.sigma_grid * (self.rho_go @ (self.sigma_obs_b * y))
        return inc, np.maximum(self.sigma_grid**2 * (1.0 - q), 0.0)


def cached_withholding(net: Network, sigma_grid, sigma_obs_b, obs_error) -> Withholding:
    """:class:`Withholding` of ``net`` for these stds and errors, kept like :func:`cached_dense_oi`'s factors: the
    verifications of many times on one observation network with one ``B`` (a station network, a fixed mask, a
    given ``B``) factorise it once. Keyed by a digest of the positions, ``L``, the family and the stds; the least
    recently used forgotten first (:data:`CACHE_BYTES`)."""
    key = _digest(net.grid_xyz, net.obs_xyz, net.length_scale, net.kind, sigma_grid, sigma_obs_b, obs_error)
    return _kept_or_made(_WITHHOLDINGS, key, lambda: Withholding(net, sigma_grid, sigma_obs_b, obs_error),
                         lambda w: w.u.nbytes + w.p.nbytes + w.q.nbytes)


def tiles(grid_xyz: np.ndarray, degrees: float = TILE_DEGREES) -> list[np.ndarray]:
    """Grid points grouped into tiles about ``degrees`` wide (equal-area bands of latitude, each cut into
    ``360 cos(lat) / degrees`` sectors of longitude); a list of index arrays, none empty."""
    lat = np.rad2deg(np.arcsin(np.clip(grid_xyz[:, 2], -1.0, 1.0)))
    lon = np.rad2deg(np.arctan2(grid_xyz[:, 1], grid_xyz[:, 0])) % 360.0
    band = np.minimum(np.floor((lat + 90.0) / degrees), np.floor(180.0 / degrees) - 1).astype(np.int64)
    centre = -90.0 + (band + 0.5) * degrees
    sectors = np.maximum(1, np.round(360.0 * np.cos(np.deg2rad(centre)) / degrees)).astype(np.int64)
    key = band * 100_000 + np.minimum(np.floor(lon / 360.0 * sectors), sectors - 1).astype(np.int64)
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, cuts)


def local_oi_analysis(innovation, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind="soar",
                      variance: bool = True, local_obs: int = LOCAL_OBS,
                      tile_degrees: float = TILE_DEGREES) -> tuple[np.ndarray, np.ndarray | None]:
    """OI as a local analysis: each tile of grid points (:func:`tiles`) is analysed with the ``local_obs``
    observations nearest its centre (the data selection of operational OI; Lorenc 1981, Daley 1991 sec. 4.5).

    Memory is bounded by ``local_obs^2`` and ``tile size x local_obs``, whatever the
    number of observations; time grows with the number of tiles times ``local_obs^3``.
    Where every tile selects all observations it is exactly :func:`dense_oi_analysis`.
    Elsewhere the far observations left out carry little weight once nearer ones screen
    them (Daley 1991, sec. 4.6), so the answer stays close to the dense solve; the
    analysis-error variance is that of the local analysis.
    """
    import scipy.spatial

    tree = scipy.spatial.cKDTree(obs_xyz)  # Euclidean distance of unit vectors = chordal distance
    k = min(int(local_obs), obs_xyz.shape[0])
    inc = np.empty(grid_xyz.shape[0])
    var = np.empty(grid_xyz.shape[0]) if variance else None
    for idx in tiles(grid_xyz, tile_degrees):
        centre = grid_xyz[idx].mean(axis=0)
        centre /= max(np.linalg.norm(centre), 1e-12)
        near = np.sort(np.atleast_1d(tree.query(centre, k=k)[1]))
        i, v = dense_oi_analysis(innovation[near], grid_xyz[idx], obs_xyz[near], sigma_grid[idx], sigma_obs_b[near],
                                 obs_error[near], length_scale, kind, variance)
        inc[idx] = i
        if variance:
            var[idx] = v
    return inc, var


def binned_covariance(
    values: np.ndarray, xyz: np.ndarray, bin_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean product of pairs of anomalies, binned by separation.

    Parameters
    ----------
    values : ndarray, shape (n_samples, n_points)
        Anomalies (innovations or background errors), NaN where absent.
    xyz : ndarray, shape (n_points, 3)
        Unit vectors of the points.
    bin_edges : ndarray, shape (n_bins + 1,)
        Distance bin edges in m. Pairs ``i == j`` are excluded.

    Returns
    -------
    centers, cov, count : ndarrays, shape (n_bins,)
    """
    v = np.nan_to_num(values)
    ok = np.isfinite(values).astype(np.float64)
    prod = v.T @ v  # sum over samples of products, (n_points, n_points)
    npair = ok.T @ ok
    r = chordal_distance(xyz, xyz)
    iu = np.triu_indices(r.shape[0], k=1)
    r, prod, npair = r[iu], prod[iu], npair[iu]
    which = np.digitize(r, bin_edges) - 1
    nb = bin_edges.size - 1
    keep = (which >= 0) & (which < nb)
    s = np.bincount(which[keep], prod[keep], nb)
    c = np.bincount(which[keep], npair[keep], nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = s / c
    return 0.5 * (bin_edges[1:] + bin_edges[:-1]), cov, c


def fit_covariance(
    centers: np.ndarray, cov: np.ndarray, count: np.ndarray, kind: str = "soar"
) -> tuple[float, float]:
    """Fit ``var_b * rho(r / L)`` to binned covariances (Hollingsworth & Lonnberg 1986).

    Weighted least squares (weights: pair counts) over bins with at least 10 pairs.

    Returns
    -------
    var_b : float
        Background-error variance (the extrapolation of the fit to zero separation).
    length_scale : float
        Correlation length scale (m).
    """
    ok = np.isfinite(cov) & (count >= 10)
    r, c, w = centers[ok], cov[ok], np.sqrt(count[ok])
    if r.size < 3:
        raise ValueError("too few pairs of points to fit a covariance model (need >= 3 distance bins)")

    def resid(p):
        return w * (p[0] * correlation(r, np.exp(p[1]), kind) - c)

    p0 = [max(c[0], 1e-12), np.log(max(r[np.argmax(c < 0.5 * c[0])], r[0]) if np.any(c < 0.5 * c[0]) else r[-1])]
    sol = scipy.optimize.least_squares(resid, p0, bounds=([0, np.log(1e4)], [np.inf, np.log(2e7)]))
    return float(sol.x[0]), float(np.exp(sol.x[1]))


def innovation_covariance(obs_xyz, sigma_obs_b, obs_error, length_scale, kind="soar") -> np.ndarray:
    """``H B H^T + R`` (n_obs, n_obs) for the covariance model of :func:`oi_increment`."""
    return covariance_matrix(chordal_distance(obs_xyz, obs_xyz), length_scale, kind, sigma_obs_b, obs_error)


def covariance_of(rho: np.ndarray, sigma_obs_b, obs_error) -> np.ndarray:
    """``K = S rho S + R`` (n_obs, n_obs) from the observations' correlations ``rho``, which it overwrites (pass a
    copy to keep them), their background-error stds and their error stds."""
    sigma_obs_b = np.asarray(sigma_obs_b, np.float64)
    rho *= sigma_obs_b[:, None]
    rho *= sigma_obs_b[None, :]
    rho[np.diag_indices_from(rho)] += np.asarray(obs_error, np.float64) ** 2
    return rho


def inverse_from_factor(lower: np.ndarray, full: bool = True) -> np.ndarray:
    """``K^-1`` from the lower Cholesky factor of ``K`` (LAPACK ``dpotri``: a third of solving ``K X = I``), in
    place of ``lower``; ``full`` mirrors its lower triangle into the upper one (else only the lower triangle and the
    diagonal are meaningful)."""
    kinv, info = scipy.linalg.lapack.dpotri(lower, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri failed (info {info})")
    if full:
        kinv = np.tril(kinv)
        kinv += np.tril(kinv, -1).T
    return kinv


def loo_innovation_error(innovation, obs_xyz, sigma_obs_b, obs_error, length_scale, kind="soar") -> np.ndarray:
    """Leave-one-out innovations: each observation's innovation minus the OI prediction from the others.

    For a Gaussian innovation vector ``d ~ N(0, K)``, ``K = H B H^T + R``, the error of
    predicting ``d_i`` from all other innovations is ``(K^-1 d)_i / (K^-1)_ii``
    (Rasmussen & Williams 2006, eq. 5.12; one Cholesky for all ``n`` withholdings).
    Its mean square is the withheld-observation error of the OI analysis plus the
    observation-error variance, the cross-validation score minimised by
    :func:`xda.assimilation.covariance.tune`.

    Returns
    -------
    error : ndarray, shape (n_obs,)
        Withheld innovation errors (working units).
    variance : ndarray, shape (n_obs,)
        Their predicted variances ``1 / (K^-1)_ii`` under the model (for the
        leave-one-out predictive log-likelihood, Rasmussen & Williams eq. 5.10).
    """
    k = innovation_covariance(obs_xyz, sigma_obs_b, obs_error, length_scale, kind)
    cf = scipy.linalg.cho_factor(k, lower=True)
    diag = np.diag(inverse_from_factor(cf[0].copy(), full=False)).copy()  # K^-1's diagonal is all we need
    return scipy.linalg.cho_solve(cf, innovation) / diag, 1.0 / diag


def analysis_error_variance(grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind="soar") -> np.ndarray:
    """Diagonal of the analysis-error covariance ``A = B - B H^T (H B H^T + R)^-1 H B`` on the grid.

    Exact for the Gaussian model of :func:`oi_increment` (Daley 1991, eq. 4.2.17); see
    :func:`oi_analysis`, which gives it together with the increment. Shape (n_grid,),
    working units squared.
    """
    zero = np.zeros(obs_xyz.shape[0])
    return oi_analysis(zero, grid_xyz, obs_xyz, sigma_grid, sigma_obs_b, obs_error, length_scale, kind)[1]


def pointwise_members(xa: np.ndarray, sa: np.ndarray, members: int, seed=None) -> np.ndarray:
    """``members`` draws of ``x_a + s_a z``, ``z`` white standard normal: the OI posterior's marginals point by
    point (no spatial correlation), (members, *xa.shape). The ensemble of last resort, where no learned sampler
    applies."""
    rng = np.random.default_rng(seed)
    return xa[None] + sa[None] * rng.standard_normal((members, *np.shape(sa)))
