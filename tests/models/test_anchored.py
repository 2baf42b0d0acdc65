"""The anchored model: a network that learned nothing returns the OI posterior, on any grid."""

import numpy as np
import pytest
import torch
import xarray as xr

import xda
from xda.assimilation import verify
from xda.errors import GridError, NotFoundError
from xda.models import registry
from xda.models.anchored import (FIELDS, N_COND_ANCHORED, anchored_condition, anchored_denoiser, condition_fields,
                                 posterior_mean, posterior_samples)


@pytest.fixture
def zero_model(tmp_path, monkeypatch):
    """An anchored model whose network output is zero (its untrained state), saved as 'zero'."""
    card = {
        "kind": "assimilation", "anchor": "oi",
        "variables": {
            "z500": dict(index=0, standard_name="geopotential_height", units="m", clim_mean=5500.0, clim_std=300.0,
                         sigma_b={"lat": [0.0], "values": [30.0]}, length_scale_m=5e5, correlation="soar"),
            "tas": dict(index=1, standard_name="air_temperature", units="K", clim_mean=280.0, clim_std=15.0,
                        sigma_b={"lat": [0.0], "values": [1.5]}, length_scale_m=4e5, correlation="soar"),
        },
        "grid": {"shape": [64, 128], "global": True, "spacing_deg": 2.8125, "valid_spacing_deg": [0.25, 6.0]},
        "training": {"validation": {"z500": {"rmse_ratio": 1.0}}},  # nested, as the shipped cards' are
    }
    torch.manual_seed(0)
    registry.save_model(anchored_denoiser((8, 8, 8, 8)), card, tmp_path, "zero")
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path))
    registry.clear_cache()
    yield "zero"
    registry.clear_cache()


def _synthetic_case(lat, lon, density=0.03, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    truth = 5500 + 150 * np.cos(yy) * np.sin(3 * xx) + 80 * np.sin(2 * yy)
    bg = truth + 40 * np.cos(yy) ** 2 * np.cos(2 * xx + 0.5)
    coords = {"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})}
    attrs = {"units": "m", "standard_name": "geopotential_height"}
    mask = rng.random(truth.shape) < density
    obs = np.where(mask, truth + 5 * rng.standard_normal(truth.shape), np.nan)
    mk = lambda a: xr.DataArray(a, dims=("lat", "lon"), coords=coords, attrs=attrs, name="z500")  # noqa: E731
    return mk(bg), mk(obs), mk(truth)


def test_zero_network_mean_is_the_oi_analysis_on_real_data(global_case, zero_model):
    """NCEP 2.5 deg (regridded to the model's 2.8 deg and back): the posterior mean is OI's, exactly."""
    bg, obs, _ = global_case
    oi = xda.assimilate(bg, obs, method="oi")
    an = xda.assimilate(bg, obs, model=zero_model)
    xr.testing.assert_allclose(an["z500"], oi["z500"], rtol=0, atol=1e-9)
    assert an["z500"].attrs["xda_method"] == "xda"
    assert an.attrs["xda_nfe"] == 1 + verify.FOLDS * verify.REPEATS  # the rest for the cross-validation
    assert an["z500"].attrs["xda_correction_weight"] == 0.0  # nothing learned, nothing weighted in
    # the error std is OI's, scaled to fit the withheld observations (the scale is recorded)
    k = an["z500"].attrs["xda_spread_scale"]
    assert 0.5 <= k <= 2.0 and k != 1.0
    np.testing.assert_allclose(an["z500_standard_error"], k * oi["z500_standard_error"], rtol=1e-3)
    raw = xda.assimilate(bg, obs, model=zero_model, verify=False)  # without the cross-validation: OI's, exactly
    xr.testing.assert_allclose(raw["z500"], oi["z500"], rtol=0, atol=1e-9)
    xr.testing.assert_identical(raw["z500_standard_error"], oi["z500_standard_error"])


def test_zero_network_members_spread_as_the_oi_posterior(zero_model):
    """Members: mean -> OI's analysis, std -> OI's analysis-error std (the observations counted once)."""
    lat = np.linspace(-88.59375, 88.59375, 64)
    lon = np.arange(128) * 2.8125
    bg, obs, _ = _synthetic_case(lat, lon)
    oi = xda.assimilate(bg, obs, method="oi")
    ens = xda.assimilate(bg, obs, model=zero_model, members=64, seed=0, steps=8, verify=False)
    sa = oi["z500_standard_error"].values
    z = (ens.values - oi.values[None]) / sa[None]
    assert abs(z.mean()) < 0.02
    assert abs(z.std(axis=0).mean() - 1.0) < 0.03  # the spread is OI's analysis-error std, point by point
    assert abs(np.corrcoef(z.std(axis=0).ravel(), sa.ravel())[0, 1]) < 0.2
    cv = xda.assimilate(bg, obs, model=zero_model, members=64, seed=0, steps=8)  # spread scaled by cross-validation
    k = cv.attrs["xda_spread_scale"]
    assert k != 1.0
    np.testing.assert_allclose((cv.values - oi.values[None]) / sa[None], k * z, atol=1e-6)


@pytest.mark.parametrize("spacing", [1.0, 5.0])
@pytest.mark.parametrize("descending", [False, True])
def test_any_grid_regional(zero_model, spacing, descending):
    """Regional grids of 1 and 5 degrees, either latitude order: the zero network gives OI's analysis."""
    lat = np.arange(20.0, 70.0 + 1e-9, spacing)
    lon = np.arange(-60.0, 20.0 + 1e-9, spacing)
    bg, obs, _ = _synthetic_case(lat[::-1] if descending else lat, lon, density=0.2 if spacing > 2 else 0.02)
    an = xda.assimilate(bg, obs, model=zero_model)
    oi = xda.assimilate(bg, obs, method="oi", model=zero_model)  # the same B (the card's, below 100 obs)
    np.testing.assert_allclose(an.values, oi.values, atol=1e-9)


@pytest.mark.parametrize("lat, lon, why", [
    (np.arange(-80.0, 80.1, 8.0), np.arange(0.0, 360.0, 8.0), "outside the range"),  # too coarse
    (np.arange(40.0, 46.1, 1.0), np.arange(0.0, 6.1, 1.0), "smaller than 4 x 4"),  # too small a domain
])
def test_grid_outside_the_models_range_gets_the_oi_analysis_with_a_warning(zero_model, lat, lon, why):
    """A valid grid the model cannot analyse is not refused: the answer is OI's, weight 0, and the warning names
    the user's variable and why."""
    bg, obs, _ = _synthetic_case(lat, lon, density=0.5)
    bg, obs = bg.rename("tasmax_like"), obs.rename("tasmax_like")
    oi = xda.assimilate(bg, obs, method="oi")
    with pytest.warns(xda.errors.XdaWarning, match=f"{why}.*'tasmax_like'|'tasmax_like'.*{why}"):
        an = xda.assimilate(bg, obs, model=zero_model, variables={"tasmax_like": "z500"})
    xr.testing.assert_allclose(an, oi.assign_attrs(an.attrs), rtol=0, atol=1e-9)
    assert an.attrs["xda_correction_weight"] == 0.0 and an.attrs["xda_nfe"] == 0
    with pytest.warns(xda.errors.XdaWarning):
        ens = xda.assimilate(bg, obs, model=zero_model, variables={"tasmax_like": "z500"}, members=4, seed=0)
    assert ens.sizes["member"] == 4 and float(ens.std("member").mean()) > 0


def test_zero_network_is_the_unit_gaussian_denoiser():
    net = anchored_denoiser((8, 8, 8, 8))
    fields = torch.as_tensor(condition_fields(*np.ones((7, 16, 24)), 0.0, 1.0)[None], dtype=torch.float32)
    assert fields.shape[1] == len(FIELDS)
    cond = anchored_condition(fields, torch.zeros(16), periodic=True)
    assert cond.shape == (1, N_COND_ANCHORED, 16, 24)
    var = torch.zeros(1, dtype=torch.long)
    assert torch.equal(posterior_mean(net, cond, var, True), torch.zeros(1, 1, 16, 24))
    x = torch.randn(1, 1, 16, 24)
    sigma = torch.tensor([2.0])
    torch.testing.assert_close(net(x, sigma, cond, var, True), x / (1 + sigma**2))
    u, nfe = posterior_samples(net, cond.expand(200, -1, -1, -1), var.expand(200), True, steps=8,
                               generator=torch.Generator().manual_seed(0))
    assert nfe == 15 and abs(float(u.std()) - 1.0) < 0.02


def test_fine_tune_on_an_archive_of_pairs(z500, zero_model, tmp_path):
    """xda.train(pairs, init=...): cases from a real regional archive, a loadable model that moved away from OI."""
    z = z500["z500"].sel(lat=slice(20, 80), lon=slice(280, 357.5))
    n = z.sizes["time"]
    bg = ((z.sum("time") - z) / (n - 1)).assign_attrs(z.attrs)  # leave-one-out climatologies
    pairs = xr.Dataset({"background": bg, "truth": z})
    wfile = xda.train(pairs, init=zero_model, minutes=0.2, cases=6, batch=2, out=tmp_path / "ft", name="ft")
    card = __import__("json").loads(wfile.with_suffix(".json").read_text())
    assert card["training"]["fine_tuned"]["init"] == "zero" and card["training"]["fine_tuned"]["steps"] > 0
    assert card["training"]["validation"] == {"z500": {"rmse_ratio": 1.0}}  # the init's record, kept
    before = registry.load_card("zero")["variables"]
    assert card["anchor"] == "oi" and card["variables"]["tas"] == before["tas"]
    # the archive's own B replaces the card's for z500: s_b close to the archive's rms background error by latitude
    entry = card["variables"]["z500"]
    err = (bg - z).sel(lat=slice(40, 60))
    rms = float(np.sqrt((err**2).mean()))
    sb = np.interp(50.0, entry["sigma_b"]["lat"], entry["sigma_b"]["values"])
    assert 0.6 * rms < sb < 1.5 * rms and sb != 30.0 and entry["length_scale_m"] > 1e5
    assert {k: v for k, v in entry.items() if k not in ("sigma_b", "length_scale_m", "correlation")} == \
        {k: v for k, v in before["z500"].items() if k not in ("sigma_b", "length_scale_m", "correlation")}
    net = anchored_denoiser((8, 8, 8, 8))
    from safetensors.torch import load_file

    net.load_state_dict(load_file(wfile))
    assert float(net.net.out.weight.detach().abs().sum()) > 0  # trained: no longer the zero network


def test_fine_tune_refuses_a_malformed_archive(z500, zero_model):
    z = z500["z500"]
    with pytest.raises(NotFoundError, match="'background' and 'truth'"):
        xda.train(xr.Dataset({"truth": z}), init=zero_model, minutes=0.1)


@pytest.fixture
def biased_model(tmp_path, zero_model):
    """A model that learned something wrong: u = +3 everywhere (OI's analysis 3 error stds too high)."""
    net, card = registry.load_model(zero_model, device="cpu")
    net = __import__("copy").deepcopy(net)
    with torch.no_grad():
        net.net.out.bias.fill_(3.0)
    registry.save_model(net, card, tmp_path, "biased")
    registry.clear_cache()
    return "biased"


def test_a_wrong_correction_is_weighted_out_by_the_withheld_observations(global_case, biased_model):
    bg, obs, truth = global_case
    oi = xda.assimilate(bg, obs, method="oi")["z500"]
    raw = xda.assimilate(bg, obs, model=biased_model, verify=False)["z500"]
    an = xda.assimilate(bg, obs, model=biased_model)["z500"]
    withheld = obs.isnull()
    err = lambda f: float(xda.metrics.rmse(f.where(withheld), truth))  # noqa: E731
    assert err(raw) > 1.5 * err(oi)  # the learned correction as is: much worse than OI
    assert an.attrs["xda_correction_weight"] < 0.1
    assert err(an) < 1.05 * err(oi)  # weighted by its skill at withheld observations: back to OI
    # members are recentred on the best estimate: their mean is the members=1 analysis, whatever the sampler's bias
    ens = xda.assimilate(bg, obs, model=biased_model, verify=False, members=4, seed=0, steps=2)["z500"]
    xr.testing.assert_allclose(ens.mean("member"), raw, rtol=0, atol=0.01)  # float32 output of ~5000 m
    assert float(ens.std("member").mean()) > 0


def test_small_analyses_run_on_one_thread_and_restore_the_setting(monkeypatch):
    from xda.numerics import threads

    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "_state", {})
    assert threads.for_analysis(64 * 128) == 1
    assert threads.for_analysis(10**6) == threads.num_threads()
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.for_analysis(64 * 128) == 2  # an explicit setting wins
    before = torch.get_num_threads()
    with threads.limited(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.fixture
def mean_head_model(tmp_path, zero_model):
    """The zero model with a mean head whose output is +0.5: it takes its sampler's mean for 0.5 (the zero
    network's draws have mean 0), so its members sit 0.5 analysis-error stds below their raw draws."""
    net, card = registry.load_model(zero_model, device="cpu")
    net = __import__("copy").deepcopy(net)
    net.attach_mean_head()
    with torch.no_grad():
        net.mean_head.out.bias.fill_(0.5)
    registry.save_model(net, card, tmp_path, "centred")
    registry.clear_cache()
    return "centred"


def test_with_a_mean_head_members_are_raw_draws_about_the_models_mean(global_case, zero_model, mean_head_model):
    from xda.models.anchored import has_mean_head, sampler_mean

    bg, obs, _ = global_case
    kw = dict(verify=False, members=4, seed=3, steps=2)
    plain = xda.assimilate(bg, obs, model=zero_model, **kw)
    centred = xda.assimilate(bg, obs, model=mean_head_model, **kw)
    z, zc, sa = plain["z500"], centred["z500"], centred["z500_standard_error"]
    assert "xda_members_recentred" in z.attrs and "xda_members_recentred" not in zc.attrs
    assert "raw draws" in zc.attrs["xda_members"]
    # the same raw draws, less the model's mean (0.5 s_a); not recentred: their mean is not the estimate
    estimate = xda.assimilate(bg, obs, model=mean_head_model, verify=False)["z500"]
    xr.testing.assert_allclose(estimate, xda.assimilate(bg, obs, model=zero_model, verify=False)["z500"])
    shift = (zc.mean("member") - estimate) / sa
    assert abs(float(shift.mean()) + 0.5) < 0.1 and float(np.abs(shift + 0.5).max()) > 0.05
    assert float(np.abs(z.mean("member") - estimate).max()) < 0.01  # recentred on the estimate, exactly
    net, _ = registry.load_model(mean_head_model, device="cpu")
    assert has_mean_head(net) and not has_mean_head(registry.load_model(zero_model, device="cpu")[0])
    cond, var = torch.zeros((1, N_COND_ANCHORED, 8, 16)), torch.zeros(1, dtype=torch.long)
    torch.testing.assert_close(sampler_mean(net, cond, var, True), posterior_mean(net, cond, var, True) + 0.5)
    with pytest.raises(ValueError, match="no mean head"):
        sampler_mean(anchored_denoiser((8, 8, 8, 8)), cond, var, True)


def test_fine_tuning_drops_a_mean_head(z500, mean_head_model, tmp_path):
    """A mean head learned the initial model's sampler; fine-tuning retrains it, so the head goes (members are
    recentred again) and the card's network says so."""
    z = z500["z500"].sel(lat=slice(20, 80), lon=slice(280, 357.5))
    bg = ((z.sum("time") - z) / (z.sizes["time"] - 1)).assign_attrs(z.attrs)
    wfile = xda.train(xr.Dataset({"background": bg, "truth": z}), init=mean_head_model, minutes=0.05, cases=4, batch=2,
                      out=tmp_path / "ft", name="ft")
    card = __import__("json").loads(wfile.with_suffix(".json").read_text())
    assert "mean_head" not in card["network"] and registry.load_model(wfile, device="cpu")[0].mean_head is None
