import json

import numpy as np
import pytest
import xarray as xr

import xda
from xda.models import registry
from xda.training import make_case


def _fake_simulation(path, nt=12, ny=24, nx=48, seed=0):
    rng = np.random.default_rng(seed)
    lat = np.linspace(-85, 85, ny)
    lon = np.arange(nx) * 360 / nx
    smooth = lambda a: a + np.roll(a, 1, -1) + np.roll(a, -1, -1) + np.roll(a, 1, -2)  # noqa: E731
    data = {}
    for v, base, amp in (("z500", 5500.0, 50.0), ("tas", 280.0, 2.0)):
        truth = base + amp * smooth(rng.normal(size=(nt, ny, nx)))
        data[f"{v}_truth"] = (("time", "lat", "lon"), truth)
        data[f"{v}_background"] = (("time", "lat", "lon"), truth + 0.3 * amp * smooth(rng.normal(size=(nt, ny, nx))))
    split = np.array(["train"] * 8 + ["validation"] * 2 + ["test"] * 2)
    ds = xr.Dataset(data, coords={"time": np.arange(nt) * 12.0, "lat": lat, "lon": lon})
    ds["split"] = ("time", split)
    ds.attrs["seed"] = np.int64(seed)
    ds.to_netcdf(path)


def test_training_cases_are_built_as_at_inference():
    """A bank case: OI analysis from estimated B, its error std, and the target u = (x_t - x_a) / s_a."""
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(-80, 80, 24), np.arange(48) * 7.5
    yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    truth = 5500 + 100 * np.sin(2 * xx) * np.cos(yy)
    background = truth + 30 * np.cos(3 * xx + 1) * np.cos(yy) ** 2
    case = make_case(truth, background, lat, lon, 0.1, 2.0, rng)
    assert case["lat"].size > 100 and np.all(case["sa"] <= case["sb"] + 1e-9)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(case["xa"] - truth) < 0.6 * rms(background - truth)
    assert 0.3 < rms((truth - case["xa"]) / case["sa"]) < 3.0  # OI's claimed error is the right size
    # the card's B is used below 100 observations (as assimilate's default), and only there
    card = xda.BackgroundError.constant(17.0, 6e5)
    few = make_case(truth, background, lat, lon, 0.05, 2.0, np.random.default_rng(1), card_error=card)
    assert few["lat"].size < 100 and np.allclose(few["sb"], 17.0)
    many = make_case(truth, background, lat, lon, 0.1, 2.0, np.random.default_rng(0), card_error=card)
    np.testing.assert_array_equal(many["sb"], case["sb"])


def test_train_writes_a_loadable_model(tmp_path, monkeypatch):
    _fake_simulation(tmp_path / "sim.nc")
    wfile = xda.train(tmp_path / "sim.nc", tmp_path / "w", name="tiny", max_steps=3, batch=2, channels=(8, 8, 8, 8), cases=8)
    assert wfile.exists() and wfile.stat().st_size < 2_000_000
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "w"))
    model, card = registry.load_model("tiny", device="cpu")
    assert card["training"]["steps"] == 3
    assert set(card["variables"]) == {"z500", "tas"}
    assert card["variables"]["tas"]["units"] == "K"
    assert card["anchor"] == "oi" and set(card["training"]["validation"]) <= {"z500", "tas"}
    # the one training driver records how to train it again (EDM2's training_options), under the manifest hash
    opts = card["training_options"]
    assert opts["recipe"] == "assimilation" and opts["preset"] == "default" and opts["max_steps"] == 3
    assert opts["channels"] == [8, 8, 8, 8] and opts["lr"] == 3e-4 and opts["name"] == "tiny"
    assert list(card)[-2:] == ["sha256", "manifest_sha256"]  # sealed last, as the shipped cards
    registry.clear_cache()


def test_an_unknown_recipe_option_is_refused_by_name(tmp_path):
    from xda.errors import ParameterError

    with pytest.raises(ParameterError, match=r"recipe 'joint' has no option \['minute'\]; its options are"):
        xda.train(tmp_path / "sim.nc", tmp_path / "w", task="joint", minute=3)
    with pytest.raises(ParameterError, match=r"preset='fast' is not one of \['default', 'smoke'\]"):
        xda.train(tmp_path / "sim.nc", tmp_path / "w", preset="fast")


def test_training_scales_out_with_ddp_on_gloo(tmp_path):
    """torchrun with 2 CPU processes (gloo): both ranks train in step and rank 0 writes the model."""
    import subprocess
    import sys

    _fake_simulation(tmp_path / "sim.nc")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "xda.training", str(tmp_path / "sim.nc"), "--out", str(tmp_path / "w"), "--name", "ddp",
           "--max-steps", "4", "--batch", "2", "--cases", "8", "--bank", str(tmp_path / "bank.npz")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    card = __import__("json").loads((tmp_path / "w" / "ddp.json").read_text())
    assert card["training"]["processes"] == 2 and card["training"]["steps"] == 4


def _fake_state(path, nt=12, ny=24, nx=48, seed=0):
    """A fake simulation of the joint model's state (z500, tas, u500, v500), winds geostrophic plus noise."""
    from xda.numerics import balance, stencils

    rng = np.random.default_rng(seed)
    lat, lon = np.linspace(-85, 85, ny), np.arange(nx) * 360 / nx
    geo = stencils.geometry(lat, lon, True)
    smooth = lambda a: a + np.roll(a, 1, -1) + np.roll(a, -1, -1) + np.roll(a, 1, -2)  # noqa: E731
    data = {}
    for kind, amp in (("truth", 1.0), ("background", 0.3)):
        z = 50.0 * amp * smooth(smooth(rng.normal(size=(nt, ny, nx))))
        ug, vg = balance.geostrophic_wind(z, geo)
        base = data["z500_truth"][1] if kind == "background" else 0.0
        data[f"z500_{kind}"] = (("time", "lat", "lon"), 5500.0 + z + (base - 5500.0 if kind == "background" else 0.0))
        for v, g in (("u500", ug), ("v500", vg)):
            t = data[f"{v}_truth"][1] if kind == "background" else 0.0
            data[f"{v}_{kind}"] = (("time", "lat", "lon"), t + g + 0.5 * amp * rng.normal(size=(nt, ny, nx)))
        t = data["tas_truth"][1] if kind == "background" else 280.0
        data[f"tas_{kind}"] = (("time", "lat", "lon"), t + 2.0 * amp * smooth(rng.normal(size=(nt, ny, nx))))
    ds = xr.Dataset(data, coords={"time": np.arange(nt) * 6.0, "lat": lat, "lon": lon})
    ds["split"] = ("time", np.array(["train"] * 8 + ["validation"] * 2 + ["test"] * 2))
    ds.attrs["seed"] = np.int64(seed)
    ds.to_netcdf(path)


def test_joint_training_writes_a_loadable_model(tmp_path, monkeypatch):
    """The multivariate model trains (both encoders, the physics term on) and loads by its card."""
    from xda.training import joint

    _fake_state(tmp_path / "state.nc")
    stats, alpha = joint.state_stats(tmp_path / "state.nc")
    assert 0.5 < alpha < 1.5  # the fake's wind errors are the geostrophic wind of its height errors, plus noise
    for encoder in ("analytic", "vre"):
        wfile = joint.train(tmp_path / "state.nc", tmp_path / "w", name=f"tiny-{encoder}", max_steps=2, batch=2,
                            channels=(8, 8, 8, 8), cases=8, encoder=encoder, physics_weight=0.1, bank=tmp_path / "bank.npz")
        assert wfile.exists() and wfile.stat().st_size < 3_000_000
    from xda.training import latent

    wfile = latent.train(tmp_path / "state.nc", tmp_path / "w", name="tiny-latent", bank=tmp_path / "bank.npz", max_steps=2,
                         batch=2)
    assert wfile.exists() and wfile.stat().st_size < 8_000_000
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "w"))
    model, card = registry.load_model("tiny-vre", device="cpu")
    assert card["joint"] and card["encoder"] == "vre" and list(card["variables"]) == list(joint.STATE)
    assert card["training"]["physics_weight"] == 0.1 and card["balance_coefficient"] == alpha
    model, card = registry.load_model("tiny-latent", device="cpu")
    assert card["latent"] and set(card["training"]["reconstruction_rmse"]) == set(joint.STATE)
    registry.clear_cache()


def test_a_non_finite_loss_stops_training_at_once():
    import pytest
    import torch

    from xda.training.loop import fit

    net = torch.nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="loss is nan at step 0"):
        fit(net, lambda step: net(torch.ones(1, 2)).sum() * float("nan"), minutes=1.0, lr=1e-3)


def test_training_progress_goes_through_logging(caplog):
    """Progress is a logging record of ``xda.training.loop`` (not a print): silenced or redirected as users do."""
    import logging

    import torch

    from xda.training.loop import fit

    net = torch.nn.Linear(2, 1)
    with caplog.at_level(logging.INFO, logger="xda.training.loop"):
        fit(net, lambda step: net(torch.ones(1, 2)).pow(2).sum(), minutes=1.0, lr=1e-3, max_steps=2, log_every=1, label="[t]")
    assert [r.name for r in caplog.records] == ["xda.training.loop"] * 2 and "[t] step 2 loss" in caplog.records[-1].message


def test_downscaling_finetunes_on_the_users_fine_fields(tmp_path, monkeypatch):
    """``xda.train(fine_fields, task="downscaling")``: a regional crop of real MPI-ESM tas (last times held out)
    fine-tunes the shipped model; the card records the data and the held-out RMSEs; the model loads by name
    and downscales; regional training crops never wrap across the grid's edges."""
    import json

    import numpy as np

    from xda.training.downscaling_finetune import _UserExamples, _level

    ds = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(lat=slice(50, 74), lon=slice(120, 152), time=slice(0, 4))
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "new" / "weights"))  # created when missing
    path = xda.train(ds, task="downscaling", minutes=0.05, max_steps=2, name="crop-ft")
    assert path.parent == tmp_path / "new" / "weights"
    assert path.stat().st_mode & 0o777 == path.with_suffix(".json").stat().st_mode & 0o777  # as readable as the card
    card = json.loads(path.with_suffix(".json").read_text())
    opts = card["training_options"]  # through the one driver, like pretraining
    assert opts["recipe"] == "downscaling-finetune" and opts["data"] == {"variables": ["tas"], "sizes": {"time": 4, "lat": 24, "lon": 32}}
    ft = card["finetune"]
    assert ft["times_train"] == 3 and ft["times_held_out"] == 1 and ft["grid"] == [24, 32] and not ft["winds"]
    assert set(ft["held_out_rmse_K"]) == {"x2", "x3", "x4"}
    assert all({"lapse_rate", "regression", "regression_init"} <= set(v) for v in ft["held_out_rmse_K"].values())
    out = xda.coarsen(ds["tas"].isel(time=0), 2).phyda.downscale(2, model="crop-ft", method="regression")
    assert out.shape == (24, 32) and np.isfinite(out.values).all()
    # the relief the fields follow, fitted on the training times, is the fine-tuned model's anchor's (and the
    # lapse-rate method's with that model) under relief="auto"
    assert card["relief"] == ft["relief"] in ("full", "model") and set(ft["train_lapse_rate_rmse_K"]) == {"full", "model"}
    lapse = xda.coarsen(ds["tas"].isel(time=0), 2).phyda.downscale(2, model="crop-ft", method="lapse_rate")
    assert lapse.attrs["xda_relief"].endswith("(relief='auto': what model 'crop-ft''s fine-tuning fields follow)")
    ex = _UserExamples(_level(ds, np.arange(3)), seed=0, wind_dropout=1.0)
    for _ in range(20):
        rows, cols = ex._domain(24, 32, 2, False)
        assert np.all(np.diff(cols) == 1) and cols.min() >= 0 and cols.max() < 32


def test_a_model_fine_tuned_on_a_finer_grid_counts_it_as_trained(tmp_path, monkeypatch):
    """Real MPI-ESM tas interpolated onto a 0.75-degree grid (finer than the 1.85-3.72 degrees the shipped model
    knows): the shipped model's default is the lapse-rate method, with the warning; fine-tuned on such fields, the
    card records their spacing and the default counts the grid as trained (no warning, a verified weight)."""
    import warnings

    import numpy as np

    ds = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=slice(0, 4))
    lat, lon = np.arange(30.375, 54.0, 0.75), np.arange(240.375, 270.0, 0.75)
    fine = ds.interp(lat=lat, lon=lon)
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path))
    path = xda.train(fine, task="downscaling", minutes=0.05, max_steps=2, name="fine-ft")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["finetune"]["fine_spacing_deg"] == [0.75, 0.75]
    coarse = xda.coarsen(fine["tas"].isel(time=0), 2)
    with pytest.warns(xda.errors.XdaWarning, match=r"outside the spacings.*\(1.85-3.72 deg\)"):
        coarse.phyda.downscale(2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*outside the spacings", category=xda.errors.XdaWarning)
        out = coarse.phyda.downscale(2, model="fine-ft")
    assert out.shape == (32, 40) and isinstance(out.attrs["xda_correction_weight"], float)
    # an input too small to verify one level up (6 x 6 coarse cells) takes the weight the fine-tuning verified on
    # its held-out times, where the shipped model would have none
    w, stderr, _, _ = card["finetune"]["held_out_weight"]["x2"]
    small = coarse.isel(lat=slice(0, 6), lon=slice(0, 6)).phyda.downscale(2, model="fine-ft")
    assert small.attrs["xda_correction_weight"] == round(w, 4)
    assert small.attrs["xda_correction_weight_stderr"] == round(stderr, 4)
    lapse = coarse.isel(lat=slice(0, 6), lon=slice(0, 6)).phyda.downscale(2, model="fine-ft", method="lapse_rate")
    reg = coarse.isel(lat=slice(0, 6), lon=slice(0, 6)).phyda.downscale(2, model="fine-ft", method="regression")
    np.testing.assert_allclose(small.values, (lapse + w * (reg - lapse)).values, atol=5e-4)


@pytest.mark.parametrize("follows", ["full", "model"])
def test_fit_relief_finds_the_relief_a_field_follows(follows):
    """Fields that follow the real ETOPO relief of the Rockies at -6.5 K/km, either its cell means or the model's
    smoothed relief, plus a large-scale gradient and weather of 0.3 K: ``fit_relief`` names the one they follow."""
    import numpy as np

    from xda.numerics.lapse_rate import model_relief
    from xda.training.downscaling_finetune import fit_relief

    lat, lon = np.arange(30.0, 54.0, 1.0) + 0.5, np.arange(240.0, 272.0, 1.0) + 0.5
    z = xda.static.surface_altitude(lat, lon)
    relief = z if follows == "full" else model_relief(z, False)
    rng = np.random.default_rng(0)
    tas = 300.0 - 0.5 * (lat[:, None] - 30) - 6.5e-3 * relief + 0.3 * rng.standard_normal((6, lat.size, lon.size))
    level = dict(tas=tas, uas=np.zeros_like(tas), vas=np.zeros_like(tas), lat=lat, lon=lon, orog=z,
                 land=np.ones_like(z), level=0, winds=False)
    chosen, rmse = fit_relief(level)
    assert chosen == follows and rmse[follows] < rmse["model" if follows == "full" else "full"]


def test_misspecified_b_is_wrong_by_the_stated_factors_and_family():
    """Issue 27: a training case's B made deliberately wrong, L and s_b within x 0.5-2, the family swapped half the time."""
    from xda.training.assimilation import MISSPECIFY_RANGE, misspecify

    be = xda.BackgroundError.constant(2.0, 600e3, correlation="soar")
    out = [misspecify(be, np.random.default_rng(k)) for k in range(200)]
    k_l = np.array([b.length_scale / 600e3 for b in out])
    k_s = np.array([float(np.asarray(b.sigma).ravel()[0]) / 2.0 for b in out])
    for k in (k_l, k_s):
        assert MISSPECIFY_RANGE[0] <= k.min() < 0.6 and 1.7 < k.max() <= MISSPECIFY_RANGE[1]
    swapped = np.mean([b.correlation == "gaussian" for b in out])
    assert 0.35 < swapped < 0.65 and be.length_scale == 600e3  # the input is not changed


def test_windowed_climatology_leaves_the_case_time_out():
    from xda.training.assimilation import _climatology

    truth = np.arange(20, dtype=float)[:, None, None] * np.ones((20, 2, 3))
    days = np.arange(20) * 0.25  # 6-hourly
    whole = truth.mean(axis=0)
    assert _climatology(truth, days, 10, np.inf, whole) is whole
    clim = _climatology(truth, days, 10, 4.0, whole)  # +-2 days, less +-1 day: times 2 and 6..8 steps away
    expected = np.mean([t for t in range(20) if 4 < abs(t - 10) <= 8])
    np.testing.assert_allclose(clim, expected)


def test_default_draws_are_those_of_the_shipped_bank():
    """The broadened regime's options at their defaults draw the cases the shipped weights were trained on."""
    from xda.training.assimilation import _draws

    rng = np.random.default_rng(5)
    old = [(int(rng.integers(2**31)), int(rng.integers(2)), int(rng.integers(40)), bool(rng.random() < 0.3),
            float(np.exp(rng.uniform(np.log(0.005), np.log(0.1)))), float(np.exp(rng.uniform(np.log(0.1), 0.0))))
           for _ in range(50)]
    new = _draws(50, 40, 5, 0.0, (np.inf,))
    assert [(d.seed, d.variable, d.time, d.window is not None, d.density, d.error) for d in new] == old
    assert not any(d.misspecified for d in new)
    broad = _draws(400, 40, 5, 0.5, (np.inf, 30.0, 10.0))
    assert 0.4 < np.mean([d.misspecified for d in broad]) < 0.6
    assert {d.window for d in broad if d.window is not None} == {np.inf, 30.0, 10.0}


def test_train_with_misspecified_b_and_windowed_climatologies(tmp_path):
    _fake_simulation(tmp_path / "sim.nc")
    wfile = xda.train(tmp_path / "sim.nc", tmp_path / "w", name="tiny", max_steps=2, batch=2, channels=(8, 8, 8, 8),
                      cases=8, misspecified=0.5, climatology_days="all,2")
    import json

    card = json.loads(wfile.with_suffix(".json").read_text())
    assert "misspecified in 50 %" in card["training_data"]["cases_built"]
    assert card["training"]["climatology_days"] == "all,2" and "--misspecified 0.5" in card["training"]["command"]


def test_train_with_the_consistency_penalty(tmp_path):
    """``consistency_weight`` adds the sampler-mean penalty to every step and the card says so."""
    _fake_simulation(tmp_path / "sim.nc")
    wfile = xda.train(tmp_path / "sim.nc", tmp_path / "w", name="tiny", max_steps=2, batch=2, channels=(8, 8, 8, 8),
                      cases=8, consistency_weight=3.0)
    import json

    card = json.loads(wfile.with_suffix(".json").read_text())
    assert card["training"]["consistency_weight"] == 3.0 and "--consistency-weight 3.0" in card["training"]["command"]
    tuned = xda.train(tmp_path / "sim.nc", tmp_path / "w2", name="tiny", max_steps=2, batch=2, channels=(8, 8, 8, 8),
                      cases=8, consistency_weight=3.0, keep_head=5.0, init=wfile)
    card = json.loads(tuned.with_suffix(".json").read_text())
    assert card["training"]["keep_head"] == 5.0 and "--keep-head 5.0" in card["training"]["command"]
    with pytest.raises(xda.errors.ParameterError, match="pass init="):
        xda.train(tmp_path / "sim.nc", tmp_path / "w3", name="tiny", max_steps=2, batch=2, channels=(8, 8, 8, 8),
                  cases=8, consistency_weight=3.0, keep_head=5.0)


def test_the_consistency_penalty_with_a_teacher_targets_its_head_and_holds_the_head_there():
    """With a teacher, the penalty's target is the teacher's head, and ``keep_head`` adds the squared distance of
    the heads with its gradient: 0 for the teacher itself, and the gradient reaches the student's weights."""
    import copy

    import torch

    from xda.models.anchored import ConsistencyPenalty, anchored_denoiser, posterior_mean

    torch.manual_seed(0)
    net = anchored_denoiser((8, 8, 8, 8), n_variables=2)
    teacher = copy.deepcopy(net).requires_grad_(False)
    cond, var = torch.randn(2, net.config["cond_channels"], 16, 32), torch.zeros(2, dtype=torch.long)
    plain, taught = ConsistencyPenalty(4, 6, seed=3), ConsistencyPenalty(4, 6, seed=3, teacher=teacher, keep_head=7.0)
    torch.manual_seed(1)
    a = plain(net, cond, var, True)
    torch.manual_seed(1)
    torch.testing.assert_close(taught(net, cond, var, True), a)  # the student is the teacher: the same penalty
    with torch.no_grad():
        net.net.out.bias.add_(0.5)  # the student's head moves away from the teacher's
    head_gap = torch.mean((posterior_mean(net, cond, var, True) - posterior_mean(teacher, cond, var, True)) ** 2)
    assert float(head_gap) > 0
    torch.manual_seed(1)
    b_plain = ConsistencyPenalty(4, 6, seed=3, teacher=teacher)(net, cond, var, True)
    torch.manual_seed(1)
    b = ConsistencyPenalty(4, 6, seed=3, teacher=teacher, keep_head=7.0)(net, cond, var, True)  # the same draws
    torch.testing.assert_close(b, b_plain + 7.0 * head_gap)
    b.backward()
    assert net.net.out.bias.grad is not None and float(net.net.out.bias.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="pass teacher="):
        ConsistencyPenalty(keep_head=1.0)


def test_the_consistency_penalty_is_unbiased_for_the_oi_posterior():
    """For the zero network (the denoiser of N(0, I): the OI posterior) the sampler is exact and its mean is the
    head's 0, so the penalty's U-statistic averages to 0 (its plain square would not); the sampler's state at
    the last level is a posterior sample."""
    import torch

    from xda.models.anchored import ConsistencyPenalty, anchored_denoiser, posterior_samples, sampler_state

    torch.manual_seed(0)
    net = anchored_denoiser((8, 8, 8, 8), n_variables=2)
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    cond = torch.randn(2, net.config["cond_channels"], 16, 32)
    var = torch.zeros(2, dtype=torch.long)
    pen = ConsistencyPenalty(members=4, steps=6, seed=1)
    values = torch.stack([pen(net, cond, var, True).detach() for _ in range(60)])
    assert abs(float(values.mean())) < 3 * float(values.std()) / np.sqrt(60)
    x, sigma = sampler_state(net, cond, var, True, steps=6, stop=6, generator=torch.Generator().manual_seed(5))
    y, _ = posterior_samples(net, cond, var, True, steps=6, generator=torch.Generator().manual_seed(5))
    assert float(sigma) == 0.0
    torch.testing.assert_close(x, y)
    with pytest.raises(ValueError, match="at least 2 members"):
        ConsistencyPenalty(members=1)
    from xda.models.diffusion import squared_mean

    c = torch.linspace(-1, 2, 10)
    torch.testing.assert_close(squared_mean(c.expand(3, 10)), (c * c).mean())  # identical draws: the mean's square
    e = torch.randn(2, 10)
    torch.testing.assert_close(squared_mean(torch.stack([e[0], -e[0]])), -(e[0] * e[0]).mean())  # no bias term


def test_a_mean_head_is_trained_on_the_models_own_sampler(tmp_path, monkeypatch):
    """``xda train assimilation-mean-head`` gives a model a mean head fitted to its sampler's raw means; the
    denoiser is the initial model's, the card records the stage, and the model loads with its head."""
    import json

    import torch

    _fake_simulation(tmp_path / "sim.nc")
    init = xda.train(tmp_path / "sim.nc", tmp_path / "w", name="tiny", max_steps=2, batch=2, channels=(8, 8, 8, 8), cases=8)
    wfile = xda.train(tmp_path / "sim.nc", tmp_path / "w", task="assimilation-mean-head", init=str(init),
                      max_steps=2, batch=2, cases=8, members=2, channels="4,4,8,8")
    assert wfile.stem == "tiny-mh"  # named after its init
    card = json.loads(wfile.with_suffix(".json").read_text())
    assert card["network"]["mean_head"] == [4, 4, 8, 8] and card["mean_head"]["members"] == 2
    assert "--channels 4,4,8,8" in card["mean_head"]["command"]
    assert card["mean_head"]["batches"] == 2 and card["training_options"]["recipe"] == "assimilation-mean-head"
    assert {"gap_head_over_noise", "gap_sampler_mean_over_noise"} <= set(card["mean_head"]["validation"]["z500"])
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "w"))
    registry.clear_cache()
    (before, _), (after, _) = registry.load_model("tiny", device="cpu"), registry.load_model("tiny-mh", device="cpu")
    assert after.mean_head is not None and before.mean_head is None
    mine = {k: v for k, v in after.state_dict().items() if not k.startswith("mean_head.")}
    assert all(torch.equal(v, before.state_dict()[k]) for k, v in mine.items())  # the sampler is the initial model's
    assert any(v.abs().sum() > 0 for k, v in after.state_dict().items() if k.startswith("mean_head.out"))  # it learned
    registry.clear_cache()
    with pytest.raises(ValueError, match="members=0"):
        xda.train(tmp_path / "sim.nc", tmp_path / "w", task="assimilation-mean-head", init=str(init), max_steps=1,
                  cases=8, batch=2, members=0)


def test_climatological_backgrounds_come_from_the_cases_own_world(tmp_path):
    """Pooled files (two worlds 40 K apart, the same clock): a case's climatology is its own file's mean, whatever
    the window, never a mixture of worlds."""
    from xda.training.assimilation import Draw, _bank_cases, open_split, variable_stats

    _fake_simulation(tmp_path / "a.nc", seed=0)
    _fake_simulation(tmp_path / "b.nc", seed=1)
    with xr.open_dataset(tmp_path / "b.nc") as b:
        warm = b.load()
    (warm[["tas_truth", "tas_background"]] + 40.0).merge(warm[["z500_truth", "z500_background", "split"]]) \
        .to_netcdf(tmp_path / "b_warm.nc")
    paths = [str(tmp_path / "a.nc"), str(tmp_path / "b_warm.nc")]
    train = open_split(paths, "train")
    np.testing.assert_array_equal(train["source"].values, [0] * 8 + [1] * 8)
    stats = variable_stats(paths)
    assert stats["tas"]["climatology"].shape == (2, 24, 48)
    for k in (0, 1):
        np.testing.assert_allclose(stats["tas"]["climatology"][k], train["tas_truth"].values[8 * k:8 * k + 8].mean(0))
    tas = list(xda.training.assimilation.VARIABLES).index("tas")
    for window in (np.inf, 2.0):  # 12-hourly times: +-1 day, less +-1 day, is empty -> the file's mean
        draws = [Draw(3, tas, t, window, 0.05, 0.5, False) for t in (2, 12)]
        x, _, _ = _bank_cases((paths, "train", draws, stats))
        # field 0 is (x_b - mean) / std over both worlds: -1 for world a's own climatology, +1 for b's (0 if mixed)
        np.testing.assert_allclose(x[:, 0].mean(axis=(1, 2)), [-1.0, 1.0], atol=0.05)
