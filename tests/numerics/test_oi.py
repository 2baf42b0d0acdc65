import numpy as np
import pytest

from xda.assimilation.covariance import BackgroundError
from xda.assimilation.qc import background_check
from xda.numerics import correlations, oi


def test_single_observation_gain():
    """At the observation point the increment is s_b^2 / (s_b^2 + s_o^2) d."""
    xyz = oi.unit_vectors(np.array([45.0]), np.array([10.0]))
    inc = oi.oi_increment(np.array([2.0]), xyz, xyz, np.array([3.0]), np.array([3.0]), np.array([1.0]), 5e5)
    assert inc[0] == pytest.approx(9.0 / 10.0 * 2.0)


def test_two_point_closed_form():
    """Two observations, analysis at a third point, against the 2x2 algebra by hand."""
    lat, lon = np.array([40.0, 42.0]), np.array([0.0, 3.0])
    g_lat, g_lon = np.array([41.0]), np.array([1.0])
    sb, so, L = 2.0, 0.5, 4e5
    d = np.array([1.0, -0.5])
    r12 = oi.chordal_distance(oi.unit_vectors(lat[:1], lon[:1]), oi.unit_vectors(lat[1:], lon[1:]))[0, 0]
    rg = oi.chordal_distance(oi.unit_vectors(g_lat, g_lon), oi.unit_vectors(lat, lon))[0]
    c12 = (1 + r12 / L) * np.exp(-r12 / L)
    cg = (1 + rg / L) * np.exp(-rg / L)
    a = sb**2 + so**2
    b = sb**2 * c12
    det = a * a - b * b
    w = np.array([a * d[0] - b * d[1], -b * d[0] + a * d[1]]) / det
    expected = sb**2 * (cg @ w)
    inc = oi.oi_increment(d, oi.unit_vectors(g_lat, g_lon), oi.unit_vectors(lat, lon), np.array([sb]), np.full(2, sb), np.full(2, so), L)
    assert inc[0] == pytest.approx(expected, rel=1e-12)


def test_far_observations_do_not_matter():
    xyz_g = oi.unit_vectors(np.array([0.0]), np.array([0.0]))
    xyz_o = oi.unit_vectors(np.array([0.0]), np.array([180.0]))
    inc = oi.oi_increment(np.array([5.0]), xyz_g, xyz_o, np.ones(1), np.ones(1), np.ones(1), 3e5)
    assert abs(inc[0]) < 1e-10


@pytest.mark.parametrize("kind", ["soar", "gaussian"])
def test_covariance_fit_recovers_known_statistics(kind):
    """Hollingsworth-Lonnberg fit on samples of a known Gaussian process."""
    rng = np.random.default_rng(0)
    n = 300
    lat, lon = rng.uniform(30, 60, n), rng.uniform(-120, -70, n)
    xyz = oi.unit_vectors(lat, lon)
    sb, L = 3.0, 6e5
    cov = sb**2 * oi.correlation(oi.chordal_distance(xyz, xyz), L, kind) + 1e-9 * np.eye(n)
    samples = rng.multivariate_normal(np.zeros(n), cov, size=400)
    c, v, cnt = oi.binned_covariance(samples, xyz, np.linspace(0, 3e6, 31))
    var, length = oi.fit_covariance(c, v, cnt, kind)
    assert np.sqrt(var) == pytest.approx(sb, rel=0.1)
    assert length == pytest.approx(L, rel=0.15)


def test_from_innovations_needs_enough_observations():
    with pytest.raises(ValueError, match="too few"):
        BackgroundError.from_innovations(np.ones(5), np.zeros(5), np.zeros(5))


def test_background_check():
    ok = background_check(np.array([0.5, 30.0, -4.0]), np.ones(3), np.ones(3), 5.0)
    assert ok.tolist() == [True, False, True]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.floats(0.1, 10), st.floats(1e5, 2e6), st.integers(0, 2**31 - 1))
def test_oi_is_linear_in_the_innovations_and_shrinks_towards_them(n, scale, length, seed):
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(0, 360, n)
    xyz = oi.unit_vectors(lat, lon)
    d1, d2 = rng.normal(size=n), rng.normal(size=n)
    sb, so = np.full(n, 1.5), np.full(n, 0.7)
    f = lambda d: oi.oi_increment(d, xyz, xyz, sb, sb, so, length)  # noqa: E731
    np.testing.assert_allclose(f(scale * d1 + d2), scale * f(d1) + f(d2), rtol=1e-8, atol=1e-8)
    # at the observation points the analysis moves towards, never past, the observations on average
    inc = f(d1)
    assert np.dot(inc, d1) > 0 and np.sum(inc**2) <= np.sum(d1**2) + 1e-12


# ----------------------------------------------------------------------------- bounded memory (issue 13)


def _random_case(n, seed=0, region=None):
    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-90, 90, 37), np.arange(0, 360, 5.0)
    if region:
        lat, lon = np.linspace(25, 50, 26), np.linspace(235, 295, 61)
        olat, olon = rng.uniform(25, 50, n), rng.uniform(235, 295, n)
    else:
        olat, olon = np.rad2deg(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(0, 360, n)
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    d = 4 * np.sin(np.deg2rad(3 * olon)) * np.cos(np.deg2rad(olat)) + rng.normal(0, 1, n)
    g, o = oi.unit_vectors(glat, glon), oi.unit_vectors(olat, olon)
    return d, g, o, np.full(g.shape[0], 3.0), np.full(n, 3.0), np.full(n, 1.0)


@pytest.mark.parametrize("region", [False, True])
def test_local_analysis_equals_the_dense_solve_when_every_tile_sees_every_observation(region):
    args = _random_case(300, region=region)
    dense = oi.dense_oi_analysis(*args, 8e5)
    local = oi.oi_analysis(*args, 8e5, max_dense=0, local_obs=10_000)  # forced local, all observations per tile
    np.testing.assert_allclose(local[0], dense[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(local[1], dense[1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("length", [3e5, 1.5e6])
def test_local_analysis_stays_close_to_the_dense_solve_with_a_few_nearest_observations(length):
    args = _random_case(2000, seed=1)
    dense = oi.dense_oi_analysis(*args, length)
    local = oi.local_oi_analysis(*args, length, local_obs=300)
    rms = np.sqrt(np.mean(dense[0] ** 2))
    assert np.sqrt(np.mean((local[0] - dense[0]) ** 2)) < 0.02 * rms
    assert np.max(np.abs(np.sqrt(local[1]) - np.sqrt(dense[1]))) < 0.05 * 3.0


def test_tiles_cover_every_grid_point_once():
    _, g, *_ = _random_case(10)
    idx = np.concatenate(oi.tiles(g, 15.0))
    np.testing.assert_array_equal(np.sort(idx), np.arange(g.shape[0]))


def test_a_dense_solve_that_cannot_fit_is_refused_before_allocating(monkeypatch):
    from xda.errors import ResourceError

    monkeypatch.setenv("XDA_MEMORY_LIMIT", str(50e6))
    with pytest.raises(ResourceError, match="dense OI solve of 2000 observations.*local analysis"):
        oi.dense_oi_analysis(*_random_case(2000), 5e5)
    inc, _ = oi.oi_analysis(*_random_case(2000), 5e5, max_dense=1000)  # the local analysis fits
    assert np.isfinite(inc).all()


# --- the B search and the cross-validation reuse their work (issue 28) ------------------------------------------

@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["soar", "matern52", "gaussian"]), st.booleans(), st.floats(3e5, 3e6), st.floats(0.3, 3.0),
       st.integers(0, 10_000))
def test_likelihood_gradient_matches_finite_differences(kind, loo, length, inflation, seed):
    """The analytic derivatives in (log L, log a) of the leave-one-out and the marginal likelihood (R&W 2006,
    eq. 5.9, 5.13) against central differences."""
    from xda.numerics.covariance import nll_and_gradient

    rng = np.random.default_rng(seed)
    n = 40
    xyz = oi.unit_vectors(rng.uniform(-80, 80, n), rng.uniform(0, 360, n))
    dist = oi.chordal_distance(xyz, xyz)
    s, e, d = rng.uniform(20, 40, n), rng.uniform(5, 15, n), rng.normal(0, 30, (2, n))

    def f(p):
        return nll_and_gradient(d, dist, np.exp(p[1]) * s, e, np.exp(p[0]), kind, loo)[0]

    p, h = np.log([length, inflation]), 1e-5
    _, grad = nll_and_gradient(d, dist, inflation * s, e, length, kind, loo, gradient=True)
    num = [(f(p + h * np.eye(2)[j]) - f(p - h * np.eye(2)[j])) / (2 * h) for j in range(2)]
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-4 * (1 + np.abs(num).max()))


def test_the_fitted_statistics_are_the_best_of_a_fine_grid():
    """fit_loo's gradient search ends no worse than the best of a 25 x 25 grid of (L, a) about it."""
    from xda.numerics.covariance import fit_loo, loo_nll

    rng = np.random.default_rng(3)
    n = 150
    lat, lon = rng.uniform(-70, 70, n), rng.uniform(0, 360, n)
    xyz = oi.unit_vectors(lat, lon)
    k = oi.innovation_covariance(xyz, np.full(n, 30.0), np.full(n, 10.0), 1.2e6, "soar")
    d = np.linalg.cholesky(k) @ rng.standard_normal(n)
    s = np.full(n, 20.0)
    fit = fit_loo(d, xyz, s, np.full(n, 10.0), 8e5)
    grid = [loo_nll(d, xyz, a * s, np.full(n, 10.0), fit.length_scale * fl, "soar")
            for fl in np.exp(np.linspace(-0.3, 0.3, 25)) for a in fit.inflation * np.exp(np.linspace(-0.3, 0.3, 25))]
    assert fit.score <= min(grid) + 1e-6
    assert 0.7e6 < fit.length_scale < 2.0e6 and 1.2 < fit.inflation < 1.9  # truth: L = 1200 km, a = 1.5


def test_a_warm_started_search_ends_within_its_tolerance_of_the_full_one():
    """From a close start (a subset's fit), fit_loo stops early but its score is within SCORE_TOL of the cold
    search's, and its answer stays within WARM_RANGE of the start even when the start is far off."""
    from xda.numerics import covariance as ncov

    rng = np.random.default_rng(4)
    n = 200
    xyz = oi.unit_vectors(rng.uniform(-70, 70, n), rng.uniform(0, 360, n))
    k = oi.innovation_covariance(xyz, np.full(n, 30.0), np.full(n, 10.0), 1.2e6, "soar")
    d, s, e = np.linalg.cholesky(k) @ rng.standard_normal(n), np.full(n, 20.0), np.full(n, 10.0)
    cold = ncov.fit_loo(d, xyz, s, e, 8e5)
    warm = ncov.fit_loo(d, xyz, s, e, 1.1 * cold.length_scale, inflation=0.95 * cold.inflation)
    assert cold.score - 1e-9 <= warm.score <= cold.score + ncov.SCORE_TOL
    far = ncov.fit_loo(d, xyz, s, e, 2e5, inflation=cold.inflation)  # the truth is 6x the start's L
    assert far.length_scale == pytest.approx(2e5 * ncov.WARM_RANGE, rel=1e-6)


@pytest.mark.parametrize("kind", ["soar", "gaussian"])
def test_a_network_analyses_any_subset_as_the_dense_solve_does(kind):
    """The correlations computed once for all observations: the analysis of a subset (a fold) is the dense
    solve of that subset, increment and variance."""
    rng = np.random.default_rng(0)
    glat, glon = np.meshgrid(np.linspace(-80, 80, 17), np.arange(0, 360, 10.0), indexing="ij")
    gxyz = oi.unit_vectors(glat, glon)
    olat, olon = rng.uniform(-75, 75, 60), rng.uniform(0, 360, 60)
    oxyz = oi.unit_vectors(olat, olon)
    net = oi.Network(gxyz, oxyz, 9e5, kind)
    idx = np.sort(rng.choice(60, 41, replace=False))
    d, sb, e, sg = rng.normal(0, 20, 41), rng.uniform(10, 30, 41), rng.uniform(3, 8, 41), rng.uniform(10, 30, len(gxyz))
    inc, var = net.analysis(idx, d, sg, sb, e)
    inc0, var0 = oi.dense_oi_analysis(d, gxyz, oxyz[idx], sg, sb, e, 9e5, kind)
    np.testing.assert_allclose(inc, inc0, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(var, var0, rtol=1e-10, atol=1e-8)
    assert oi.Network.fits(len(gxyz), 60) and not oi.Network.fits(10**7, 2000)


def test_the_kept_factorisation_gives_the_dense_solve_and_is_reused_only_for_the_same_network():
    """Many times on one network and B: after the first analysis the factor, correlations and variance are
    reused (equal to the dense solve for any innovations); another B or another network is solved afresh."""
    rng = np.random.default_rng(1)
    glat, glon = np.meshgrid(np.linspace(-80, 80, 17), np.arange(0, 360, 10.0), indexing="ij")
    gxyz = oi.unit_vectors(glat, glon)
    oxyz = oi.unit_vectors(rng.uniform(-75, 75, 50), rng.uniform(0, 360, 50))
    sb, e, sg = rng.uniform(10, 30, 50), rng.uniform(3, 8, 50), rng.uniform(10, 30, len(gxyz))
    oi.clear_cache()
    for length in (9e5, 9e5, 5e5):
        d = rng.normal(0, 20, 50)
        inc, var = oi.oi_analysis(d, gxyz, oxyz, sg, sb, e, length)
        inc0, var0 = oi.dense_oi_analysis(d, gxyz, oxyz, sg, sb, e, length)
        np.testing.assert_allclose(inc, inc0, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(var, var0, rtol=1e-10, atol=1e-8)
        var[:] = -1.0  # the caller's copy: the kept variance is not touched
    assert len(oi._SOLVES) == 2 and len(oi._CORRELATIONS) == 2  # one entry per L, the repeat reused
    oi.clear_cache()
    assert not oi._SOLVES and not oi._CORRELATIONS


def test_kept_networks_stay_within_the_cache_bytes_least_recently_used_first(monkeypatch):
    """Several networks are kept (a joint analysis's variables), the least recently used forgotten first once
    their correlations would pass CACHE_BYTES."""
    rng = np.random.default_rng(2)
    gxyz = oi.unit_vectors(*np.meshgrid(np.linspace(-80, 80, 9), np.arange(0, 360, 20.0), indexing="ij"))
    nets = [oi.unit_vectors(rng.uniform(-75, 75, 30), rng.uniform(0, 360, 30)) for _ in range(3)]
    monkeypatch.setattr(oi, "CACHE_BYTES", 2 * 8 * len(gxyz) * 30)  # two networks' correlations
    oi.clear_cache()
    keys = [oi._digest(gxyz, o, 9e5, "soar") for o in nets]
    for o in (nets[0], nets[1], nets[0], nets[2]):  # net 0 used again before net 2 arrives: net 1 goes
        oi.grid_obs_correlation(gxyz, o, 9e5)
    assert list(oi._CORRELATIONS) == [keys[0], keys[2]]
    oi.clear_cache()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_obs=st.integers(2, 50), kind=st.sampled_from(["soar", "gaussian", "matern52"]),
       withheld=st.floats(0.0, 0.9))
def test_withholding_any_subset_is_the_dense_solve_of_what_is_kept(seed, n_obs, kind, withheld):
    """The analysis without a subset W, had from the factorisation of all observations (the partitioned
    inverse), is the dense solve of the observations kept: increment and variance, for any W (empty too)."""
    rng = np.random.default_rng(seed)
    glat, glon = np.meshgrid(np.linspace(-80, 80, 9), np.arange(0, 360, 20.0), indexing="ij")
    gxyz = oi.unit_vectors(glat, glon)
    oxyz = oi.unit_vectors(rng.uniform(-75, 75, n_obs), rng.uniform(0, 360, n_obs))
    sb, e, sg = rng.uniform(10, 30, n_obs), rng.uniform(3, 8, n_obs), rng.uniform(10, 30, len(gxyz))
    keep = rng.random(n_obs) >= withheld
    keep[rng.integers(n_obs)] = True
    d = rng.normal(0, 20, int(keep.sum()))
    inc, var = oi.Withholding(oi.Network(gxyz, oxyz, 9e5, kind), sg, sb, e).analysis(keep, d)
    inc0, var0 = oi.dense_oi_analysis(d, gxyz, oxyz[keep], sg, sb[keep], e[keep], 9e5, kind)
    np.testing.assert_allclose(inc, inc0, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(var, var0, rtol=1e-8, atol=1e-6)


@pytest.mark.parametrize("kind", ["soar", "gaussian", "matern52"])
def test_correlation_and_its_log_length_derivative_match_their_formulas(kind):
    """The in-place correlations equal their textbook formulas, and ``correlation_dlogl`` is d rho / d log L."""
    r = np.linspace(0.0, 5e6, 101)
    x = r / 9e5
    formula = {"soar": (1 + x) * np.exp(-x), "gaussian": np.exp(-0.5 * x * x),
               "matern52": (1 + np.sqrt(5) * x + 5 * x * x / 3) * np.exp(-np.sqrt(5) * x)}[kind]
    np.testing.assert_allclose(correlations.correlation(r, 9e5, kind), formula, rtol=1e-13, atol=1e-300)
    h = 1e-6
    np.testing.assert_allclose(correlations.correlation_dlogl(r, 9e5, kind),
                               (oi.correlation(r, 9e5 * np.exp(h), kind) - oi.correlation(r, 9e5 * np.exp(-h), kind)) / (2 * h),
                               rtol=1e-6, atol=1e-9)
    r0 = r.copy()
    correlations.correlation(r, 9e5, kind), correlations.correlation_dlogl(r, 9e5, kind)
    np.testing.assert_array_equal(r, r0)  # the distances are the caller's: never overwritten
    assert correlations.correlation(r.reshape(1, 101, 1), 9e5, kind).shape == (1, 101, 1)
    assert correlations.correlation(3e5, 9e5, kind).shape == ()


@pytest.mark.parametrize("kind", ["soar", "gaussian", "matern52"])
def test_the_one_pass_covariance_is_s_rho_s_plus_r(kind):
    """``covariance_matrix`` (one fused pass) equals ``S rho S + R`` and ``S (d rho / d log L) S`` written out."""
    rng = np.random.default_rng(4)
    xyz = oi.unit_vectors(rng.uniform(-80, 80, 60), rng.uniform(0, 360, 60))
    dist, s, e = oi.chordal_distance(xyz, xyz), rng.uniform(1, 3, 60), rng.uniform(0.1, 1, 60)
    rho, drho = correlations.correlation(dist, 7e5, kind), correlations.correlation_dlogl(dist, 7e5, kind)
    np.testing.assert_allclose(correlations.covariance_matrix(dist, 7e5, kind, s, e),
                               s[:, None] * rho * s[None, :] + np.diag(e**2), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(correlations.covariance_matrix(dist, 7e5, kind, s, e, derivative=True),
                               s[:, None] * drho * s[None, :], rtol=1e-13, atol=1e-14)
    with pytest.raises(ValueError, match="unknown correlation 'cauchy'"):
        correlations.correlation(dist, 7e5, "cauchy")

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 40), m=st.integers(1, 40),
       length=st.floats(5e4, 5e6), kind=st.sampled_from(["soar", "gaussian", "matern52"]))
def test_correlations_between_points_are_those_of_their_chordal_distances(seed, n, m, length, kind):
    """``correlation_between`` (distances and correlations in one pass) equals the numpy reference of the
    chordal distances' correlations, for any points, coinciding ones included (correlation 1)."""
    from xda.numerics import reference

    rng = np.random.default_rng(seed)
    p = oi.unit_vectors(rng.uniform(-90, 90, n), rng.uniform(-180, 360, n))
    q = np.vstack([oi.unit_vectors(rng.uniform(-90, 90, m), rng.uniform(0, 360, m)), p[:1]])
    chord = 6.371e6 * np.linalg.norm(p[:, None, :] - q[None, :, :], axis=-1)
    got = correlations.correlation_between(p, q, length, kind)
    assert got.shape == (n, m + 1)
    np.testing.assert_allclose(got, reference.correlation(chord, length, kind), rtol=1e-9, atol=1e-12)
    assert got[0, m] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown correlation 'cauchy'"):
        correlations.correlation_between(p, q, length, "cauchy")


def _child_correlation(_):
    return float(correlations.covariance_matrix(np.array([[0.0, 1e6], [1e6, 0.0]]), 5e5, "soar", np.ones(2), 0.5)[0, 1])


def test_the_kernels_work_in_a_forked_worker_after_the_parent_used_them():
    """An OI in a forked process (a training bank's workers, a user's pool) after one in the parent: the kernels
    start no thread pool that a fork would leave broken."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    here = _child_correlation(0)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        assert list(pool.map(_child_correlation, [0])) == [here]
