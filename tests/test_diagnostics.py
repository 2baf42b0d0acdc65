import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import sph_harm_y

import xda
from xda.errors import CoordinateError, GridError, UnitsError
from xda.numerics import reference, stencils, stencils_torch

A = stencils.EARTH_RADIUS


def global_field(values, ny, nx, name="c", units="K"):
    lat = np.linspace(-90 + 90 / ny, 90 - 90 / ny, ny)
    lon = np.arange(nx) * 360.0 / nx
    return xr.DataArray(values, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=name, attrs={"units": units})


def test_spherical_harmonic_is_an_eigenfunction_of_the_laplacian():
    ny, nx = 90, 180
    f = global_field(np.zeros((ny, nx)), ny, nx)
    theta = np.deg2rad(90 - f.lat.values)[:, None]
    phi = np.deg2rad(f.lon.values)[None]
    for l, m in [(2, 1), (4, 2), (7, 3)]:
        y = sph_harm_y(l, m, theta, phi).real
        lap = xda.laplacian(f.copy(data=y))
        expected = -l * (l + 1) / A**2 * y
        err = np.abs(lap.values - expected)[10:-10].max() / np.abs(expected).max()
        assert err < 5e-3, (l, m, err)
        assert lap.attrs["units"] == "K m-2"


def test_constant_field_has_zero_gradient_and_laplacian(storm_t):
    c = xr.full_like(storm_t["t"].isel(time=0), 280.0)
    gx, gy = xda.gradient(c)
    assert np.all(gx.values == 0) and np.all(gy.values == 0)
    lap = xda.laplacian(c)
    assert np.all(lap.values[1:-1, 1:-1] == 0)
    assert np.isnan(lap.values[0]).all() and np.isnan(lap.values[:, -1]).all()  # regional edges


def test_solid_body_rotation_advection():
    ny, nx, U = 120, 240, 20.0
    c = global_field(np.zeros((ny, nx)), ny, nx)
    phi, lam = np.deg2rad(c.lat.values)[:, None], np.deg2rad(c.lon.values)[None]
    c = c.copy(data=np.cos(phi) * np.sin(lam) * np.ones_like(lam))
    u = xr.full_like(c, 0.0).copy(data=U * np.cos(phi) * np.ones_like(lam)).rename("u").assign_attrs(units="m/s")
    v = xr.full_like(u, 0.0).rename("v")
    adv = xda.advection(c, u, v)
    expected = -U / A * np.cos(phi) * np.cos(lam)  # the tendency: -u.grad(c)
    assert np.abs(adv.values - expected).max() < 1e-3 * np.abs(expected).max()
    assert adv.attrs["units"] == "K s-1"


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e-3, 1e-3), st.floats(-1e-3, 1e-3), st.floats(-30, 30), st.floats(-30, 30), st.floats(0, 1e6))
def test_exactly_advected_field_has_zero_residual(gx, gy, uu, vv, kappa):
    """c = c0 + gx (x - U t) + gy (y - V t) on a projected grid: dc/dt + u.grad c = 0, lap c = 0."""
    x = np.arange(12) * 5e4
    y = np.arange(9) * 5e4
    t = np.arange(4) * 3600.0
    tt, yy, xx = np.meshgrid(t, y, x, indexing="ij")
    c = 280 + gx * (xx - uu * tt) + gy * (yy - vv * tt)
    coords = {"time": ("time", t, {"units": "s"}), "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})}
    da = lambda a, n, u: xr.DataArray(a, dims=("time", "y", "x"), coords=coords, name=n, attrs={"units": u})  # noqa: E731
    r = xda.advection_diffusion_residual(da(c, "c", "K"), da(np.full_like(c, uu), "u", "m/s"), da(np.full_like(c, vv), "v", "m/s"), kappa)
    scale = (abs(gx) + abs(gy)) * 30 + 1e-12
    assert np.nanmax(np.abs(r.values)) <= 1e-9 * scale + 1e-12
    assert np.isfinite(r.values[:, 1:-1, 1:-1]).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0, 1e6))
def test_residual_agrees_with_plain_numpy(seed, kappa):
    rng = np.random.default_rng(seed)
    nt, ny, nx = 4, 18, 36
    lat = np.linspace(-85, 85, ny)
    lon = np.arange(nx) * 10.0
    c, u, v = (rng.normal(size=(nt, ny, nx)) for _ in range(3))
    t = np.cumsum(rng.uniform(1800, 7200, nt))
    geo = stencils.geometry(lat, lon, True)
    ours = stencils.advection_diffusion_residual(c, u, v, kappa, t, geo)
    ref = reference.advection_diffusion_residual(c, u, v, kappa, t, lat, lon)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 35), st.floats(-3, 3))
def test_linearity_and_longitude_roll_invariance(seed, shift, alpha):
    rng = np.random.default_rng(seed)
    f = global_field(rng.normal(size=(18, 36)), 18, 36)
    g = f.copy(data=rng.normal(size=(18, 36)))
    lap = xda.laplacian
    np.testing.assert_allclose(lap(alpha * f + g).values, alpha * lap(f).values + lap(g).values, rtol=1e-9, atol=1e-20)
    rolled = f.roll(lon=shift, roll_coords=False)
    np.testing.assert_allclose(lap(rolled).values, lap(f).roll(lon=shift, roll_coords=False).values, rtol=1e-12, atol=1e-24)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_torch_twins_equal_numba(seed, periodic):
    rng = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, 17) if periodic else np.linspace(20, 60, 17)
    lon = np.arange(24) * 15.0 if periodic else np.linspace(-130, -60, 24)
    geo = stencils.geometry(lat, lon, periodic)
    c, u, v = (rng.normal(size=(3, 17, 24)) for _ in range(3))
    t = np.array([0.0, 3600.0, 7200.0])
    a = stencils.advection_diffusion_residual(c, u, v, 1e5, t, geo)
    b = stencils_torch.advection_diffusion_residual(*(torch.tensor(x) for x in (c, u, v)), 1e5, t, geo).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    for name in ("laplacian", "gradient"):
        x = getattr(stencils, name)(c, geo)
        y = getattr(stencils_torch, name)(torch.tensor(c), geo)
        for p, q in zip(x if isinstance(x, tuple) else (x,), y if isinstance(y, tuple) else (y,)):
            np.testing.assert_allclose(p, q.numpy(), rtol=1e-10, atol=1e-14)


def test_agrees_with_metpy_advection_in_the_interior(storm_t):
    mpcalc = pytest.importorskip("metpy.calc")
    t = storm_t["t"].isel(time=10)
    u = xda.datasets.open_dataset("storm1996_u")["u"].isel(time=10)
    v = xda.datasets.open_dataset("storm1996_v")["v"].isel(time=10)
    ours = xda.advection(t, u, v)
    theirs = mpcalc.advection(t.metpy.quantify(), u=u.metpy.quantify(), v=v.metpy.quantify())
    theirs = np.asarray(theirs.metpy.dequantify().values)  # the same sign: -u.grad(c)
    inner = (slice(2, -2), slice(2, -2))
    a, b = ours.values[inner], theirs[inner]
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.sum() > 500
    # MetPy measures distances on the WGS84 ellipsoid, we on a sphere: ~0.5 % apart
    assert np.abs(a[ok] - b[ok]).max() <= 0.02 * np.abs(b[ok]).max()
    assert np.corrcoef(a[ok], b[ok])[0, 1] > 0.999


def test_dask_and_numpy_give_identical_results(storm_t):
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]
    eager = xda.advection_diffusion_residual(t, u, v, kappa=1e5)
    lazy = xda.advection_diffusion_residual(t.chunk(), u.chunk(), v.chunk(), kappa=1e5)
    assert lazy.chunks is not None
    xr.testing.assert_identical(lazy.compute(), eager)
    lap = xda.laplacian(t.chunk(time=16))
    assert lap.chunks is not None
    xr.testing.assert_identical(lap.compute(), xda.laplacian(t))



@pytest.mark.parametrize("chunks", [dict(lat=10), dict(lon=7), dict(time=9, lat=11, lon=12), dict(time=2)])
def test_spatial_and_time_chunks_match_numpy_through_halos(storm_t, chunks):
    """Chunks along lat/lon/time (regional grid: no wrap) give the NumPy answer exactly."""
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]
    eager = xda.advection_diffusion_residual(t, u, v, kappa=1e5)
    lazy = xda.advection_diffusion_residual(t.chunk(chunks), u.chunk(chunks), v.chunk(chunks), kappa=1e5)
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12, atol=0)
    for op in (xda.laplacian, lambda a: xda.gradient(a)[1]):
        xr.testing.assert_allclose(op(t.chunk(chunks)).compute(), op(t), rtol=1e-12, atol=0)


@pytest.mark.parametrize("descending", [False, True])
def test_global_periodic_chunks_wrap_through_the_halo(z500, descending):
    z = z500["z500"]
    z = z.isel(lat=slice(None, None, -1)) if descending else z
    for chunks in (dict(lon=40), dict(lat=20, lon=50)):
        xr.testing.assert_allclose(xda.laplacian(z.chunk(chunks)).compute(), xda.laplacian(z), rtol=1e-12, atol=0)


def test_messy_units_on_real_files(storm_t):
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]
    ref = xda.advection_diffusion_residual(t, u, v, kappa="1e5 m2/s")
    t_c = (t - 273.15).assign_attrs(units="DEG C")
    u_kmh = (u * 3.6).assign_attrs(units="km/h")
    hours = t.assign_coords(time=("time", np.arange(t.sizes["time"]) * 6.0, {"units": "hours"}))
    alt = xda.advection_diffusion_residual(t_c, u_kmh, v, kappa=1e5)
    np.testing.assert_allclose(alt.values, ref.values, rtol=1e-4, atol=1e-9)
    alt2 = xda.advection_diffusion_residual(hours, u.assign_coords(time=hours.time), v.assign_coords(time=hours.time), kappa=1e5)
    np.testing.assert_allclose(alt2.values, ref.values, rtol=1e-6)
    assert ref.attrs["units"] == "K s-1"


def test_descending_latitudes_and_longitude_conventions():
    rng = np.random.default_rng(0)
    f = global_field(rng.normal(size=(18, 36)), 18, 36)
    lap = xda.laplacian(f)
    flipped = xda.laplacian(f.isel(lat=slice(None, None, -1)))
    xr.testing.assert_allclose(flipped.isel(lat=slice(None, None, -1)), lap)
    # the same field labelled -180..180 instead of 0..360
    shifted = f.assign_coords(lon=((f.lon + 180) % 360) - 180).sortby("lon")
    back = xda.laplacian(shifted).assign_coords(lon=lambda x: x.lon % 360).sortby("lon")
    xr.testing.assert_allclose(back, lap)


def test_poles_and_local_nans():
    lat = np.linspace(-90, 90, 19)
    lon = np.arange(36) * 10.0
    f = xr.DataArray(np.random.default_rng(1).normal(size=(19, 36)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                     name="c", attrs={"units": "K"})
    gx, gy = xda.gradient(f)
    assert np.isnan(gx.values[[0, -1]]).all() and np.isfinite(gx.values[1:-1]).all()
    assert np.isfinite(gy.values).all()
    g = f.copy(deep=True)
    g[9, 10] = np.nan
    lap = xda.laplacian(g)
    bad = np.argwhere(np.isnan(lap.values[1:-1])) + [1, 0]
    assert {tuple(b) for b in bad} == {(9, 10), (8, 10), (10, 10), (9, 9), (9, 11)}


def test_error_messages(storm_t):
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    with pytest.raises(UnitsError, match="'u' has no units"):
        xda.advection(t, u.assign_attrs(units=None).drop_attrs(), u)
    with pytest.raises(CoordinateError, match="time="):
        xda.advection_diffusion_residual(t.isel(time=0), u.isel(time=0), u.isel(time=0))
    with pytest.raises(GridError, match="interp_like"):
        xda.advection(t, u.isel(lat=slice(0, 10)), u.isel(lat=slice(0, 10)))
    with pytest.raises(CoordinateError, match="lat="):
        xda.laplacian(xr.DataArray(np.zeros((3, 3)), dims=("a", "b"), attrs={"units": "K"}))


def test_solid_body_rotation_vorticity_divergence_and_geostrophy():
    ny, nx, U = 90, 180, 20.0
    base = global_field(np.zeros((ny, nx)), ny, nx)
    phi = np.deg2rad(base.lat.values)[:, None] * np.ones((1, nx))
    u = base.copy(data=U * np.cos(phi)).rename("u").assign_attrs(units="m s-1")
    v = xr.zeros_like(u).rename("v")
    vort = xda.vorticity(u, v)
    expected = 2 * U * np.sin(phi) / A
    assert np.abs(vort.values - expected)[2:-2].max() < 2e-3 * 2 * U / A
    assert np.abs(xda.divergence(u, v).values).max() < 1e-12
    assert vort.attrs["units"] == "s-1"
    # z = z0 - (Omega a U / g) sin^2(phi) is in geostrophic balance with u = U cos(phi)
    z = base.copy(data=5500 - stencils.OMEGA * A * U / stencils.GRAVITY * np.sin(phi) ** 2).rename("z").assign_attrs(units="m")
    res = xda.geostrophic_residual(z, u, v)
    mid = np.abs(base.lat.values) >= 15
    assert np.isnan(res["u_ageostrophic"].values[~mid]).all()
    assert np.nanmax(np.abs(res["u_ageostrophic"].values[mid])) < 0.02 * U
    assert np.nanmax(np.abs(res["v_ageostrophic"].values[mid])) < 1e-9
    zphi = z.copy(data=z.values * stencils.GRAVITY).assign_attrs(units="m2 s-2")  # geopotential works too
    xr.testing.assert_allclose(xda.geostrophic_residual(zphi, u, v), res)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_vorticity_divergence_torch_twins(seed):
    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-80, 80, 17), np.arange(24) * 15.0
    geo = stencils.geometry(lat, lon, True)
    u, v = rng.normal(size=(2, 17, 24)), rng.normal(size=(2, 17, 24))
    for name in ("vorticity", "divergence"):
        a = getattr(stencils, name)(u, v, geo)
        b = getattr(stencils_torch, name)(torch.tensor(u), torch.tensor(v), geo).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans(), st.floats(5.0, 40.0))
def test_geostrophic_residual_torch_twin(seed, periodic, min_lat):
    """The physics term of the assimilation loss is the diagnostic's stencil (0 where the diagnostic is NaN)."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, 17) if periodic else np.linspace(10, 70, 17)
    lon = np.arange(24) * 15.0 if periodic else np.linspace(-130, -60, 24)
    geo = stencils.geometry(lat, lon, periodic)
    z, u, v = 5500 + 100 * rng.normal(size=(2, 17, 24)), 10 * rng.normal(size=(2, 17, 24)), 10 * rng.normal(size=(2, 17, 24))
    a = stencils.geostrophic_residual(z, u, v, geo, min_lat)
    b = stencils_torch.geostrophic_residual(*(torch.tensor(x) for x in (z, u, v)), geo, min_lat)
    for p, q in zip(a, b):
        q = q.numpy()
        assert np.all(q[np.isnan(p)] == 0)
        np.testing.assert_allclose(p[~np.isnan(p)], q[~np.isnan(p)], rtol=1e-10, atol=1e-12)
    assert np.isnan(a[0]).any() == bool((np.abs(lat) < min_lat).any())


def test_float32_inputs_stay_float32_and_match_float64(storm_t):
    t = storm_t["t"].isel(lon=slice(7, 29))
    u = xda.datasets.open_dataset("storm1996_u")["u"].isel(lon=slice(7, 29))
    v = xda.datasets.open_dataset("storm1996_v")["v"].isel(lon=slice(7, 29))
    r32 = xda.advection_diffusion_residual(t.astype("float32"), u.astype("float32"), v.astype("float32"), kappa=1e5)
    r64 = xda.advection_diffusion_residual(t.astype("float64"), u.astype("float64"), v.astype("float64"), kappa=1e5)
    assert r32.dtype == np.float32 and r64.dtype == np.float64
    np.testing.assert_allclose(r32.values, r64.values, rtol=1e-3, atol=1e-3 * float(np.nanmax(np.abs(r64))))
