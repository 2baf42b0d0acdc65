"""The tuned classical baseline (issue 9, must-have 1): B estimators, cross-validation, analysis error."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

import xda
from xda.assimilation.covariance import BackgroundError, tune
from xda.numerics import oi


def _points(n, seed):
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(20, 70, n), rng.uniform(-60, 30, n)
    return rng, lat, lon, oi.unit_vectors(lat, lon)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(5, 40), seed=st.integers(0, 1000), length=st.floats(1e5, 3e6))
def test_leave_one_out_equals_withholding_each_observation(n, seed, length):
    rng, lat, lon, xyz = _points(n, seed)
    sb, so, d = rng.uniform(5, 15, n), rng.uniform(1, 5, n), rng.normal(0, 10, n)
    k = oi.innovation_covariance(xyz, sb, so, length)
    brute = [d[i] - k[i, np.arange(n) != i] @ np.linalg.solve(np.delete(np.delete(k, i, 0), i, 1), np.delete(d, i))
             for i in range(n)]
    err, var = oi.loo_innovation_error(d, xyz, sb, so, length)
    np.testing.assert_allclose(err, brute, rtol=1e-7, atol=1e-9)
    i = 0  # the predicted variance is the conditional variance of the withheld innovation
    m = np.arange(n) != i
    np.testing.assert_allclose(var[i], k[i, i] - k[i, m] @ np.linalg.solve(k[np.ix_(m, m)], k[m, i]), rtol=1e-7)


def test_analysis_error_variance_equals_the_dense_formula():
    rng, lat, lon, xyz = _points(50, 1)
    g_lat, g_lon = rng.uniform(20, 70, 40), rng.uniform(-60, 30, 40)
    gxyz, sg = oi.unit_vectors(g_lat, g_lon), rng.uniform(5, 15, 40)
    sb, so, length = rng.uniform(5, 15, 50), np.full(50, 3.0), 8e5
    b_go = oi.correlation(oi.chordal_distance(gxyz, xyz), length) * np.outer(sg, sb)
    dense = sg**2 - np.einsum("ij,ji->i", b_go, np.linalg.solve(oi.innovation_covariance(xyz, sb, so, length), b_go.T))
    got = oi.analysis_error_variance(gxyz, xyz, sg, sb, so, length)
    np.testing.assert_allclose(got, dense, rtol=1e-9, atol=1e-9)
    assert np.all(got <= sg**2 + 1e-9)


def _gaussian_field(lat, lon, n, sigma, length, seed):
    """n samples of a Gaussian field with std ``sigma`` (lat) and SOAR correlation ``length``."""
    glat, glon = np.meshgrid(lat, lon, indexing="ij")
    xyz = oi.unit_vectors(glat, glon)
    s = np.broadcast_to(sigma, glat.shape).ravel()
    cov = oi.correlation(oi.chordal_distance(xyz, xyz), length) * np.outer(s, s)
    chol = np.linalg.cholesky(cov + 1e-8 * np.eye(s.size))
    z = np.random.default_rng(seed).normal(size=(n, s.size))
    return (z @ chol.T).reshape(n, *glat.shape)


def test_from_pairs_recovers_a_known_latitude_profile_and_length_scale():
    lat, lon = np.arange(30.0, 71, 2.5), np.arange(-40.0, 21, 2.5)
    sigma = (10 + 20 * (lat - 30) / 40)[:, None]  # 10 m at 30N to 30 m at 70N
    err = _gaussian_field(lat, lon, 300, sigma, 6e5, seed=0)
    coords = {"time": np.arange(300), "lat": lat, "lon": lon}
    truth = xr.DataArray(np.full(err.shape, 5500.0), dims=("time", "lat", "lon"), coords=coords, attrs={"units": "m"})
    bg = (truth + err).assign_attrs(units="m")
    be = BackgroundError.from_pairs(bg, truth / 10.0 * 10.0)
    np.testing.assert_allclose(be.std_at(lat), sigma[:, 0], rtol=0.1)
    np.testing.assert_allclose(be.std_at(np.full(3, 50.0), np.array([-30.0, 0.0, 10.0])), 20.0, rtol=0.12)
    assert 4.5e5 < be.length_scale < 8e5
    # the truth in other units (dam) is converted, not compared raw
    dam = BackgroundError.from_pairs(bg, (truth / 10).assign_attrs(units="dam"))
    np.testing.assert_allclose(dam.std_at(lat), be.std_at(lat))
    with pytest.raises(ValueError, match="at least 2 samples"):
        BackgroundError.from_pairs(bg.isel(time=[0]), truth.isel(time=[0]))


def test_from_ensemble_spread_matches_the_members_distribution():
    lat, lon = np.arange(30.0, 71, 2.5), np.arange(-40.0, 21, 2.5)
    members = xr.DataArray(_gaussian_field(lat, lon, 200, 15.0, 8e5, seed=2) + 5500, dims=("member", "lat", "lon"),
                           coords={"lat": lat, "lon": lon}, attrs={"units": "m"})
    be = BackgroundError.from_ensemble(members)
    np.testing.assert_allclose(be.sigma, 15.0, rtol=0.1)
    assert 5.5e5 < be.length_scale < 1.1e6


def test_cross_validation_finds_the_length_scale_that_generated_the_innovations():
    """Innovations drawn from a known B (L = 800 km, s_b = 20 m) and R (5 m): a first
    guess off by 3x in L and 2x in s_b is pulled back near the truth."""
    rng, lat, lon, xyz = _points(400, 3)
    sb, so, length = np.full(400, 20.0), np.full(400, 5.0), 8e5
    k = oi.innovation_covariance(xyz, sb, so, length)
    d = np.linalg.cholesky(k) @ rng.normal(size=400)
    wrong = BackgroundError.constant(40.0, 2.4e6)
    tuned = tune(wrong, d, lat, lon, so)
    assert 5e5 < tuned.length_scale < 1.3e6
    assert 14 < float(tuned.sigma[0]) < 28
    assert "cross-validation" in tuned.source


def test_oi_returns_its_analysis_error_std_as_a_cf_ancillary_variable(z500):
    bg = z500["z500"].isel(time=0, drop=True)
    truth = bg + 30.0
    rng = np.random.default_rng(0)
    obs = (truth + rng.normal(0, 10, truth.shape)).where(rng.random(truth.shape) < 0.05)
    an = xda.assimilate(bg, obs, method="oi", obs_error=10.0)
    se = an.coords[f"{bg.name}_standard_error"]
    assert se.attrs["standard_name"] == "geopotential_height standard_error"
    assert se.attrs["units"] == bg.attrs["units"]
    assert float(se.min()) > 0 and float(se.where(obs.isnull()).mean()) > float(se.where(obs.notnull()).mean())
    ds = xda.assimilate(bg.to_dataset(), obs, method="oi", obs_error=10.0)
    assert ds[bg.name].attrs["ancillary_variables"] == f"{bg.name}_standard_error"
    xr.testing.assert_identical(ds[f"{bg.name}_standard_error"].reset_coords(drop=True), se.reset_coords(drop=True))


def test_tuned_default_beats_the_single_length_innovation_fit_on_real_global_z500():
    """NCEP monthly z500 (bundled): truth one month, background the mean of the others."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    rng = np.random.default_rng(0)
    err = {"innovations": [], None: []}
    for k in (0, 7, 14):
        truth, bg = z.isel(time=k, drop=True), z.drop_isel(time=k).mean("time").assign_attrs(z.attrs)
        mask = rng.random(truth.shape) < 0.02
        obs = (truth + rng.normal(0, 10.0, truth.shape)).where(mask).assign_attrs(z.attrs)
        for be in err:
            an = xda.assimilate(bg, obs, method="oi", obs_error=10.0, background_error=be)
            err[be].append(float(((an - truth) ** 2).where(~mask).weighted(np.cos(np.deg2rad(z.lat))).mean()))
    assert np.mean(err[None]) < 0.9 * np.mean(err["innovations"])


def test_unknown_background_error_names_the_choices(z500):
    bg = z500["z500"].isel(time=0, drop=True)
    obs = bg.where(np.random.default_rng(0).random(bg.shape) < 0.05)
    with pytest.raises(ValueError, match="'innovations', 'model', 'tuned'.*did you mean 'innovations'"):
        xda.assimilate(bg, obs, method="oi", background_error="innovation")


@pytest.mark.parametrize("repeated", [False, True])
def test_the_folds_analyser_gives_each_subsets_own_oi(repeated):
    """``oi_analyser`` (the verification's folds) returns the OI of each subset, whether it takes the subset from
    the factorisation of all observations (distinct positions) or solves it (a position reported twice)."""
    from xda.assimilation.anchor import oi_analyser, oi_analysis
    from xda.assimilation.verify import folds
    from xda.labeled.grid import Grid
    from xda.labeled.observations import PointObservations
    from xda.numerics.interp import apply, bilinear_weights

    rng = np.random.default_rng(3)
    lat, lon = np.linspace(-60, 60, 13), np.arange(0, 360, 15.0)
    grid = Grid(lat, lon, "lat", "lon", True)
    olat, olon = rng.uniform(-55, 55, 50), rng.uniform(0, 345, 50)
    if repeated:
        olat[1], olon[1] = olat[0], olon[0]
    op, _ = bilinear_weights(lat, lon, olat, olon, periodic=True)
    xb = rng.normal(0, 5, grid.shape)
    ob = PointObservations("z", rng.normal(0, 5, 50), olat, olon, rng.uniform(0.5, 1.5, 50), op, False)
    be = BackgroundError(np.array([-90.0, 90.0]), np.array([3.0, 5.0]), 1.5e6)
    analyse = oi_analyser(xb, ob, be, grid)
    fold = folds(ob)
    for sub in (ob.subset(fold != 0), ob.subset(fold != 3), ob):
        xa, sa = analyse(sub, xb + 1.0)
        xa0, sa0 = oi_analysis(xb + 1.0, sub.value - apply(sub.operator, xb + 1.0), sub, be, grid)
        np.testing.assert_allclose(xa, xa0, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(sa, sa0, rtol=1e-9, atol=1e-9)
