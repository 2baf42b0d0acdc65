"""The multivariate model: a joint network that learned nothing returns the classical multivariate anchor."""

import numpy as np
import pytest
import torch
import xarray as xr

import xda
from xda.errors import ModelError
from xda.models import registry
from xda.models.joint import JointDenoiser, JointLoss, analysis_state, balance_penalty
from xda.numerics import balance, stencils, stencils_torch

from joint_cases import STATE, joint_state as _state  # noqa: E402  (tests/joint_cases.py)

ALPHA = 0.8


def _card(**extra) -> dict:
    """A joint model card on a 5.625-degree grid with the state above."""
    return {"kind": "assimilation", "anchor": "oi", "joint": True, "encoder": "analytic", "balance_coefficient": ALPHA,
            "variables": {k: dict(index=i, standard_name=sn, units=u, clim_mean=m, clim_std=s, sigma_b={"lat": [0.0], "values": [sb]},
                                  length_scale_m=L, correlation="soar") for i, (k, (sn, u, m, s, sb, L)) in enumerate(STATE.items())},
            "grid": {"shape": [32, 64], "global": True, "spacing_deg": 5.625, "valid_spacing_deg": [0.25, 6.0]}, **extra}


@pytest.fixture
def zero_joint(tmp_path, monkeypatch):
    """A joint model whose network output is zero (its untrained state), saved as 'zero-joint'."""
    torch.manual_seed(0)
    yield from _installed(JointDenoiser(4, (8, 8, 8, 8)), _card(), "zero-joint", tmp_path, monkeypatch)


def _installed(net, card, name: str, tmp_path, monkeypatch):
    """Save ``net`` as model ``name`` in a weights dir of its own; yield the name, then forget the loaded models."""
    registry.save_model(net, card, tmp_path, name)
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path))
    registry.clear_cache()
    yield name
    registry.clear_cache()


def _returns_the_multivariate_anchor(model: str, atol: float):
    """Assert that ``model`` (a network that learned nothing) gives z500 = its tuned OI and u500 = background +
    alpha * geostrophic wind of the height increment; returns (truth, background, analysis, (ug, vg))."""
    truth, bg, obs, geo = _state()
    a = xda.assimilate(bg, obs, model=model, verify=False)
    oi = xda.assimilate(bg[["z500"]], obs, method="oi")
    xr.testing.assert_allclose(a["z500"].drop_attrs(), oi["z500"].drop_attrs(), atol=1e-6)
    ug, vg = balance.geostrophic_wind(oi["z500"].values - bg["z500"].values, geo)
    np.testing.assert_allclose(a["u500"].values, bg["u500"].values + ALPHA * ug, atol=atol)
    return truth, bg, a, (ug, vg)


def test_zero_joint_network_returns_the_multivariate_anchor(zero_joint):
    """Heights by tuned OI; winds = background + alpha * geostrophic wind of the height increment; tas untouched."""
    truth, bg, a, (ug, vg) = _returns_the_multivariate_anchor(zero_joint, atol=1e-6)
    np.testing.assert_allclose(a["v500"].values, bg["v500"].values + ALPHA * vg, atol=1e-6)
    xr.testing.assert_allclose(a["tas"].drop_attrs(), bg["tas"].drop_attrs())
    assert a["u500"].attrs["xda_n_obs"] == 0 and "u500_standard_error" in a
    rms = lambda x: float(np.sqrt((x**2).mean()))  # noqa: E731
    # heights alone improve the winds (balanced truth and background)
    assert rms(a["u500"] - truth["u500"]) < 0.8 * rms(bg["u500"] - truth["u500"])
    assert rms(a["v500"] - truth["v500"]) < 0.8 * rms(bg["v500"] - truth["v500"])


def test_zero_joint_network_with_a_missing_variable_and_members(zero_joint):
    truth, bg, obs, _ = _state()
    a = xda.assimilate(bg[["z500", "tas"]], obs, model=zero_joint, verify=False, members=3, seed=1)
    assert a["z500"].sizes["member"] == 3 and set(a.data_vars) >= {"z500", "tas"}
    oi = xda.assimilate(bg[["z500"]], obs, method="oi")
    xr.testing.assert_allclose(a["z500"].mean("member").drop_attrs(), oi["z500"].drop_attrs(), atol=1e-6)


def test_physics_term_is_the_diagnostic_of_the_denoised_state():
    """PRDO's residual, from the condition fields, is xda.geostrophic_residual of x_a + s_a D."""
    truth, bg, _, geo = _state()
    rng = np.random.default_rng(0)
    means, stds = [5500.0, 280.0, 8.0, 0.0], [300.0, 15.0, 11.0, 9.0]
    xa = np.stack([bg[k].values for k in STATE])
    sb = np.stack([np.full(xa.shape[1:], s) for s in (20.0, 1.0, 2.0, 2.0)])
    f = np.zeros((1, 4, 7) + xa.shape[1:])
    f[0, :, 0] = (xa - np.array(means)[:, None, None]) / np.array(stds)[:, None, None]
    f[0, :, 2], f[0, :, 3] = 0.5, sb / np.array(stds)[:, None, None]
    x_t, s_t = analysis_state(torch.tensor(f), means, stds)
    np.testing.assert_allclose(x_t[0].numpy(), xa, atol=1e-9)
    np.testing.assert_allclose(s_t[0].numpy(), 0.5 * sb, atol=1e-12)
    d = torch.tensor(rng.normal(size=(1, 4) + xa.shape[1:]))
    state = x_t + s_t * d
    ru, rv = stencils.geostrophic_residual(*(state[0, i].numpy() for i in (0, 2, 3)), geo)
    expect = np.nansum(ru**2 + rv**2) / ru.size / 100.0
    assert float(balance_penalty(state, (0, 2, 3), geo)) == pytest.approx(expect, rel=1e-9)
    # the loss runs, and its physics part is zero for an exactly balanced denoised state
    ru, rv = stencils_torch.geostrophic_residual(*(torch.tensor(bg[k].values) for k in ("z500", "u500", "v500")), geo)
    assert float(((ru**2 + rv**2) / 100).mean()) == pytest.approx(float(balance_penalty(torch.tensor(xa)[None], (0, 2, 3), geo)))
    net = JointDenoiser(4, (8, 8, 8, 8))
    cond = net.condition(torch.tensor(f, dtype=torch.float32), torch.linspace(-87.1875, 87.1875, 32),
                         torch.arange(64, dtype=torch.float32) * 5.625, True)
    loss = JointLoss(0.1, balance_index=(0, 2, 3), means=means, stds=stds)
    total, parts = loss(net, d.float(), cond, torch.tensor(f, dtype=torch.float32), True, geo)
    assert np.isfinite(total.item()) and parts["physics"] > 0


def test_vre_normalises_each_variable_reversibly():
    """RevIN: the encoder's output does not change when a variable's residuals are scaled and shifted."""
    from xda.models.joint import VirtualReconstructionEncoder

    torch.manual_seed(0)
    enc = VirtualReconstructionEncoder(2, width=8, out_channels=4)
    rng = np.random.default_rng(0)
    mask = torch.tensor(rng.random((1, 2, 16, 32)) < 0.1, dtype=torch.float32)
    val = torch.tensor(rng.normal(size=(1, 2, 16, 32)), dtype=torch.float32) * mask
    err = 0.3 * mask
    lat, lon = torch.linspace(-80, 80, 16), torch.arange(32) * 11.25
    a = enc(torch.stack([val, mask, err], 2), lat, lon, True)
    b = enc(torch.stack([(3 * val + 2) * mask, mask, err], 2), lat, lon, True)
    assert a.shape == (1, 4, 16, 32)
    # only the two RevIN statistic channels see the change; with them zeroed the outputs agree
    assert not torch.allclose(a, b)
    vn_a, _, _ = enc._revin(val, mask)
    vn_b, _, _ = enc._revin((3 * val + 2) * mask, mask)
    torch.testing.assert_close(vn_a, vn_b, atol=1e-5, rtol=1e-5)


@pytest.fixture
def zero_latent(tmp_path, monkeypatch):
    """A latent joint model whose denoiser outputs zero (untrained), with an untrained autoencoder."""
    from xda.models.latent import LatentJointDenoiser

    card = _card(latent=True)
    torch.manual_seed(0)
    net = LatentJointDenoiser(4, (8, 8, 8), latent=4, ae_channels=(8, 8), means=[v[2] for v in STATE.values()],
                              stds=[v[3] for v in STATE.values()])
    yield from _installed(net, card, "zero-latent", tmp_path, monkeypatch)


def test_zero_latent_denoiser_returns_the_anchor_whatever_the_autoencoder(zero_latent):
    """x = x_a + std (Dec(z_a + delta) - Dec(z_a)): the reconstruction error of the autoencoder cancels."""
    _returns_the_multivariate_anchor(zero_latent, atol=1e-5)


def test_latent_optimization_runs_where_it_applies_and_is_refused_elsewhere(zero_latent, zero_joint):
    truth, bg, obs, _ = _state()
    a = xda.assimilate(bg, obs, model=zero_latent, latent_optimization={"lo_steps": 2}, members=2, steps=3, seed=0)
    assert a["z500"].sizes["member"] == 2 and np.isfinite(a["z500"].values).all() and a.attrs["xda_nfe"] == 2 * 3
    with pytest.raises(ModelError, match="latent_optimization needs a latent"):
        xda.assimilate(bg, obs, model=zero_joint, latent_optimization=True)
    with pytest.raises(ModelError, match="latent_optimization needs a latent"):
        xda.assimilate(bg[["z500"]], obs, latent_optimization=True)


def test_shipped_joint_model_on_the_real_blizzard():
    """Real data: winds and surface T of the 1996 blizzard (z500 absent from the state), the field 12 h
    earlier as background; observed winds update tas too, and the winds improve at withheld points."""
    registry.clear_cache()
    parts = {"tas": ("storm1996_t", "t"), "u500": ("storm1996_u500", "u500"), "v500": ("storm1996_v500", "v500")}
    ds = xr.Dataset({v: xda.datasets.open_dataset(f)[n].isel(lat=slice(16, 33), lon=slice(4, 32)) for v, (f, n) in parts.items()})
    ds["tas"].attrs.update(standard_name="air_temperature")
    for v, sn in (("u500", "eastward_wind"), ("v500", "northward_wind")):
        ds[v].attrs.update(standard_name=sn)
    t = int(np.flatnonzero(np.isfinite(ds["tas"]).all(("lat", "lon")).values & np.isfinite(ds["v500"]).all(("lat", "lon")).values)[20])
    truth = ds.isel(time=t)
    bg = ds.isel(time=t - 2).assign_coords(time=truth.time)  # persistence: the field 12 h earlier, valid now
    assert np.isfinite(bg.to_array()).all()
    mask = np.random.default_rng(0).random(truth["u500"].shape) < 0.1
    obs = truth[["u500", "v500"]].where(mask)
    a = xda.assimilate(bg, obs, model="hs-t42-mv-v1", obs_error={"u500": 1.5, "v500": 1.5}, seed=0)
    assert a["tas"].attrs["xda_n_obs"] == 0 and not np.allclose(a["tas"].values, bg["tas"].values)
    rms = lambda x: float(np.sqrt((x.where(~mask) ** 2).mean()))  # noqa: E731
    assert rms(a["u500"] - truth["u500"]) < rms(bg["u500"] - truth["u500"])
    assert bg["u500"].identical(ds["u500"].isel(time=t - 2).assign_coords(time=truth.time))  # the input is untouched


def test_joint_analysis_in_observation_space(zero_joint):
    truth, bg, obs, _ = _state()
    a, table = xda.assimilate(bg, obs, model=zero_joint, verify=False, obs_space=True, obs_error={"z500": 3.0})
    assert set(table["variable"]) == {"z500"} and len(table) == int(obs["z500"].notnull().sum())
    np.testing.assert_allclose(table["oma"], table["observation"] - table["analysis"])
    assert float((table["oma"] ** 2).mean()) < float((table["omb"] ** 2).mean())
    assert "xda_desroziers_obs_error_std" in a["z500"].attrs and "xda_desroziers_obs_error_std" not in a["u500"].attrs


def test_ten_metre_winds_are_not_the_models_500_hpa_winds():
    """The blizzard's 10 m winds (``height = 10 m``) share the standard name of the joint model's 500 hPa winds: they
    are not mapped onto them (a warning says why) and the call is refused with the fix, not analysed with 500 hPa
    statistics; explicitly mapped, they are the user's choice."""
    parts = {"tas": ("storm1996_t", "t"), "uas": ("storm1996_u", "u"), "vas": ("storm1996_v", "v")}
    ds = xr.Dataset({v: xda.datasets.open_dataset(f)[n].isel(time=30, lat=slice(16, 33), lon=slice(4, 32)) for v, (f, n) in parts.items()})
    height = xr.DataArray(10.0, attrs={"units": "m", "standard_name": "height"})
    ds = ds.assign_coords(height=height)
    for v, sn in (("tas", "air_temperature"), ("uas", "eastward_wind"), ("vas", "northward_wind")):
        ds[v].attrs.update(standard_name=sn)
    obs = ds[["uas", "vas"]].where(np.random.default_rng(0).random(ds["uas"].shape) < 0.1)
    with pytest.warns(xda.errors.XdaWarning, match=r"'uas' is at 10 m above the ground; the model's 'u500' is at 500 hPa"):
        with pytest.raises(xda.errors.ModelError, match=r"does not know \['uas', 'vas'\].*variables="):
            xda.assimilate(ds, obs, model="hs-t42-mv-v1", obs_error={"uas": 1.5, "vas": 1.5})


def test_latent_optimization_lowers_the_summed_objective_and_is_the_denoiser_without_observations():
    """LO-SDA's denoiser wrapper: without observations the refined latent is the denoiser's (the minimum of the
    prior term); with them, L-BFGS lowers J = 1/2 sum((r - Hu)/s_o)^2 + 1/2 sum(delta - d)^2 / v(sigma)."""
    from xda.models.latent import LatentJointDenoiser, LatentOptimization

    torch.manual_seed(0)
    net = LatentJointDenoiser(4, (8, 8, 8), latent=4, ae_channels=(8, 8), means=[0.0] * 4, stds=[1.0] * 4).eval()
    fields = torch.randn(1, 4, 7, 16, 32)
    fields[:, :, 3] = 1.0  # s_a / std
    cond = net.condition(fields, torch.linspace(-60, 60, 16), torch.arange(32) * 11.25, True)
    x, sigma, var = torch.randn(1, net.x_channels, 4, 8), torch.tensor(2.0), torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        d = net(x, sigma.reshape(1), cond, var, True)
    none = torch.zeros(1, 4, 3, 16, 32)
    none[:, :, 2] = 1.0
    torch.testing.assert_close(LatentOptimization(net, fields, none)(x, sigma, cond, var, True), d)
    obs = none.clone()
    obs[:, :, 1] = (torch.rand(1, 4, 16, 32) < 0.1).float()
    obs[:, :, 0] = 2.0 * obs[:, :, 1]
    lo = LatentOptimization(net, fields, obs, lo_steps=5)
    refined = lo(x, sigma, cond, var, True)
    with torch.no_grad():
        before, after = (lo.objective(z, d, sigma, cond, True).item() for z in (d, refined))
    assert after < 0.9 * before


def test_joint_error_std_is_scaled_to_fit_withheld_observations_as_the_univariate_one():
    """verify=True: each verified variable's stated error std is the anchor's times its cross-validated spread scale
    (in [0.5, 2], recorded as xda_spread_scale)."""
    truth, bg, obs, _ = _state()
    a = xda.assimilate(bg, obs, model="hs-t42-mv-v1", seed=0)
    plain = xda.assimilate(bg, obs, model="hs-t42-mv-v1", seed=0, verify=False)
    k = a["z500"].attrs["xda_spread_scale"]
    assert 0.5 <= k <= 2.0 and k != 1.0 and a["tas"].attrs["xda_spread_scale"] == 1.0  # tas unobserved: unverified
    np.testing.assert_allclose(a["z500_standard_error"].values, k * plain["z500_standard_error"].values, rtol=1e-3)
    assert "to fit withheld observations" in a["z500_standard_error"].attrs["long_name"]


def _series(n: int = 3):
    """``n`` times of the joint test state: backgrounds shifted by 10 m, z500 observed at 8 % of the points."""
    truth, bg, obs, _ = _state()
    times = np.arange(n) * np.timedelta64(6, "h") + np.datetime64("2000-01-01")
    bgs = xr.concat([bg.assign({"z500": bg["z500"] + 10.0 * i}) for i in range(n)], "time").assign_coords(time=times)
    obss = xr.concat([obs] * n, "time").assign_coords(time=times)
    for v in bg.data_vars:
        bgs[v].attrs = bg[v].attrs
    obss["z500"].attrs = obs["z500"].attrs
    return bgs, obss


def test_several_times_of_the_joint_model_share_the_networks_batches_and_equal_their_own(monkeypatch):
    """The joint analyses of three times: their folds and heads go through the network in one call (27 states),
    their members in another, each time's noise from its own generator of the seed; each time equals itself alone."""
    from xda.tasks import assimilate_joint

    bgs, obss = _series()
    calls, original = [], assimilate_joint.departures

    def counted(req, cases, grid, members):
        calls.append((len(cases), members))
        return original(req, cases, grid, members)

    monkeypatch.setattr(assimilate_joint, "departures", counted)
    kw = dict(model="hs-t42-mv-v1", seed=3, members=2, steps=2, obs_error={"z500": 3.0})
    got = xda.assimilate(bgs, obss, **kw)
    assert calls == [(27, 0), (3, 2)]
    calls.clear()
    for i in range(3):
        one = xda.assimilate(bgs.isel(time=i), obss.isel(time=i), **kw)
        for v in ("z500", "u500", "tas"):
            xr.testing.assert_allclose(got[v].isel(time=i), one[v], rtol=1e-6)
        assert one["z500"].attrs["xda_correction_weight_stderr"] != "unverified"
    assert calls == [(9, 0), (1, 2)] * 3
    assert float(abs(got["u500"].isel(member=0) - got["u500"].isel(member=1)).max()) > 0.01
