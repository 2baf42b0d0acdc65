"""Downscaling: regridding numerics, static orography, physics loss stencils, the task and its errors."""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xda
from xda.errors import CoordinateError, GridError, ModelError, NotFoundError, UnitsError
from xda.models import registry
from xda.models.downscaling import pde_residual
from xda.numerics import regrid, stencils
from xda.static import surface_altitude

FAST = dict(steps=2)
T63_LAT = xda.datasets.open_dataset("esm_tas")["lat"].values
T63_LON = xda.datasets.open_dataset("esm_tas")["lon"].values


@pytest.fixture(scope="module")
def esm():
    """Real MPI-ESM tas/uas/vas (2 months) and their 4x coarsened versions."""
    t = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=[0, 6])
    for v in ("uas", "vas"):
        t[v] = xr.open_dataset(xda.datasets.DATA_DIR / f"esm_{v}_monthly_t63.nc")[v].isel(time=[0, 6]).load()
    return t, xda.coarsen(t, 4)


# --- numerics ------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_coarsen_conserves_the_area_weighted_mean(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 96, 192))
    c = regrid.coarsen(a, 4, T63_LAT)
    w = np.cos(np.deg2rad(T63_LAT))
    wc = regrid.coarsen(np.broadcast_to(w[:, None], (96, 192)), 4)[:, 0] * 1.0
    fine_mean = (a * w[:, None]).sum(axis=(-2, -1)) / (w.sum() * 192)
    coarse_mean = (c * wc[:, None]).sum(axis=(-2, -1)) / (wc.sum() * 48)
    assert np.allclose(fine_mean, coarse_mean, atol=1e-12)
    assert np.allclose(regrid.coarsen(np.full((8, 8), 3.5), 4, np.linspace(-60, 60, 8)), 3.5)


def test_labeled_coarsen_matches_the_numerics_and_keeps_labels(esm):
    fine, coarse = esm
    np.testing.assert_allclose(coarse["tas"].values, regrid.coarsen(fine["tas"].values, 4, fine["lat"].values))
    assert coarse["tas"].attrs == fine["tas"].attrs and coarse["lat"].attrs == fine["lat"].attrs
    lazy = xda.coarsen(fine["tas"].chunk({"time": 1}), 4)
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), coarse["tas"])
    with pytest.raises(GridError, match="not a multiple of factor 5"):
        xda.coarsen(fine, 5)


def test_coarse_and_fine_coordinates_round_trip_on_a_regular_grid():
    lat = -88.75 + 2.5 * np.arange(72)
    lon = 1.25 + 2.5 * np.arange(144)
    lat_c, lon_c = regrid.coarse_coords(lat, lon, 4)
    lat_f, lon_f = regrid.fine_coords(lat_c, lon_c, 4, periodic=True)
    assert np.allclose(lon_f, lon)
    assert np.allclose(lat_f, lat)
    with pytest.raises(ValueError, match="multiple of factor"):
        regrid.coarsen(np.zeros((10, 12)), 4)


@settings(max_examples=20, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3), st.floats(-5, 5))
def test_bilinear_upsampling_is_exact_for_linear_fields(a, b, c):
    lat = np.linspace(-40, 40, 9)
    lon = np.linspace(0, 80, 9)
    field = a * lat[:, None] + b * lon[None, :] + c
    lat_f = np.linspace(-38, 38, 30)
    lon_f = np.linspace(2, 78, 25)
    up = regrid.upsample(field, lat, lon, lat_f, lon_f, "linear", periodic=False)
    assert np.allclose(up, a * lat_f[:, None] + b * lon_f[None, :] + c, atol=1e-9)


def test_polar_half_cells_are_interpolated_across_the_pole_not_extrapolated():
    """A field smooth on the sphere (z + x of the unit vector): the polar rows are as exact as the interior."""
    lat = np.linspace(-88.59375, 88.59375, 64)
    lon = np.arange(128) * 2.8125
    f = lambda la, lo: (np.sin(np.deg2rad(la))[:, None]  # noqa: E731
                        + np.cos(np.deg2rad(la))[:, None] * np.cos(np.deg2rad(lo))[None])
    lat_c, lon_c = regrid.coarse_coords(lat, lon, 4)
    lat_f, lon_f = regrid.fine_coords(lat_c, lon_c, 4, periodic=True)
    err = regrid.upsample(f(lat_c, lon_c), lat_c, lon_c, lat_f, lon_f, "cubic", periodic=True) - f(lat_f, lon_f)
    assert np.abs(err[[0, 1, -2, -1]]).max() < 1e-4  # measured 5e-6 (the interior: 1.5e-5)
    # regional: the outer half-cells are interpolated towards a linear extrapolation (no runaway cubic)
    reg = regrid.upsample(f(lat_c[5:12], lon_c[3:12]), lat_c[5:12], lon_c[3:12], lat_f[20:48], lon_f[12:48], "cubic",
                          periodic=False)
    assert np.abs(reg - f(lat_f[20:48], lon_f[12:48])).max() < 0.03  # measured 0.014 on a field of amplitude 1.3


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([2, 3, 4]), st.sampled_from(["linear", "cubic"]), st.booleans())
def test_conservative_upsampling_keeps_every_block_mean(seed, factor, method, periodic):
    rng = np.random.default_rng(seed)
    ny, nx = 6, 8
    lat = np.linspace(-60, 60, ny) if not periodic else np.linspace(-75, 75, ny)
    lon = np.arange(nx) * (360.0 / nx if periodic else 2.0)
    coarse = 280 + 10 * rng.standard_normal((2, ny, nx))
    lat_f, lon_f = regrid.fine_coords(lat, lon, factor, periodic)
    fine = regrid.conservative_upsample(coarse, lat, lon, lat_f, lon_f, factor, method, periodic)
    assert fine.shape == (2, ny * factor, nx * factor)
    np.testing.assert_allclose(regrid.coarsen(fine, factor, lat_f), coarse, rtol=0, atol=1e-9)
    # a constant stays constant
    const = regrid.conservative_upsample(np.full((ny, nx), 7.0), lat, lon, lat_f, lon_f, factor, method, periodic)
    np.testing.assert_allclose(const, 7.0, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.floats(-9.0, 0.0), st.integers(0, 1000))
def test_lapse_rate_recovers_a_field_that_follows_the_orography(gamma_km, seed):
    """T = smooth(lat, lon) + gamma z: the lapse rate is estimated from the coarse field and the fine field recovered."""
    from xda.numerics.lapse_rate import estimate_lapse_rate, lapse_rate_downscale

    lat_c = np.linspace(24.5, 55.5, 8)
    lon_c = np.linspace(240.5, 295.5, 12)
    lat_f, lon_f = regrid.fine_coords(lat_c, lon_c, 4, periodic=False)
    z_f = surface_altitude(lat_f, lon_f)  # real ETOPO relief of North America
    rng = np.random.default_rng(seed)
    smooth = 290 - 0.5 * (lat_f[:, None] - 40) + rng.uniform(-0.05, 0.05) * (lon_f[None] - 270)
    truth = smooth + gamma_km * 1e-3 * z_f
    t_c = regrid.coarsen(truth, 4, lat_f)
    g = estimate_lapse_rate(t_c, regrid.coarsen(z_f, 4, lat_f), lat_c, periodic=False)
    assert abs(g * 1e3 - gamma_km) < 0.15 + 0.02 * abs(gamma_km)  # the smooth part leaks ~0.1 K/km into it
    fine, _ = lapse_rate_downscale(t_c, z_f, lat_c, lon_c, lat_f, lon_f, 4, periodic=False)
    bicubic = regrid.conservative_upsample(t_c, lat_c, lon_c, lat_f, lon_f, 4, "cubic", periodic=False)
    rms = lambda a: float(np.sqrt(np.mean((a - truth) ** 2)))  # noqa: E731
    np.testing.assert_allclose(regrid.coarsen(fine, 4, lat_f), t_c, atol=1e-9)
    # what remains is the coarse orography's own interpolation error, times gamma (measured ~0.4 of bicubic's)
    assert rms(fine) <= 0.5 * rms(bicubic) + 0.02


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 2.0), st.integers(0, 1000), st.booleans())
def test_model_relief_keeps_means_and_constants_and_only_smooths(sigma, seed, periodic):
    """The model's relief: a constant stays, sigma 0 is the identity, a wrapping grid has no seam (shifting the
    field in longitude shifts the result), and the grid-scale variance only falls."""
    from xda.numerics.lapse_rate import model_relief

    z = np.random.default_rng(seed).gamma(2.0, 300.0, size=(12, 16))
    out = model_relief(z, periodic, sigma)
    np.testing.assert_allclose(model_relief(np.full((5, 7), 812.0), periodic, sigma), 812.0)
    if sigma == 0:
        np.testing.assert_array_equal(out, z)
    if periodic:
        np.testing.assert_allclose(model_relief(np.roll(z, 5, axis=1), True, sigma), np.roll(out, 5, axis=1), atol=1e-9)
    assert np.var(np.diff(out, axis=1)) <= np.var(np.diff(z, axis=1)) + 1e-9


def test_model_relief_is_what_a_model_field_follows(esm):
    """Real MPI-ESM 2-m temperature (its own T63 field as the truth, coarsened x2): the lapse-rate correction of
    the model's relief beats that of the cell means (measured 0.75 -> 0.59 K on these months) and bicubic, the
    block means are kept, and the attrs say which relief. Without ``orography=`` the default (``"auto"``) follows
    the model's relief; with it, the relief as given (the cell means)."""
    fine, _ = esm
    truth, coarse = fine["tas"], xda.coarsen(fine["tas"], 2)
    rms = lambda a: float(np.sqrt(((a.values - truth.values) ** 2).mean()))  # noqa: E731
    full = coarse.phyda.downscale(2, method="lapse_rate", relief="full")
    model = coarse.phyda.downscale(2, method="lapse_rate", relief="model")
    bicubic = coarse.phyda.downscale(2, method="bicubic")
    assert rms(model) < 0.9 * rms(full) and rms(model) < rms(bicubic)
    np.testing.assert_allclose(xda.coarsen(model, 2).values, coarse.values, atol=1e-4)
    assert full.attrs["xda_relief"] == "cell means" and model.attrs["xda_relief"].startswith("a model's")
    xr.testing.assert_identical(coarse.phyda.downscale(2, method="lapse_rate").drop_attrs(), model.drop_attrs())
    orog = xda.static.orography_like(full)
    given = coarse.phyda.downscale(2, method="lapse_rate", orography=orog)
    assert given.attrs["xda_relief"] == "cell means (relief='auto': orography= given, followed as given)"
    np.testing.assert_allclose(given.values, full.values, atol=1e-4)
    default = coarse.phyda.downscale(2)  # the learned default, anchored on the model's relief
    np.testing.assert_allclose(xda.coarsen(default, 2).values, coarse.values, atol=1e-4)
    assert default.attrs["xda_relief"] == model.attrs["xda_relief"] + " (relief='auto': no orography= given)"
    assert rms(default) < rms(bicubic)
    with pytest.raises(xda.errors.ParameterError, match=r"relief='smooth' is not one of \['auto', 'full', 'model'\]"):
        coarse.phyda.downscale(2, relief="smooth")


def test_surface_altitude_from_etopo_is_real_and_convention_free():
    z = surface_altitude(T63_LAT, T63_LON)
    assert z.shape == (96, 192)
    i, j = np.argmin(abs(T63_LAT - 32)), np.argmin(abs(T63_LON - 86))
    assert z[i, j] > 4000  # Tibetan plateau
    i, j = np.argmin(abs(T63_LAT - 0)), np.argmin(abs(T63_LON - 200))
    assert z[i, j] == 0  # central Pacific: sea surface
    shifted = surface_altitude(T63_LAT[::-1], T63_LON - 180)[::-1]
    assert np.allclose(shifted, np.roll(z, 96, axis=1))


def test_land_area_fraction_from_etopo_is_real():
    from xda.static import land_area_fraction

    f = land_area_fraction(T63_LAT, T63_LON)
    w = np.cos(np.deg2rad(T63_LAT))[:, None] * np.ones_like(f)
    assert 0.27 < float((w * f).sum() / w.sum()) < 0.31  # Earth: 29 % land
    i, j = np.argmin(abs(T63_LAT - 23)), np.argmin(abs(T63_LON - 10))
    assert f[i, j] == 1.0  # Sahara
    i, j = np.argmin(abs(T63_LAT - 0)), np.argmin(abs(T63_LON - 200))
    assert f[i, j] == 0.0  # central Pacific
    assert 0 < f[np.argmin(abs(T63_LAT - 40.5)), np.argmin(abs(T63_LON - 286))] < 1  # New York: a coastal cell


@settings(max_examples=25, deadline=None)
@given(st.floats(-9.5e-3, 9e-3), st.floats(240, 310))
def test_screen_temperature_follows_a_linear_profile_exactly(gamma, t1):
    """Two levels on one lapse rate: the 2-m temperature is that line's value at 2 m above the ground."""
    from xda.numerics.constants import GRAVITY, R_DRY
    from xda.simulate.core import screen_temperature

    s1, s2 = 0.958, 0.875
    z1 = R_DRY * t1 / GRAVITY * np.log(1 / s1)
    # T2 such that (T2 - T1) / (z2 - z1) = gamma with z2 - z1 = R (T1 + T2) / 2g ln(s1/s2)
    k = R_DRY / (2 * GRAVITY) * np.log(s1 / s2) * gamma
    t2 = t1 * (1 + k) / (1 - k)
    got = screen_temperature(np.array([t1]), np.array([t2]), s1, s2)
    np.testing.assert_allclose(got, t1 + gamma * (2.0 - z1), rtol=0, atol=1e-3)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.floats(0, 1e6))
def test_physics_loss_uses_the_diagnostic_stencils(seed, kappa):
    rng = np.random.default_rng(seed)
    lat, lon = T63_LAT[::4], T63_LON[::4]
    t, u, v = (rng.normal(size=(2, lat.size, lon.size)) for _ in range(3))
    geo = stencils.geometry(lat, lon, periodic=True)
    ref = stencils.advection(t, u, v, geo) - kappa * stencils.laplacian(t, geo)
    got = pde_residual(*(torch.as_tensor(a) for a in (t, u, v)), kappa, geo).numpy()
    assert np.allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_physics_residual_vanishes_for_a_steady_uniformly_advected_field():
    # T depends on latitude only and the wind is zonal: u.grad T = 0; kappa = 0
    lat, lon = T63_LAT, T63_LON
    t = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None] * 30 + 250, (1, 96, 192)).copy()
    u = np.full_like(t, 10.0)
    geo = stencils.geometry(lat, lon, periodic=True)
    r = pde_residual(torch.as_tensor(t), torch.as_tensor(u), torch.zeros_like(torch.as_tensor(u)), 0.0, geo)
    assert float(r.abs().max()) < 1e-12


# --- the task ------------------------------------------------------------------------

def test_shipped_downscaling_model_loads_offline():
    net, card = registry.load_model(registry.DEFAULT_DOWNSCALING_MODEL, device="cpu")
    again, _ = registry.load_model(registry.DEFAULT_DOWNSCALING_MODEL, device="cpu")
    assert net is again
    assert card["kind"] == "downscaling" and card["anchor"] == "lapse_rate" and tuple(card["factors"]) == (2, 3, 4)
    assert card["variable"]["units"] == "K" and all(p["kappa"] > 0 for p in card["physics"].values())
    assert card["sha256"] == registry.sha256(registry.find(registry.DEFAULT_DOWNSCALING_MODEL).with_suffix(".safetensors"))


def _zero_regression(net):
    """The shipped network with its regression and its mean head replaced by zeros: a model that learned nothing."""
    import copy

    blank = copy.deepcopy(net)
    blank.regress = lambda x, periodic: torch.zeros(x.shape[0], 1, *x.shape[-2:], dtype=x.dtype)
    blank.estimate = lambda x, reg, periodic: reg
    return blank


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("region", [False, True])
def test_a_model_that_learned_nothing_returns_the_lapse_rate_baseline(esm, factor, region):
    from xda.labeled.static import land_area_fraction
    from xda.models.downscaling import downscale_arrays
    from xda.numerics.lapse_rate import lapse_rate_downscale

    fine, _ = esm
    t = fine["tas"].isel(lat=slice(48, 84), lon=slice(24, 96)) if region else fine["tas"]
    lat_f, lon_f = t["lat"].values, t["lon"].values
    t_c = regrid.coarsen(t.values.astype(np.float64), factor, lat_f)
    lat_c, lon_c = regrid.coarse_coords(lat_f, lon_f, factor)
    orog, land = surface_altitude(lat_f, lon_f), land_area_fraction(lat_f, lon_f)
    net, card = registry.load_model(registry.DEFAULT_DOWNSCALING_MODEL, device="cpu")
    args = (t_c, lat_c, lon_c, lat_f, lon_f, orog, land, not region)
    got, gamma, nfe = downscale_arrays(*args, model=_zero_regression(net), card=card, method="regression")
    want, g = lapse_rate_downscale(t_c, orog, lat_c, lon_c, lat_f, lon_f, factor, not region)
    np.testing.assert_allclose(got[0], want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gamma, g)
    # the trained model and its members are conservative to 1e-4 K at every factor, globally and regionally
    outs = {}
    for method, n in (("regression", 1), ("xda", 2)):
        out, _, nfe = downscale_arrays(*args, model=net, card=card, method=method, members=n, steps=2, seed=0)
        assert out.shape == (n, *want.shape) and nfe == (3 if method == "xda" else 0)
        np.testing.assert_allclose(regrid.coarsen(out, factor, lat_f), np.broadcast_to(t_c, out.shape[:1] + t_c.shape),
                                   rtol=0, atol=1e-4)
        outs[method] = out
    # the fields per network call (chunk_size of the device: 1 on a CPU; here 2) do not change the answer
    assert t_c.shape[0] == 2
    other, _, _ = downscale_arrays(*args, model=net, card=card, method="regression", chunk=2)
    np.testing.assert_allclose(other, outs["regression"], rtol=0, atol=1e-4)
    # the shipped model's members are its sampler's raw draws (a mean head centres them): their spread is not zero,
    # and their mean is not forced onto the estimate (a model without a head recentres them: the test below)
    assert net.mean_head is not None
    assert np.std(outs["xda"][0] - outs["xda"][1]) > 0.1
    assert np.abs(outs["xda"].mean(axis=0) - outs["regression"][0]).max() > 1e-3


@settings(max_examples=5, deadline=None)
@given(st.floats(-40.0, 40.0))
def test_learned_downscaling_commutes_with_a_uniform_warming(esm, shift):
    """The inputs are anomalies (the field's own mean removed): T + c downscales to downscale(T) + c."""
    _, coarse = esm
    t = coarse["tas"].isel(time=0, lat=slice(12, 20), lon=slice(28, 40))
    a = t.phyda.downscale(2, method="regression").values
    b = (t + shift).assign_attrs(t.attrs).phyda.downscale(2, method="regression").values
    np.testing.assert_allclose(b - shift, a, rtol=0, atol=2e-3)


def test_output_grid_units_provenance_and_no_mutation(esm):
    fine_truth, coarse = esm
    before = coarse.copy(deep=True)
    out = coarse.phyda.downscale(factor=4, seed=0, **FAST)
    xr.testing.assert_identical(coarse, before)
    assert isinstance(out, xr.Dataset) and list(out.data_vars) == ["tas", "tas_standard_error"]
    assert out["tas"].attrs["ancillary_variables"] == "tas_standard_error"
    assert out["tas_standard_error"].dims == out["tas"].dims and (out["tas_standard_error"] > 0).all()
    da = out["tas"]
    assert da.dims == ("time", "lat", "lon") and da.shape == (2, 96, 192)
    np.testing.assert_allclose(da["lon"].values, fine_truth["lon"].values, atol=1e-9)
    np.testing.assert_allclose(da["lat"].values[8:-8], fine_truth["lat"].values[8:-8], atol=0.2)
    assert da.attrs["units"] == "K" and da.attrs["standard_name"] == "air_temperature"
    assert da["lat"].attrs["units"] == "degrees_north"
    assert da.attrs["xda_method"] == "xda" and da.attrs["xda_factor"] == 4
    assert da.attrs["xda_winds"] == "used" and "ETOPO20" in da.attrs["xda_orography"]
    assert "downscale x4" in out.attrs["history"]
    xr.testing.assert_equal(out["time"], coarse["time"])
    # the fine field is consistent with its coarse input: block means come back
    back = regrid.coarsen(da.values, 4, da["lat"].values)
    assert np.sqrt(np.mean((back - coarse["tas"].values) ** 2)) < 0.5


def test_members_seed_and_units_round_trip(esm):
    _, coarse = esm
    t = coarse["tas"].isel(time=0)
    ens = t.phyda.downscale(4, members=3, seed=1, **FAST)
    assert ens.dims == ("member", "lat", "lon") and ens.sizes["member"] == 3
    assert not np.allclose(ens.isel(member=0), ens.isel(member=1))
    again = t.phyda.downscale(4, members=3, seed=1, **FAST)
    xr.testing.assert_equal(ens, again)
    celsius = (t - 273.15).assign_attrs(units="degC", standard_name="air_temperature")
    c = celsius.phyda.downscale(4, members=3, seed=1, **FAST)
    assert c.attrs["units"] == "degC"
    np.testing.assert_allclose(c.values + 273.15, ens.values, atol=1e-3)
    assert t.phyda.downscale(4, seed=0, **FAST).attrs["xda_winds"] == "not used"
    state = torch.get_rng_state()
    t.phyda.downscale(2, seed=None, **FAST)  # fresh noise, but torch's global generator is left alone
    assert torch.equal(state, torch.get_rng_state())


def test_regression_and_interpolation_baselines(esm):
    fine_truth, coarse = esm
    t = coarse["tas"]
    reg = t.phyda.downscale(method="regression")
    bic = t.phyda.downscale(4, method="bicubic")
    assert reg.shape == bic.shape == (2, 96, 192)
    err = lambda f: float(np.sqrt(np.mean((f.values - fine_truth["tas"].values) ** 2)))  # noqa: E731
    # real MPI-ESM January and July against conservative bicubic (measured: regression 0.81, lapse-rate 0.78,
    # xda 2-member mean 0.89; against plain bicubic, which is 1.2x worse here, 0.66 / 0.64 / 0.72)
    assert err(bic) < 2.5
    assert err(reg) < 0.88 * err(bic)
    lapse = t.phyda.downscale(4, method="lapse_rate")
    assert err(lapse) < 0.85 * err(bic)
    assert "estimated" in lapse.attrs["xda_lapse_rate"]
    ens = coarse.phyda.downscale(4, members=2, seed=0, steps=4)["tas"]
    assert err(ens.mean("member")) < 0.95 * err(bic)
    for f in (bic, reg, lapse, ens, t.phyda.downscale(4, method="bilinear")):  # every method is conservative
        np.testing.assert_allclose(xda.coarsen(f, 4).values, np.broadcast_to(t.values, f.shape[:-2] + t.shape[-2:]),
                                   rtol=0, atol=1e-4)
    three = t.phyda.downscale(3, method="bilinear")  # interpolation does any factor
    assert three.shape == (2, 72, 144)


def test_default_is_the_verified_estimate(esm):
    """The default is the best estimate: the lapse-rate anchor plus the learned departure weighted by the skill
    it shows one level up (the input's block means downscaled back onto the input), the same for every seed,
    with its standard error; members spread about it."""
    fine_truth, coarse = esm
    t = coarse["tas"].isel(time=0)
    default = t.phyda.downscale(4)
    w = default.attrs["xda_correction_weight"]
    assert 0.0 <= w <= 1.0 and "member" not in default.dims
    assert isinstance(default.attrs["xda_correction_weight_stderr"], float)
    lapse, reg = t.phyda.downscale(4, method="lapse_rate"), t.phyda.downscale(4, method="regression")
    np.testing.assert_allclose(default.values, (lapse + w * (reg - lapse)).values, atol=5e-4)  # float32 outputs
    xr.testing.assert_identical(default, t.phyda.downscale(4, seed=123).assign_attrs(xda_seconds=default.attrs["xda_seconds"],
                                                                                      history=default.attrs["history"]))
    se = default["tas_standard_error"]
    assert se.attrs["units"] == "K" and float(se.min()) > 0
    err = float(np.sqrt(((default - fine_truth["tas"].isel(time=0).values) ** 2).mean()))
    assert float(np.sqrt((se**2).mean())) > err  # one level up: an upper estimate
    ens = t.phyda.downscale(4, members=8, seed=0, steps=4)  # the shipped model's raw draws, centred by its mean head
    assert "xda_members_recentred" not in ens.attrs and "not recentred" in ens.attrs["xda_members"]
    gap = float(np.sqrt(((ens.mean("member") - default) ** 2).mean()))
    noise = float(np.sqrt((ens.var("member", ddof=1) / 8).mean()))
    assert 0 < gap < 1.5 * noise, (gap, noise)  # the members' mean is the estimate within sampling noise


def test_far_outside_the_trained_range_the_default_is_the_lapse_rate_method(monkeypatch):
    """A 0.2-degree target (the model knows 1.85-3.72 deg): the default is exactly the lapse-rate method, with
    a warning naming the variable, and a standard error from verifying that method one level up."""
    monkeypatch.delenv("XDA_ETOPO5", raising=False)
    monkeypatch.setattr(xda.labeled.static, "ETOPO5_PATHS", ())  # only the bundled ETOPO20, wherever this runs
    lat, lon = np.arange(40.1, 46.0, 0.8), np.arange(5.1, 14.0, 0.8)
    y, x = np.meshgrid(lat, lon, indexing="ij")
    t = xr.DataArray(280 + 0.5 * np.sin(x) - 0.3 * (y - 43), dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                     name="tasmax", attrs={"units": "K", "standard_name": "air_temperature"})
    with pytest.warns(xda.errors.XdaWarning, match=r"'tasmax'.*outside the spacings.*lapse-rate method"):
        default = t.phyda.downscale(4)
    with pytest.warns(xda.errors.XdaWarning, match=r"'tasmax' \(0.2 deg\) is finer than the relief xda has.*orography="):
        lapse = t.phyda.downscale(4, method="lapse_rate")
    np.testing.assert_allclose(default.values, lapse.values, atol=1e-6)
    assert default.attrs["xda_correction_weight"] == 0.0
    assert np.isfinite(default["tasmax_standard_error"].values).all()


def test_a_target_a_third_finer_than_trained_is_not_vouched_for_one_level_up():
    """The real blizzard at x2: its 1.25-degree rows are finer than the model was trained for (1.85 deg), and the
    check one level up (2.5 deg) cannot vouch for them: the default is the lapse-rate method, with the warning."""
    t = xda.datasets.open_dataset("storm1996_t")["t"].isel(time=slice(0, 64, 16), lat=slice(4, 32), lon=slice(6, 30))
    coarse = xda.coarsen(t, 2)
    with pytest.warns(xda.errors.XdaWarning, match=r"'t' \(1.25-2.5 deg\) is outside the spacings"):
        default = coarse.phyda.downscale(2, like=t)
    lapse = coarse.phyda.downscale(2, method="lapse_rate", like=t)
    np.testing.assert_allclose(default.values, lapse.values, atol=1e-6)
    assert default.attrs["xda_correction_weight"] == 0.0


def test_members_without_an_error_estimate_say_they_are_identical():
    """The blizzard at x4 on a 7 x 6 coarse grid: outside the model's range and too small to verify one level up,
    so there is no error to draw members from: they are the lapse-rate method, identical, and a warning says so."""
    t = xda.datasets.open_dataset("storm1996_t")["t"].isel(time=slice(0, 64, 16), lat=slice(4, 32), lon=slice(6, 30))
    coarse = xda.coarsen(t, 4)
    with pytest.warns(xda.errors.XdaWarning, match=r"3 members of 't' are identical.*\(7 x 6 coarse cells\)"):
        out = coarse.phyda.downscale(4, members=3, seed=0)
    lapse = coarse.phyda.downscale(4, method="lapse_rate")
    np.testing.assert_allclose(out.values, np.broadcast_to(lapse.values, out.shape), atol=1e-5)


def test_regional_grid_works(esm):
    _, coarse = esm
    region = coarse.isel(lat=slice(14, 20), lon=slice(30, 40))  # North America
    out = region.phyda.downscale(4, members=2, seed=0, steps=8)["tas"].isel(member=0)
    assert out.shape == (2, 24, 40)
    assert np.isfinite(out.values).all()
    assert float(out.min()) > 200 and float(out.max()) < 330
    reg = region.phyda.downscale(4, method="regression")["tas"]
    assert float(abs(out - reg).max()) < 10.0  # a member departs from the mean by the model's spread, not more


def test_clear_errors(esm):
    _, coarse = esm
    t = coarse["tas"]
    with pytest.raises(ModelError, match=r"factors \[2, 3, 4\], not 5"):
        t.phyda.downscale(factor=5)
    small = t.isel(lat=slice(15, 21), lon=slice(30, 36))
    small = small.assign_coords(lat=("lat", 30 + 1.5 * np.arange(6), small["lat"].attrs),
                                lon=("lon", 250 + 1.5 * np.arange(6), small["lon"].attrs))
    with pytest.warns(UserWarning, match="outside the spacings"):  # 1.5 deg -> 0.375 deg, 5x finer than trained
        small.phyda.downscale(4, method="regression")
    with pytest.raises(GridError, match="at least 4 x 4"):
        t.isel(lat=slice(0, 3), lon=slice(0, 3)).phyda.downscale(4)
    ny, nx = 6, 8  # a curvilinear grid: refused with the advice to regrid, for every method
    lat2, lon2 = np.meshgrid(np.linspace(30, 50, ny), np.linspace(-100, -80, nx), indexing="ij")
    curvi = xr.DataArray(np.full((ny, nx), 280.0), dims=("y", "x"), name="tas",
                         attrs={"units": "K", "standard_name": "air_temperature"},
                         coords={"lat": (("y", "x"), lat2, {"standard_name": "latitude", "units": "degrees_north"}),
                                 "lon": (("y", "x"), lon2, {"standard_name": "longitude", "units": "degrees_east"})})
    for method in ("lapse_rate", "regression"):
        with pytest.raises(CoordinateError, match="curvilinear.*[Rr]egrid"):
            curvi.phyda.downscale(2, method=method)
    bad = t.copy()
    bad[0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="'tas' has 1 NaN"):
        bad.phyda.downscale(4)
    with pytest.raises(UnitsError, match="no units"):
        t.drop_attrs().phyda.downscale(4)
    with pytest.raises(NotFoundError, match="only one wind component"):
        coarse.drop_vars("vas").phyda.downscale(4)
    with pytest.raises(GridError, match="fine grid"):
        t.phyda.downscale(4, orography=xda.static.orography_like(t))
    with pytest.raises(ValueError, match="method='nearest' is not one of"):
        t.phyda.downscale(4, method="nearest")
    with pytest.raises(ValueError, match="steps=0 must be an integer >= 1"):
        t.phyda.downscale(4, steps=0)
    with pytest.raises(UnitsError, match="lapse_rate='6.5 m'"):
        t.phyda.downscale(4, method="lapse_rate", lapse_rate="6.5 m")
    with pytest.raises(ValueError, match="K/km"):
        t.phyda.downscale(4, method="lapse_rate", lapse_rate=-0.0065e3 * 1000)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            t.phyda.downscale(4, device="cuda")


def test_train_downscaler_writes_a_loadable_model(tmp_path, monkeypatch):
    from xda.static import land_area_fraction

    rng = np.random.default_rng(0)
    lat = np.linspace(-87.1875, 87.1875, 32)
    lon = np.arange(64) * 5.625
    nt, shape = 6, (6, 32, 64)
    smooth = lambda a: a + np.roll(a, 1, -1) + np.roll(a, -1, -1)  # noqa: E731
    tas = 250 + 30 * np.cos(np.deg2rad(lat))[:, None] + smooth(rng.normal(size=shape))
    dims = ("time", "lat", "lon")
    ds = xr.Dataset(
        {"tas": (dims, tas), "uas": (dims, 5 * rng.normal(size=shape)), "vas": (dims, 5 * rng.normal(size=shape)),
         "orog": (("lat", "lon"), surface_altitude(lat, lon)), "sftlf": (("lat", "lon"), land_area_fraction(lat, lon)),
         "split": ("time", np.array(["train"] * 4 + ["validation"] * 2))},
        coords={"time": np.arange(nt) * 6.0, "lat": lat, "lon": lon})
    ds.to_netcdf(tmp_path / "sim.nc")
    wfile = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="downscaling", name="tiny-ds", max_steps=2, batch=2,
                      channels=(8, 8, 8))
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "w"))
    net, card = registry.load_model("tiny-ds", device="cpu")
    assert card["training"]["stages"]["denoiser"]["steps"] == 2
    assert tuple(card["factors"]) == (2, 3, 4) and card["departure_std"] > 0 and set(card["physics"]) == {"1", "2"}
    assert wfile.exists() and card["validation"]["rmse_baseline_K"] > 0
    again = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="downscaling", name="tiny-ds-2", max_steps=1, batch=2,
                      init=wfile, stages=("denoiser",))  # the init is loaded through its manifest-checked card
    _, card2 = registry.load_model(again, device="cpu")
    assert card2["training"]["initialised_from"] == "tiny-ds.safetensors" and card2["network"] == card["network"]
    # the consistency stage fine-tunes the init's denoiser (not a fresh one) and leaves its regression alone
    third = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="downscaling", name="tiny-ds-3", max_steps=2, batch=4,
                      lr=0.1, init=wfile, stages=("consistency",))
    net3, card3 = registry.load_model(third, device="cpu")
    assert card3["training"]["stages"]["consistency"]["steps"] == 2
    assert "--stages consistency" in card3["training"]["commands"][-1]
    assert all(torch.equal(a, b) for a, b in zip(net.regressor.parameters(), net3.regressor.parameters()))
    changed = [not torch.equal(a, b) for a, b in zip(net.denoiser.parameters(), net3.denoiser.parameters())]
    assert any(changed)
    # the mean-head stage distils the sampler's mean into a head of its own and keeps the other two networks
    fourth = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="downscaling", name="tiny-ds-4", max_steps=3, batch=2,
                       lr=0.1, init=wfile, stages=("mean_head",), minutes_mean_head=0.5)
    net4, card4 = registry.load_model(fourth, device="cpu")
    assert card4["network"]["mean_head"] and card4["training"]["stages"]["mean_head"]["batches"] == 3
    assert "--stages mean_head" in card4["training"]["commands"][-1]
    for part in ("regressor", "denoiser"):
        assert all(torch.equal(a, b) for a, b in zip(getattr(net, part).parameters(), getattr(net4, part).parameters()))
    assert any(p.abs().sum() > 0 for p in net4.mean_head.out.parameters())  # trained away from the zero start
    # retraining a network the head distils drops it (stale otherwise)
    fifth = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="downscaling", name="tiny-ds-5", max_steps=1, batch=2,
                      init=fourth, stages=("denoiser",))
    net5, card5 = registry.load_model(fifth, device="cpu")
    assert net5.mean_head is None and "mean_head" not in card5["network"]


def test_a_mean_head_centres_the_members_without_recentring():
    """With a mean head, ``method="regression"`` is the regression plus the head's correction, and the members are the
    sampler's raw draws (their mean not forced onto anything); a zero head gives the plain regression."""
    from xda.models.downscaling import AnchoredDownscaler, downscale_arrays

    torch.manual_seed(0)
    plain = AnchoredDownscaler((8, 8, 8))
    headed = AnchoredDownscaler((8, 8, 8), mean_head=True)
    headed.regressor.load_state_dict(plain.regressor.state_dict())
    headed.denoiser.load_state_dict(plain.denoiser.state_dict())
    rng = np.random.default_rng(1)
    lat_c, lon_c = np.linspace(-80, 80, 9), np.arange(16) * 22.5
    lat_f, lon_f = np.linspace(-85, 85, 18), np.arange(32) * 11.25
    args = (250 + rng.normal(size=(2, 9, 16)), lat_c, lon_c, lat_f, lon_f, np.abs(rng.normal(size=(18, 32))) * 500,
            np.ones((18, 32)), True)
    card = {"departure_std": 2.0, "residual2_std": 0.7}
    run = lambda net, **kw: downscale_arrays(*args, model=net.eval(), card=card, **kw)[0]  # noqa: E731
    np.testing.assert_allclose(run(headed, method="regression"), run(plain, method="regression"), atol=1e-10)
    with torch.no_grad():
        headed.mean_head.out.bias.fill_(0.5)  # a constant correction of 0.5 departure stds
    moved = run(headed, method="regression") - run(plain, method="regression")
    assert abs(moved.mean() - 0.0) < 1e-6  # the projection keeps the block means: a constant shift is removed ...
    headed.mean_head.out.bias.data.zero_()
    with torch.no_grad():
        headed.mean_head.out.weight[0, 0, 1, 1] = 1.0  # ... a field-dependent one is not
    assert np.abs(run(headed, method="regression") - run(plain, method="regression")).max() > 1e-3
    raw = run(headed, method="xda", members=3, steps=2, seed=0)
    recentred = run(plain, method="xda", members=3, steps=2, seed=0)
    reg = run(plain, method="regression")[0]
    np.testing.assert_allclose(recentred.mean(0), reg, atol=1e-8)  # without a head: recentred on the regression
    assert np.abs(raw.mean(0) - reg).max() > 1e-3  # with one: the raw draws, same noise, not recentred


def test_downscale_onto_a_target_grid(esm):
    """``like=``: the output is on exactly the target's coordinates (a Gaussian grid; a regional 1-deg grid)."""
    fine_truth, coarse = esm
    t = coarse["tas"].isel(time=1)
    truth = fine_truth["tas"].isel(time=1)
    out = t.phyda.downscale(method="lapse_rate", like=truth)  # the T63 Gaussian grid: not a uniform split
    np.testing.assert_array_equal(out["lat"].values, truth["lat"].values)
    np.testing.assert_array_equal(out["lon"].values, truth["lon"].values)
    assert out.attrs["xda_factor"] == 4
    err = lambda f: float(np.sqrt(np.mean((f.values - truth.values) ** 2)))  # noqa: E731
    assert err(out) < 0.85 * err(t.phyda.downscale(method="bicubic", like=truth))
    lat, lon = np.arange(55.5, 25.6, -1.0), np.arange(240.5, 290.0, 1.0)  # descending, 1 deg, North America
    target = xr.DataArray(np.zeros((lat.size, lon.size)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    reg = t.phyda.downscale(method="bicubic", like=target)
    assert reg.shape == (30, 50) and reg.attrs["xda_factor"] == 8
    np.testing.assert_array_equal(reg["lat"].values, lat)
    with pytest.raises(GridError, match="coarser than the input"):
        t.phyda.downscale(method="bicubic", like=t.isel(lat=slice(None, None, 2), lon=slice(None, None, 2)))
    region = t.sel(lat=slice(20, 60), lon=slice(230, 300))
    with pytest.raises(GridError, match="longitude convention"):
        region.phyda.downscale(method="bicubic", like=target.assign_coords(lon=lon - 360.0))
    learned = t.phyda.downscale(method="regression", like=truth)  # the learned method picks the factor too
    np.testing.assert_array_equal(learned["lat"].values, truth["lat"].values)
    assert learned.attrs["xda_factor"] == 4 and "the anchor" in learned.attrs["xda_lapse_rate"]
    with pytest.warns(xda.errors.XdaWarning, match=r"8x finer.*computed at x4 and interpolated"):  # 7.5 -> 1 deg: x8
        capped = t.phyda.downscale(method="regression", like=target)
    assert capped.attrs["xda_factor"] == 4 and capped.sizes["lat"] == target.sizes["lat"]
    with pytest.raises(ModelError, match="trained for factors"):  # an explicit factor the model lacks is refused
        t.phyda.downscale(8, method="regression")


def test_an_installed_etopo5_serves_grids_finer_than_two_thirds_of_a_degree(tmp_path, monkeypatch):
    """``$XDA_ETOPO5`` (ferret's etopo5.cdf layout) is used for fine grids, the bundled ETOPO20 for coarse ones;
    a wrong path is an error naming the variable."""
    from xda.labeled import static

    elat, elon = np.arange(30.0, 50.0, 1 / 12), np.arange(0.0, 20.0, 1 / 12)
    z = 1000.0 + 500.0 * np.sin(np.deg2rad(40 * elon))[None, :] * np.ones((elat.size, 1))
    f = tmp_path / "etopo5.cdf"
    xr.Dataset({"ROSE": (("ETOPO05_Y", "ETOPO05_X"), z.astype(np.float32))},
               coords={"ETOPO05_Y": elat, "ETOPO05_X": elon}).to_netcdf(f)
    monkeypatch.setenv("XDA_ETOPO5", str(f))
    lat, lon = np.arange(40.05, 42.0, 0.1), np.arange(5.05, 8.0, 0.1)
    assert static.relief_for(lat, lon) == "etopo5" and static.relief_for(np.arange(0, 40.0, 1), np.arange(0, 20.0, 1)) == "etopo20"
    got = static.surface_altitude(lat, lon)
    want = 1000.0 + 500.0 * np.sin(np.deg2rad(40 * lon))  # the relief's zonal profile, near each cell's centre
    np.testing.assert_allclose(got[5], want, atol=60.0)
    assert np.ptp(got[5]) > 0.9 * np.ptp(want)  # the 9-degree waves are resolved, not smoothed away
    monkeypatch.setenv("XDA_ETOPO5", str(tmp_path / "missing.cdf"))
    with pytest.raises(xda.errors.NotFoundError, match="XDA_ETOPO5="):
        static.surface_altitude(lat, lon)


@given(st.integers(0, 10_000), st.sampled_from([2, 3, 4]))
@settings(max_examples=20, deadline=None)
def test_conservative_remap_nested_cells_are_block_means(seed, factor):
    """Onto a grid whose cells nest in the source's, the remap is the area-weighted block mean, and the
    area-weighted global mean is kept (first-order conservative, Jones 1999)."""
    rng = np.random.default_rng(seed)
    ny, nx = 6 * factor, 8 * factor
    lat = -90 + (np.arange(ny) + 0.5) * 180 / ny
    lon = (np.arange(nx) + 0.5) * 360 / nx
    a = rng.normal(280, 10, (2, ny, nx))
    lat_c, lon_c = regrid.coarse_coords(lat, lon, factor)
    out = regrid.conservative_remap(a, lat, lon, lat_c, lon_c, periodic=True)
    np.testing.assert_allclose(out, regrid.coarsen(a, factor, lat), rtol=0, atol=1e-9)
    w, w_c = np.cos(np.deg2rad(lat))[:, None], np.cos(np.deg2rad(lat_c))[:, None]
    area = np.diff(np.sin(np.deg2rad(regrid.cell_bounds(lat, -90, 90))))[:, None]
    area_c = np.diff(np.sin(np.deg2rad(regrid.cell_bounds(lat_c, -90, 90))))[:, None]
    np.testing.assert_allclose((out * area_c).sum((-2, -1)) / area_c.sum() / nx * factor,
                               (a * area).sum((-2, -1)) / area.sum() / nx, rtol=1e-12)
    assert w.shape[0] == ny and w_c.shape[0] == ny // factor
    shifted = regrid.conservative_remap(a, lat, lon, lat_c[::-1], lon_c - 180.0, periodic=True)  # other conventions
    np.testing.assert_allclose(shifted[:, ::-1], np.roll(out, nx // factor // 2, axis=-1), atol=1e-9)


def test_like_the_input_returns_the_input():
    """`like=` the coarse grid itself (global, polar rows included): the conservative answer is the input."""
    c = xda.coarsen(xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0), 4)
    for method in ("lapse_rate", "bicubic"):
        f = xda.downscale(c, method=method, like=c)
        assert f.shape == c.shape and float(abs(f - c).max()) < 2e-3, method


@given(st.integers(1, 47))
@settings(max_examples=6, deadline=None)
def test_global_downscaling_has_no_seam_at_the_longitude_origin(shift):
    """A global field downscaled from any longitude origin is the same field (the periodic spline has no seam)."""
    c = xda.coarsen(xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0), 4)
    rolled = c.roll(lon=shift, roll_coords=True)
    rolled = rolled.assign_coords(lon=np.where(np.arange(c.lon.size) < shift, rolled.lon - 360.0, rolled.lon))
    for method in ("bicubic", "lapse_rate"):
        f = xda.downscale(c, 2, method=method)
        g = xda.downscale(rolled, 2, method=method)
        g = g.assign_coords(lon=g.lon % 360).sortby("lon")
        np.testing.assert_allclose(g.values, f.values, atol=2e-3, err_msg=method)


@pytest.mark.parametrize("shape, factor, level", [((6, 12), 4, None), ((12, 24), 4, 2), ((30, 60), 4, 4), ((8, 8), 2, 2)])
def test_one_level_up_takes_blocks_enough_to_verify_a_weight(shape, factor, level):
    """The verification coarsens the input by the target's factor where that leaves MIN_VERIFY blocks, else by 2
    (a 12 x 24 input at x4 would leave 18 blocks, too few for any weight); nothing where no 4 x 4 blocks fit."""
    from xda.assimilation.verify import MIN_VERIFY
    from xda.tasks.downscale_verify import Coarse, Fine, one_level_up

    lat, lon = np.linspace(30, 60, shape[0]), np.linspace(0, 30, shape[1])
    fy, fx = shape[0] * factor, shape[1] * factor
    f = Fine(np.linspace(29, 61, fy), np.linspace(-1, 31, fx), np.zeros((fy, fx)), np.zeros((fy, fx)), factor)
    up = one_level_up(Coarse(np.zeros((1, *shape)), lat, lon, False), f)
    assert (up is None) if level is None else (up[1].factor == level)
    if level is not None and level != factor:
        assert up[0].t[0].size >= MIN_VERIFY


def test_standard_error_is_extrapolated_from_two_levels_up_on_a_real_global_field(esm):
    """On the real MPI-ESM globe at x2 (two levels up fit), the standard error is the error one level up shrunk
    by the anchor's error ratio between one and two levels up and scaled by the training world's actual / stated
    ratio: smaller than the unshrunk one-level-up error and within 0.45-1.2x the actual error (measured 0.6x on
    this month; unshrunk and unscaled it was 2.1x)."""
    from xda.tasks import downscale_verify

    fine_truth, _ = esm
    coarse = xda.coarsen(fine_truth, 2)["tas"].isel(time=0)
    se = coarse.phyda.downscale(2)["tas_standard_error"]
    err = float(np.sqrt(((coarse.phyda.downscale(2) - fine_truth["tas"].isel(time=0).values) ** 2).mean()))
    ones = lambda c2, f2, e1, gamma: np.ones(e1.shape[0])  # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(downscale_verify, "_per_level", ones)
        se_up = coarse.phyda.downscale(2)["tas_standard_error"]
    assert float((se / se_up).max()) < 0.95 and float((se / se_up).min()) >= downscale_verify.MIN_SHRINK - 1e-9
    assert 0.45 < float(np.sqrt((se**2).mean())) / err < 1.2
