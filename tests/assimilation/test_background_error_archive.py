"""B from an archive (family and L by cross-validation), the fixed Hollingsworth-Lonnberg fit, the empirical-Bayes
default and the verification of the learned correction (issue 23)."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

import xda
from xda.errors import DataError
from xda.assimilation.covariance import BackgroundError, estimate, prior_for
from xda.numerics import covariance, oi
from xda.assimilation import verify


def _random_errors(kind: str, length: float, n: int = 60, seed: int = 0):
    """``n`` samples of errors with std 2 and correlation ``kind`` of length ``length`` on a 2.5-degree grid."""
    lat, lon = np.arange(30.0, 60.1, 2.5), np.arange(-40.0, 0.1, 2.5)
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    xyz = oi.unit_vectors(glat, glon)
    c = oi.correlation(oi.chordal_distance(xyz, xyz), length, kind) + 1e-8 * np.eye(glat.size)
    e = 2.0 * (np.linalg.cholesky(c) @ np.random.default_rng(seed).standard_normal((glat.size, n))).T
    coords = {"time": np.arange(n), "lat": ("lat", lat, {"units": "degrees_north"}),
              "lon": ("lon", lon, {"units": "degrees_east"})}
    truths = xr.DataArray(np.full((n, lat.size, lon.size), 280.0), dims=("time", "lat", "lon"), coords=coords,
                          attrs={"units": "K", "standard_name": "air_temperature"})
    return truths + e.reshape(truths.shape), truths


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["soar", "matern52", "gaussian"]), length=st.floats(2e5, 3e6))
def test_fit_correlation_recovers_an_exact_correlation(kind, length):
    centers = np.linspace(5e4, 3.95e6, 40)
    corr = oi.correlation(centers, length, kind)
    corr[corr < 1e-3] = -0.01  # a negative far lobe, as real binned correlations have: ignored after it
    got = covariance.fit_correlation(centers, corr, np.full(40, 100.0), kind)
    assert got == pytest.approx(length, rel=2e-3)


@pytest.mark.parametrize("kind, length", [("gaussian", 1.2e6), ("soar", 5e5)])
def test_from_archive_recovers_the_family_and_length(kind, length):
    bgs, truths = _random_errors(kind, length)
    be = BackgroundError.from_archive(bgs, truths, obs_error=0.5)
    assert be.correlation == kind
    assert be.length_scale == pytest.approx(length, rel=0.2)
    assert float(be.field.mean()) == pytest.approx(2.0, rel=0.2)
    # the same positions given as gridded observations or as (lat, lon) give the same B; deterministic
    mask = np.random.default_rng(1).random(bgs.shape[1:]) < 0.1
    obs = bgs.isel(time=0).where(mask)
    glat, glon = np.meshgrid(bgs.lat, bgs.lon, indexing="ij")
    a = BackgroundError.from_archive(bgs, truths, obs, obs_error=0.5)
    b = BackgroundError.from_archive(bgs, truths, (glat[mask], glon[mask]), obs_error=0.5)
    assert a.length_scale == b.length_scale and a.correlation == b.correlation
    xr.testing.assert_identical(a.field, b.field)


def test_from_archive_on_real_fields_finds_the_long_smooth_correlation():
    """NCEP monthly z500 against climatology: long (> 1000 km), smooth correlations, not SOAR's short curve fit."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    n = z.sizes["time"]
    bgs = ((z.sum("time") - z) / (n - 1)).assign_attrs(z.attrs)
    be = BackgroundError.from_archive(bgs, z)
    assert be.correlation in ("gaussian", "matern52") and 1.1e6 < be.length_scale < 2.5e6
    pairs = BackgroundError.from_pairs(bgs, z, correlation="gaussian")
    assert 1.0e6 < pairs.length_scale < 2.0e6  # intercept 1, fit up to the first zero crossing


def test_from_archive_skips_gaps_and_refuses_too_few_complete_pairs():
    bgs, truths = _random_errors("soar", 5e5, n=6)
    holed = bgs.copy(data=bgs.values.copy()).assign_attrs(bgs.attrs)
    holed[2] = np.nan  # a missing analysis
    holed[:, 0, 0] = np.nan  # a point never defined
    be = BackgroundError.from_archive(holed, truths, obs_error=0.5)
    assert np.isfinite(be.field.values).all()
    worse = bgs.copy(data=np.where(np.arange(6)[:, None, None] < 5, np.nan, bgs.values))
    with pytest.raises(DataError, match="fewer than 2"):
        BackgroundError.from_archive(worse, truths)


@pytest.mark.parametrize("n", [1, 3, 12])
def test_empirical_bayes_answers_any_number_of_observations_with_the_prior(n):
    """Few observations: L is the prior's (real archives), never the training simulation's."""
    prior = prior_for("geopotential_height", "m")
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(30, 70, n), rng.uniform(-60, 20, n)
    be = estimate(rng.normal(0, 40, n), lat, lon, np.full(n, 10.0), prior=prior)
    assert abs(np.log(be.length_scale) - prior.log_length) < 2 * prior.sd_log_length
    assert "model card" not in be.source


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 1000), length=st.floats(2e5, 3e6), a=st.floats(0.3, 3.0))
def test_marginal_likelihood_agrees_with_scipy(n, seed, length, a):
    """The marginal data term is the Gaussian log density of the innovations, up to its constant."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(0, 360, n)
    xyz, s, err = oi.unit_vectors(lat, lon), a * rng.uniform(1, 3, n), rng.uniform(0.5, 1.5, n)
    d = rng.normal(0, 2, (3, n))
    k = covariance.innovation_covariance(xyz, s, err, length, "soar")
    expected = -sum(multivariate_normal(np.zeros(n), k).logpdf(row) for row in d) - 3 * 0.5 * n * np.log(2 * np.pi)
    assert covariance.marginal_nll(d, xyz, s, err, length, "soar") == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_prior_shape_of_s_b_with_latitude():
    """Geopotential height errors are ~5x larger at high latitudes than in the tropics (NCEP archive); with few
    observations the default B keeps that shape, scaled so that the prior's s_b is the rms at the observations."""
    prior = prior_for("geopotential_height", "m")
    shape = dict(zip(prior.shape_lat, np.exp(prior.log_shape)))
    assert shape[65.0] > 4 * shape[5.0]
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(50, 80, 8), rng.uniform(-60, 20, 8)
    be = estimate(rng.normal(0, 60, 8), lat, lon, np.full(8, 10.0), prior=prior)
    assert be.std_at(np.array([70.0]), np.array([0.0]))[0] > 3 * be.std_at(np.array([5.0]), np.array([0.0]))[0]
    assert "shaped with latitude" in be.source
    flat = estimate(rng.normal(0, 60, 8), lat, lon, np.full(8, 10.0), prior=prior._replace(log_shape=()))
    assert np.ptp(flat.sigma) == 0


def test_prior_units_are_differences():
    assert prior_for("air_temperature", "degC").log_sigma == pytest.approx(prior_for("air_temperature", "K").log_sigma)
    assert prior_for("air_temperature", "mK").log_sigma == pytest.approx(prior_for("air_temperature", "K").log_sigma
                                                                         + np.log(1000))
    generic = prior_for("sea_surface_salinity", "1")
    assert not np.isfinite(generic.sd_log_sigma)


def test_correction_weight_needs_evidence():
    rng = np.random.default_rng(0)
    c = rng.normal(0, 1, 400)
    assert verify.correction_weight(rng.normal(0, 1, 400), c).weight == 0.0  # unrelated: no skill shown
    few = verify.correction_weight(0.8 * c[:20], c[:20])
    assert few.weight == 0.0 and not np.isfinite(few.stderr)  # too few to tell
    good = verify.correction_weight(0.8 * c + rng.normal(0, 0.5, 400), c)
    tau2 = verify.PRIOR_SD**2
    assert good.weight == pytest.approx(good.estimate * tau2 / (tau2 + good.estimate_stderr**2))
    assert 0.7 < good.weight < good.estimate < 0.9 and good.stderr < 0.05


def test_default_analysis_does_not_depend_on_the_seed(global_case):
    """The folds come from the observations' positions, never from ``seed``."""
    bg, obs, _ = global_case
    a = xda.assimilate(bg, obs, seed=0)
    b = xda.assimilate(bg, obs, seed=12345)
    xr.testing.assert_identical(a["z500"].drop_attrs(), b["z500"].drop_attrs())
    assert a["z500"].attrs["xda_correction_weight"] == b["z500"].attrs["xda_correction_weight"]
    assert "model card" not in a["z500"].attrs["xda_background_error"]
