import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xda
from xda import metrics
from xda.errors import CoordinateError, GridError, UnitsError


def zonal(values, lat=(0.0, 30.0), units="K"):
    nx = values.shape[-1]
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": list(lat), "lon": np.arange(nx) * 360 / nx},
                        name="c", attrs={"units": units})


def test_single_wave_lands_in_its_wavenumber_and_parseval(z500):
    nx = 64
    lon = np.arange(nx) * 360 / nx
    c = zonal(np.stack([3 * np.cos(np.deg2rad(5 * lon)), np.cos(np.deg2rad(9 * lon))]))
    p = xda.power_spectrum(c)
    assert p.attrs["units"] == "K2"
    np.testing.assert_allclose(p.isel(lat=0).sel(freq_lon=5 / 360).values, 4.5)  # amplitude^2 / 2
    assert int(p.isel(lat=1).argmax("freq_lon")) == 9
    f = z500["z500"].isel(time=0)
    np.testing.assert_allclose(xda.power_spectrum(f).sum("freq_lon"), ((f - f.mean("lon")) ** 2).mean("lon"), rtol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 20), st.floats(-3.5, -1.0))
def test_spectral_slope_recovers_a_power_law(seed, slope):
    rng = np.random.default_rng(seed)
    nx = 256
    k = np.arange(1, nx // 2)
    phases = rng.uniform(0, 2 * np.pi, k.size)
    lon = np.arange(nx) * 2 * np.pi / nx
    amp = np.sqrt(2 * k.astype(float) ** slope)
    field = (amp[:, None] * np.cos(k[:, None] * lon[None] + phases[:, None])).sum(0)
    p = xda.power_spectrum(zonal(np.stack([field, field]), lat=(10.0, 20.0)))
    est = xda.spectral_slope(p.isel(lat=0), band=(2 / 360, 60 / 360))
    assert float(est) == pytest.approx(slope, abs=1e-6)


def test_isotropic_spectrum_totals_the_variance_and_rejects_zonal_on_regional(storm_t):
    t = storm_t["t"].isel(time=0).isel(lat=slice(8, None)).fillna(270.0)
    p = xda.isotropic_power_spectrum(t)
    assert p.dims == ("freq_r",) and p.wavelength.attrs["units"] == "km"
    assert float(p.sum()) <= float(t.var()) * 1.0001
    assert float(p.sum()) > 0.5 * float(t.var())
    with pytest.raises(GridError, match="isotropic_power_spectrum"):
        xda.power_spectrum(t)


def test_spectral_divergence_is_zero_for_identical_and_positive_otherwise(z500):
    a, b = z500["z500"].isel(time=0), z500["z500"].isel(time=5)
    assert float(abs(xda.spectral_divergence(a, a)).max()) == 0.0
    sd = xda.spectral_divergence(b, a)
    assert np.isnan(sd.values[[0, -1]]).all()  # the poles have no zonal structure
    assert (sd.values[1:-1] > 0).all()


def test_chaosbench_spectral_divergence_sees_small_scale_noise_and_blur(z500):
    """Isotropic, top 10 % of wavenumbers: white noise flattens the shape of the tail; a scaled field has
    the same spectral shape; a numpy KL of the same bins agrees. (The shape *within* the band is
    compared, not its energy: a uniform blur of the band barely registers.) NCEP z500 has almost no power
    at its smallest scales (~1e-4 m2 per band): without the taper, the leakage of the pole-to-pole
    contrast (~0.5 m2) would fill the band and hide the noise."""
    a = z500["z500"].isel(time=0)
    rng = np.random.default_rng(0)
    noisy = a + 0.1 * rng.standard_normal(a.shape)
    sd = lambda f: float(xda.spectral_divergence(f, a, kind="isotropic", top=0.1))  # noqa: E731
    assert sd(a) == 0.0 and sd(2.0 * a - 100.0) == pytest.approx(0.0, abs=1e-12)
    assert sd(noisy) > 10 * sd(a + 0.001 * rng.standard_normal(a.shape)) > 0
    leak = lambda w: float(xda.isotropic_power_spectrum(a, window=w).isel(freq_r=-1))  # noqa: E731
    assert leak(None) > 1000 * leak("tukey")
    pf, pr = (xda.isotropic_power_spectrum(f, window="tukey").values for f in (noisy, a))
    n = pf.size
    pf, pr = pf[n - int(np.ceil(0.1 * n)):], pr[n - int(np.ceil(0.1 * n)):]
    pf, pr = pf / pf.sum(), pr / pr.sum()
    assert sd(noisy) == pytest.approx(float(np.sum(pr * np.log(pr / pf))), rel=1e-10)
    with pytest.raises(ValueError, match="top"):
        xda.spectral_divergence(a, a, kind="isotropic", top=0.0)


def _regional(values, lat0=20.0, lon0=-80.0, d=1.0):
    ny, nx = values.shape
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat0 + d * np.arange(ny), "lon": lon0 + d * np.arange(nx)},
                        name="f", attrs={"units": "K"})


def test_taper_stops_edge_leakage_into_small_scales():
    """A smooth large-scale wave that does not fit the regional domain: without a taper the jump between
    opposite edges leaks into every wavenumber; a 2-D Tukey or Hann taper keeps the small scales empty,
    and the total power still estimates the variance."""
    y, x = np.meshgrid(np.arange(48), np.arange(64), indexing="ij")
    f = _regional(np.cos(2 * np.pi * 2.3 * x / 64 + 0.7) * np.cos(2 * np.pi * 1.6 * y / 48 + 0.3))
    tail = lambda p: float(p.isel(freq_r=slice(p.sizes["freq_r"] // 2, None)).sum() / p.sum())  # noqa: E731
    plain, tukey, hann = (xda.isotropic_power_spectrum(f, window=w) for w in (None, "tukey", True))
    assert tail(plain) > 1e-3
    assert tail(tukey) < 0.05 * tail(plain) and tail(hann) < 0.01 * tail(plain)
    variance = float(((f - f.mean()) ** 2).mean())
    assert float(plain.sum()) == pytest.approx(variance, rel=0.05)
    assert float(hann.sum()) == pytest.approx(variance, rel=0.3)


def test_spectral_divergence_with_chaosbench_binning_matches_its_definition(z500):
    """``binning="chaosbench", window=None, top=0.1`` reproduces ChaosBench's SpectralDiv (validation mode):
    unit annuli of sqrt(i^2 + j^2) from 0.5, mean power per annulus, the top 10 % of annuli, KL."""
    a = z500["z500"].isel(time=0)
    f = z500["z500"].isel(time=7)
    ny, nx = a.shape

    def binned(field):
        p = np.abs(np.fft.fft2(field.values)) ** 2
        k = np.hypot(*np.meshgrid(np.fft.fftfreq(ny) * ny, np.fft.fftfreq(nx) * nx, indexing="ij")).ravel()
        nb = np.arange(0.5, k.max(), 1).size
        s, _ = np.histogram(k, nb, (0.5, k.max()), weights=p.ravel())
        c, _ = np.histogram(k, nb, (0.5, k.max()))
        s = (s / c)[int(nb * 0.9):]
        return s / s.sum()

    pf, pr = binned(f), binned(a)
    expected = float(np.sum(pr * np.log(pr / pf)))
    got = float(xda.spectral_divergence(f, a, kind="isotropic", top=0.1, window=None, binning="chaosbench"))
    assert got == pytest.approx(expected, rel=0.05)
    with pytest.raises(ValueError, match="binning"):
        xda.isotropic_power_spectrum(a, binning="pysteps")


def test_latitude_weighted_rmse_and_mae(z500):
    a = z500["z500"].isel(time=0)
    b = a + 10.0
    assert float(metrics.rmse(a, b, weights="latitude")) == pytest.approx(10.0)
    assert float(metrics.mae(a, b, weights="latitude")) == pytest.approx(10.0)
    w = np.cos(np.deg2rad(a.lat))
    err = (a - z500["z500"].isel(time=3)) ** 2
    expected = np.sqrt(float((err * w).sum() / (w.sum() * a.sizes["lon"])))
    assert float(metrics.rmse(a, z500["z500"].isel(time=3), weights="latitude")) == pytest.approx(expected, rel=1e-6)


def test_fair_crps_and_spread_skill():
    rng = np.random.default_rng(0)
    truth = xr.DataArray(rng.normal(size=4000), dims="x")
    ens = xr.DataArray(rng.normal(size=(10, 4000)), dims=("member", "x"))
    # for a perfect N(0,1) forecast of N(0,1) truth, E[CRPS] = 1/sqrt(pi)
    assert float(metrics.crps(ens, truth, dim="x")) == pytest.approx(1 / np.sqrt(np.pi), rel=0.05)
    assert float(metrics.spread_skill_ratio(ens, truth, dim="x")) == pytest.approx(1.0, rel=0.05)
    # a single member: the fair CRPS is undefined (its CRPS is the MAE: metrics.mae)
    with pytest.raises(ValueError, match="at least 2 members"):
        metrics.crps(ens.isel(member=[0]), truth)
    assert float(metrics.spread_skill_ratio(0.5 * ens, truth, dim="x")) < 0.7


def _gaussian_crps(mu, sigma, y):
    """Exact CRPS of N(mu, sigma^2) at y (Gneiting et al. 2005, eq. 5)."""
    from scipy.stats import norm

    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


@pytest.mark.parametrize("m", [2, 4, 8])
@pytest.mark.parametrize("kind", ["independent", "recentred"])
def test_calibrated_ensembles_score_one_and_the_exact_crps(m, kind):
    """A calibrated ensemble (truth and members from one N(x_hat, 1)) has spread-skill 1.000 and the exact
    Gaussian CRPS, whether its members are independent draws or recentred on x_hat as xda's are; the
    formula for independent members misjudges recentred ones."""
    rng = np.random.default_rng(m)
    n = 400_000
    x_hat = rng.normal(size=n)
    truth = xr.DataArray(x_hat + rng.normal(size=n), dims="x")
    u = rng.normal(size=(m, n))
    if kind == "recentred":
        u = np.sqrt(m / (m - 1)) * (u - u.mean(0))
    ens = xr.DataArray(x_hat + u, dims=("member", "x"))
    if kind == "recentred":
        ens.attrs["xda_members_recentred"] = "yes"
    exact = float(_gaussian_crps(x_hat, 1.0, truth.values).mean())
    assert float(metrics.spread_skill_ratio(ens, truth)) == pytest.approx(1.0, abs=0.006)
    assert float(metrics.crps(ens, truth)) == pytest.approx(exact, rel=0.006)
    assert exact == pytest.approx(1 / np.sqrt(np.pi), rel=0.005)
    if kind == "recentred":  # read from the attrs; said explicitly; and the wrong formula is measurably off
        plain = ens.drop_attrs()
        assert float(metrics.spread_skill_ratio(plain, truth, recentred=True)) == float(metrics.spread_skill_ratio(ens, truth))
        assert float(metrics.spread_skill_ratio(plain, truth)) == pytest.approx(np.sqrt((m + 1) / (m - 1)), rel=0.01)
        assert float(metrics.crps(plain, truth)) < 0.97 * exact
    else:
        assert float(metrics.crps(ens, truth, recentred=True)) > 1.01 * exact


def test_fair_crps_of_two_members_is_exact():
    """The fair CRPS of members (a, b) at y is (|a-y| + |b-y|)/2 - |a-b|/2 (Ferro 2014), case by case."""
    ens = xr.DataArray([[1.0, -2.0, 0.5], [3.0, 1.0, 0.5]], dims=("member", "x"))
    y = xr.DataArray([0.0, 5.0, 0.5], dims="x")
    expected = [(1 + 3) / 2 - 2 / 2, (7 + 4) / 2 - 3 / 2, 0.0]
    np.testing.assert_allclose(metrics.crps(ens, y, dim=[]), expected)
    c = np.sqrt(2.0)  # recentred pairs: the spread term shrinks by sqrt(M / (M - 1))
    np.testing.assert_allclose(metrics.crps(ens, y, dim=[], recentred=True), [2 - 1 / c, 5.5 - 1.5 / c, 0.0])


def test_ssim(z500):
    a = z500["z500"].isel(time=0)
    assert float(metrics.ssim(a, a)) == pytest.approx(1.0)
    assert 0 < float(metrics.ssim(z500["z500"].isel(time=4), a)) < 1


def test_seam_ratio_flags_blocky_upsampling():
    lat = np.linspace(-60, 60, 48)
    lon = np.arange(96) * 3.75
    y, x = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    truth = xr.DataArray(np.sin(3 * x) * np.cos(2 * y), dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, attrs={"units": "K"})
    coarse = truth.coarsen(lat=4, lon=4).mean()
    blocky = truth.copy(data=np.repeat(np.repeat(coarse.values, 4, 0), 4, 1))
    assert float(metrics.seam_ratio(truth, truth, 4)) == pytest.approx(1.0)
    assert float(metrics.seam_ratio(blocky, truth, 4)) > 2.0
    with pytest.warns(FutureWarning, match="renamed seam_ratio"):
        assert float(metrics.flux_ratio(blocky, truth, 4)) > 2.0


def test_xrft_keywords_window_linear_detrend_and_list_dim(z500):
    """xrft's vocabulary: window (+ amplitude/energy correction), detrend='linear', dim as a list."""
    from scipy.signal import detrend as sp_detrend

    a = z500["z500"].isel(time=0)
    lam = np.deg2rad(a["lon"].values)
    tone = a.copy(data=np.broadcast_to(10.0 * np.cos(8 * lam), a.shape).copy())
    plain = xda.power_spectrum(tone)
    hann = xda.power_spectrum(tone, window="hann", window_correction=True)
    # a pure tone on a bin keeps its power at that bin with the amplitude correction
    np.testing.assert_allclose(hann.isel(freq_lon=8).values, plain.isel(freq_lon=8).values, rtol=1e-6)  # float32 lon
    assert float(xda.power_spectrum(tone, window="hann").isel(freq_lon=8).mean()) == pytest.approx(
        0.25 * float(plain.isel(freq_lon=8).mean()), rel=1e-6)  # mean(hann)^2 = 1/4 without the correction
    # energy correction for densities: the total of a windowed white-noise field is kept on average
    rng = np.random.default_rng(0)
    noise = a.copy(data=rng.standard_normal(a.shape))
    e0 = float(xda.power_spectrum(noise, scaling="density", detrend=None).sum())
    e1 = float(xda.power_spectrum(noise, scaling="density", detrend=None, window="hann", window_correction=True).sum())
    assert e1 == pytest.approx(e0, rel=0.05)
    # linear detrending agrees with scipy's, row by row
    trend = a + a.copy(data=np.broadcast_to(0.5 * a["lon"].values, a.shape).copy())
    p = xda.power_spectrum(trend, detrend="linear").isel(lat=30).values
    f = np.fft.rfft(sp_detrend(trend.isel(lat=30).values.astype(np.float64), type="linear"))
    ref = np.abs(f) ** 2 / a.sizes["lon"] ** 2
    ref[1:] *= 2
    ref[-1] /= 2
    np.testing.assert_allclose(p, ref, rtol=1e-10, atol=1e-12)
    xr.testing.assert_identical(xda.power_spectrum(a, dim=["lon"]), xda.power_spectrum(a))
    with pytest.raises(ValueError, match="isotropic_power_spectrum"):
        xda.power_spectrum(a, dim=["lat", "lon"])
    with pytest.raises(ValueError, match="'linear'"):
        xda.power_spectrum(a, detrend="quadratic")


def test_metrics_speak_xskillscore_and_check_units(z500):
    """(observations, forecasts) order for ensembles, keep_attrs, and units: K against degC scores 0."""
    rng = np.random.default_rng(0)
    truth = xr.DataArray(rng.standard_normal(2000), dims="x", attrs={"units": "K", "long_name": "truth"})
    ens = xr.DataArray(rng.standard_normal((20, 2000)), dims=("member", "x"), attrs={"units": "K", "long_name": "analysis"})
    xr.testing.assert_identical(metrics.crps(truth, ens, dim="x"), metrics.crps(ens, truth, dim="x"))
    xr.testing.assert_identical(metrics.spread_skill_ratio(truth, ens, dim="x"), metrics.spread_skill_ratio(ens, truth, dim="x"))
    with pytest.raises(CoordinateError, match="member dimension 'member'"):
        metrics.crps(truth, truth)
    t = xr.DataArray([280.0, 290.0], dims="x", attrs={"units": "K", "long_name": "analysis"})
    c = xr.DataArray([6.85, 16.85], dims="x", attrs={"units": "degC"})
    assert float(metrics.rmse(t, c)) == pytest.approx(0.0, abs=1e-9)
    assert float(metrics.mae(c, t)) == pytest.approx(0.0, abs=1e-9)
    r = metrics.rmse(t, c + 1)
    assert r.attrs == {"units": "K"} and float(r) == pytest.approx(1.0)
    assert metrics.rmse(t, c, keep_attrs=True).attrs["long_name"] == "analysis"
    with pytest.raises(UnitsError, match="units m which cannot be converted to K"):
        metrics.rmse(t, c.assign_attrs(units="m"))


class TestRankHistogram:
    """Hamill (2001)'s rank histogram: flat for exchangeable draws, U-shaped when too narrow, ties split evenly."""

    @staticmethod
    def _draws(scale: float, m: int = 6, seed: int = 0):
        rng = np.random.default_rng(seed)
        ens = xr.DataArray(scale * rng.standard_normal((m, 40, 50)), dims=("member", "lat", "lon"), attrs={"units": "K"})
        return ens, xr.DataArray(rng.standard_normal((40, 50)), dims=("lat", "lon"), attrs={"units": "K"})

    def test_flat_for_exchangeable_draws_and_u_shaped_when_too_narrow(self):
        ens, truth = self._draws(1.0)
        h = xda.metrics.rank_histogram(ens, truth)
        assert h.sizes["rank"] == 7 and h.attrs["count"] == 2000
        np.testing.assert_allclose(h.values, 1 / 7, atol=0.03)  # binomial sd of a bin: 0.008
        narrow = xda.metrics.rank_histogram(*self._draws(0.3))
        assert float(narrow[0]) > 0.3 and float(narrow[-1]) > 0.3 and float(narrow[3]) < 0.05
        xr.testing.assert_equal(xda.metrics.rank_histogram(truth, ens), h)  # xskillscore's argument order

    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 10_000), st.sampled_from([np.exp, np.arctan, lambda a: a**3 + 2 * a]))
    def test_invariant_under_increasing_transforms(self, seed, f):
        ens, truth = self._draws(0.7, m=5, seed=seed)
        h = xda.metrics.rank_histogram(ens, truth)
        xr.testing.assert_equal(xda.metrics.rank_histogram(ens.copy(data=f(ens.values)), truth.copy(data=f(truth.values))), h)
        assert abs(float(h.sum("rank")) - 1) < 1e-12

    def test_ties_are_split_evenly_and_nans_skipped_and_dims_kept(self):
        truth = xr.DataArray(np.zeros((4, 3000)), dims=("time", "x"))
        ens = xr.DataArray(np.zeros((3, 4, 3000)), dims=("member", "time", "x"))
        np.testing.assert_allclose(xda.metrics.rank_histogram(ens, truth).values, 0.25, atol=0.02)
        per_time = xda.metrics.rank_histogram(ens, truth.where(truth.x > 999), dim="x")
        assert per_time.dims == ("time", "rank") and per_time.attrs["count"] == 4 * 2000
        with pytest.raises(xda.errors.ParameterError, match="at least 2 members"):
            xda.metrics.rank_histogram(ens.isel(member=[0]), truth)
