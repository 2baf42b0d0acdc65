import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xda
from xda.errors import GridError, ModelError, ObservationError, UnitsError

FAST = dict(steps=2)


@pytest.mark.parametrize("method", ["oi", "xda"])
def test_output_structure_on_real_global_field(global_case, method):
    bg, obs, truth = global_case
    before_bg, before_obs = bg.copy(deep=True), obs.copy(deep=True)
    an = bg.phyda.assimilate(obs, method=method, seed=0, **(FAST if method == "xda" else {}))
    # inputs untouched
    xr.testing.assert_identical(bg, before_bg)
    xr.testing.assert_identical(obs, before_obs)
    # same grid, coords, units, attrs; provenance added
    assert an["z500"].dims == bg["z500"].dims
    xr.testing.assert_identical(an["z500"].coords.to_dataset(), bg["z500"].coords.to_dataset())
    assert an["z500"].attrs["units"] == "m"
    assert an["z500"].attrs["standard_name"] == "geopotential_height"
    assert an["z500"].attrs["xda_method"] == method
    assert an["z500"].attrs["xda_n_obs"] > 100
    assert "xda" in an.attrs["history"]
    assert np.isfinite(an["z500"].values).all()
    assert not np.allclose(an["z500"].values, bg["z500"].values)


def test_oi_beats_the_background_on_real_data(global_case):
    bg, obs, truth = global_case
    an = xda.assimilate(bg, obs, method="oi")
    withheld = obs.isnull()
    err = lambda f: float(xda.metrics.rmse(f.where(withheld), truth, weights="latitude"))  # noqa: E731
    assert err(an["z500"]) < 0.8 * err(bg["z500"])


def test_members_dimension_and_seed(global_case):
    bg, obs, _ = global_case
    ens = bg.phyda.assimilate(obs, members=3, seed=1, **FAST)
    assert ens["z500"].dims == ("member", "lat", "lon")
    assert ens.sizes["member"] == 3
    assert not np.allclose(ens["z500"].isel(member=0), ens["z500"].isel(member=1))
    again = bg.phyda.assimilate(obs, members=3, seed=1, **FAST)
    xr.testing.assert_allclose(ens, again)


def test_dataarray_in_dataarray_out(global_case):
    bg, obs, _ = global_case
    an = bg["z500"].phyda.assimilate(obs, method="oi")
    assert isinstance(an, xr.DataArray) and an.name == "z500" and an.attrs["units"] == "m"


def test_regional_grid_and_station_table(storm_t):
    bg = storm_t["t"].isel(time=0, drop=True)
    bg = bg.fillna(float(bg.mean()))  # the real file is masked outside its analysis domain
    truth = storm_t["t"].isel(time=4, drop=True)
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(25, 55, 60), rng.uniform(-130, -60, 60)
    from xda.numerics.interp import apply, bilinear_weights

    op, _ = bilinear_weights(truth.lat.values, truth.lon.values, lat, lon, periodic=False)
    df = pd.DataFrame({"lat": lat, "lon": lon, "t": apply(op, truth.values) - 273.15})
    df.attrs["units"] = {"t": "degC"}
    for method in ("oi", "xda"):
        an = bg.phyda.assimilate(df, method=method, background_error=xda.BackgroundError.constant(3.0, 5e5), **FAST)
        assert an.dims == bg.dims and an.attrs["units"] == "K"
        assert np.isfinite(an.values).all()


def test_point_dataset_observations(z500):
    bg = z500["z500"].isel(time=slice(1, None)).mean("time")
    bg.attrs = dict(z500["z500"].attrs)
    obs = xr.Dataset(
        {"z500": ("obs", np.array([5500.0, 5600.0]), {"units": "m"})},
        coords={"lat": ("obs", [45.0, 50.0]), "lon": ("obs", [10.0, -20.0])},
    )
    an = xda.assimilate(bg.to_dataset(name="z500"), obs, method="oi", background_error=xda.BackgroundError.constant(50, 5e5))
    assert an["z500"].attrs["xda_n_obs"] == 2


def test_qc_rejects_the_real_406_degC_report():
    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["station"] == "KFTY", drop=True)
    s = s.where(s["hour"] == 21, drop=True)
    assert float(s["T"].max()) == pytest.approx(406.0)  # KFTY, Atlanta, 20:47 UTC
    obs = pd.DataFrame({"lat": [s["lat"].values[0], 34.5, 33.0], "lon": [s["lon"].values[0], -85.0, -84.0],
                        "tas": [406.0, 18.0, 19.0]})
    obs.attrs["units"] = {"tas": "degC"}
    lat, lon = np.arange(25.0, 45.0, 1.0), np.arange(-95.0, -75.0, 1.0)
    bg = xr.DataArray(np.full((lat.size, lon.size), 291.0), dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                      attrs={"units": "K", "standard_name": "air_temperature"}, name="tas")
    with pytest.warns(UserWarning, match=r"QC rejected 1 of 3 observations of 'tas' \(largest: 679.1 K at \(33.78, -84.52\)"):
        an = bg.phyda.assimilate(obs, method="oi", background_error=xda.BackgroundError.constant(2.0, 3e5))
    assert an.attrs["xda_n_obs_rejected"] == 1
    assert float(an.max()) < 295.0


def test_gridded_observations_on_another_grid(global_case):
    bg, obs, _ = global_case
    with pytest.raises(GridError, match="interp_like"):
        xda.assimilate(bg, obs.isel(lat=slice(0, 40)), method="oi")


def test_missing_units():
    lat, lon = np.arange(-80.0, 81, 10), np.arange(0.0, 360, 10)
    bg = xr.Dataset({"x": (("lat", "lon"), np.zeros((lat.size, lon.size)))}, coords={"lat": lat, "lon": lon})
    with pytest.raises(UnitsError, match=r"'x' has no units"):
        xda.assimilate(bg, bg.where(bg > 1), method="oi")


def test_unknown_variable_for_the_model(global_case):
    bg, obs, _ = global_case
    bg = bg.rename(z500="q")
    bg["q"].attrs = {"units": "kg kg-1", "standard_name": "specific_humidity"}
    obs = obs.rename("q")
    obs.attrs = {"units": "kg kg-1"}
    with pytest.warns(xda.errors.XdaWarning, match=r"does not know 'q'.*variables=\{'q': \.\.\.\}.*analysed by OI"):
        an = xda.assimilate(bg, obs, obs_error=1e-3, **FAST)
    assert an["q"].attrs["xda_method"] == "oi"  # what the model does not know gets the classical analysis
    xr.testing.assert_identical(an["q"].drop_attrs(), xda.assimilate(bg, obs, obs_error=1e-3, method="oi")["q"].drop_attrs())
    with pytest.raises(ModelError, match="no model named"):
        xda.assimilate(bg, obs, model="nope")


def test_explicit_variable_mapping(global_case):
    bg, obs, _ = global_case
    bg = bg.rename(z500="HGT")
    bg["HGT"].attrs.pop("standard_name")
    an = xda.assimilate(bg, obs.rename("HGT"), variables={"HGT": "z500"}, **FAST)
    assert an["HGT"].attrs["xda_method"] == "xda"


def test_nan_in_background(global_case):
    bg, obs, _ = global_case
    bad = bg.copy(deep=True)
    bad["z500"][3, 4] = np.nan
    with pytest.raises(ValueError, match=r"background 'z500' has 1 NaN"):
        xda.assimilate(bad, obs, method="oi")


def test_several_background_times_each_take_their_own_observations(z500):
    bg = (z500.isel(time=slice(0, 2)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    mask = np.random.default_rng(0).random(z500["z500"].shape[1:]) < 0.03
    obs = z500["z500"].isel(time=slice(0, 3)).where(mask)  # a third time, outside both windows
    got = xda.assimilate(bg, obs, method="oi")
    assert got.sizes["time"] == 2 and got["z500"].dims == bg["z500"].dims
    for i in range(2):
        one = xda.assimilate(bg.isel(time=i), obs.isel(time=i), method="oi")
        xr.testing.assert_allclose(got["z500"].isel(time=i), one["z500"])
        assert one["z500"].attrs["xda_n_obs"] == int(mask.sum())


def test_several_times_share_the_networks_batches_and_equal_their_own_analyses(z500, monkeypatch):
    """The learned analyses of three times: their folds' and heads' evaluations go through the network in one
    call (27 fields, 9 a time), and each equals that time analysed alone."""
    from xda.tasks import analysis

    bg = (z500.isel(time=slice(0, 3)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    mask = np.random.default_rng(1).random(z500["z500"].shape) < 0.03
    obs = z500["z500"].isel(time=slice(0, 3)).where(mask[:3])
    calls, original = [], analysis._learned_departure

    def counted(req, p, cases, members):
        calls.append(len(cases))
        return original(req, p, cases, members)

    monkeypatch.setattr(analysis, "_learned_departure", counted)
    got = xda.assimilate(bg, obs, seed=0)
    assert calls == [27]
    calls.clear()
    for i in range(3):
        one = xda.assimilate(bg.isel(time=i), obs.isel(time=i), seed=0)
        xr.testing.assert_allclose(got["z500"].isel(time=i), one["z500"], rtol=1e-6)
        xr.testing.assert_allclose(got["z500_standard_error"].isel(time=i), one["z500_standard_error"], rtol=1e-6)
        assert one["z500"].attrs["xda_n_obs"] >= 40 and one["z500"].attrs["xda_correction_weight_stderr"] != "unverified"
    assert calls == [9, 9, 9]


def test_the_members_of_several_times_are_sampled_together_and_equal_their_own(z500, monkeypatch):
    """Members of three times go through the sampler in one call, each time's noise from its own generator of
    the seed: the same members as each time analysed alone."""
    from xda.tasks import analysis

    bg = (z500.isel(time=slice(0, 3)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    obs = z500["z500"].isel(time=slice(0, 3)).where(np.random.default_rng(3).random(z500["z500"].shape[1:]) < 0.03)
    calls, original = [], analysis._learned_departure

    def counted(req, p, cases, members):
        calls.append((len(cases), members))
        return original(req, p, cases, members)

    monkeypatch.setattr(analysis, "_learned_departure", counted)
    got = xda.assimilate(bg, obs, members=2, seed=4, steps=2, verify=False)
    assert calls == [(3, 0), (3, 2)]
    for i in range(3):
        one = xda.assimilate(bg.isel(time=i), obs.isel(time=i), members=2, seed=4, steps=2, verify=False)
        xr.testing.assert_allclose(got["z500"].isel(time=i), one["z500"], rtol=1e-6)
    assert float(abs(got["z500"].isel(member=0) - got["z500"].isel(member=1)).max()) > 1.0


def test_a_verified_series_on_one_network_with_a_given_b_factorises_once(z500, monkeypatch):
    """Three times observed at the same points with one B: the verification's factorisation (Withholding) is
    made once and kept; the analyses equal those made without the kept one."""
    from xda.numerics import oi

    bg = (z500.isel(time=slice(0, 3)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    obs = z500["z500"].isel(time=slice(0, 3)).where(np.random.default_rng(2).random(z500["z500"].shape[1:]) < 0.03)
    be = xda.BackgroundError.constant(40.0, 1.2e6)
    made, original = [], oi.Withholding.__init__

    def counted(self, *args):
        made.append(1)
        original(self, *args)

    monkeypatch.setattr(oi.Withholding, "__init__", counted)
    oi.clear_cache()
    got = xda.assimilate(bg, obs, background_error=be, seed=0)
    assert len(made) == 1
    for i in range(3):
        oi.clear_cache()
        one = xda.assimilate(bg.isel(time=i), obs.isel(time=i), background_error=be, seed=0)
        xr.testing.assert_allclose(got["z500"].isel(time=i), one["z500"], rtol=1e-6)
        xr.testing.assert_allclose(got["z500_standard_error"].isel(time=i), one["z500_standard_error"], rtol=1e-6)
    assert len(made) == 4
    oi.clear_cache()


def test_times_solved_together_hold_a_bounded_memory():
    from xda.tasks.assimilate import TIMES_PER_BATCH, _times_per_batch

    small = xr.DataArray(np.zeros((30, 64, 128)), dims=("time", "lat", "lon"))
    large = xr.DataArray(np.zeros((3, 721, 1440)), dims=("time", "lat", "lon"))
    assert _times_per_batch(small, "time") == TIMES_PER_BATCH
    assert _times_per_batch(large, "time") == 1
    assert _times_per_batch(xr.Dataset({"a": small, "b": small.isel(time=0)}), "time") == TIMES_PER_BATCH


def test_observations_of_another_time_are_refused(z500):
    with pytest.raises(ObservationError, match=r"window of 0 days 06:00:00 around the background's time 1958-02"):
        xda.assimilate(z500.isel(time=1), z500["z500"].isel(time=0), method="oi")


def test_argument_errors(global_case):
    bg, obs, _ = global_case
    with pytest.raises(ValueError, match="method=.enkf. is not one of"):
        xda.assimilate(bg, obs, method="enkf")
    with pytest.raises(ValueError, match="members=1 with method='oi'"):
        xda.assimilate(bg, obs, method="oi", members=2)
    with pytest.raises(ObservationError, match="match the background"):
        xda.assimilate(bg, obs.rename("other").assign_attrs(standard_name="air_temperature"), method="oi")
    by_name = xda.assimilate(bg, obs.rename("other").to_dataset(), method="oi")  # matched by its standard_name
    xr.testing.assert_identical(by_name["z500"], xda.assimilate(bg, obs, method="oi")["z500"])
    df = pd.DataFrame({"lat": [1.0], "lon": [2.0], "z500": [5000.0]})
    with pytest.raises(ObservationError, match=r"df.attrs\['units'\]"):
        xda.assimilate(bg, df, method="oi")


def test_observation_error_defaults_and_strings(global_case):
    bg, obs, _ = global_case
    a = xda.assimilate(bg, obs, method="oi")  # default: 10 m for geopotential height
    b = xda.assimilate(bg, obs, method="oi", obs_error="1000 cm")
    xr.testing.assert_allclose(a, b)


def test_descending_latitudes_give_the_same_analysis(global_case):
    bg, obs, _ = global_case
    a = xda.assimilate(bg, obs, seed=3, **FAST)
    flip = lambda x: x.isel(lat=slice(None, None, -1))  # noqa: E731
    b = xda.assimilate(flip(bg), flip(obs), seed=3, **FAST)
    xr.testing.assert_allclose(flip(b), a, rtol=1e-4)
    c = xda.assimilate(flip(bg), flip(obs), method="oi")
    xr.testing.assert_allclose(flip(c), xda.assimilate(bg, obs, method="oi"))


def test_observation_space_table_with_qc_and_desroziers():
    """Real SAO station reports (18 UTC, degC) on the MPI-ESM background: one row per report with O-B, O-A,
    the QC decision and its reason; Desroziers' check in the attrs."""
    import pandas as pd

    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["hour"] == 18, drop=True)
    df = pd.DataFrame({"lat": s["lat"].values, "lon": s["lon"].values, "tas": s["T"].values}).dropna()
    df = df[(df.lat > 20) & (df.lat < 60) & (df.lon > -130) & (df.lon < -65)].drop_duplicates(["lat", "lon"])
    df.loc[df.index[0], "tas"] = 406.0  # the kind of report the real file has: a gross error
    df.attrs["units"] = {"tas": "degC"}
    bg = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(15, 65), lon=slice(225, 300))
    an, table = xda.assimilate(bg, df, method="oi", obs_error={"tas": 1.5}, obs_space=True)
    assert len(table) == len(df) and set(table["variable"]) == {"tas"} and (table["units"] == "K").all()
    np.testing.assert_allclose(table["omb"], table["observation"] - table["background"])
    assert table.loc[0, "qc_reason"] == "gross error (robust pre-screen)" and not table.loc[0, "qc"]
    assert (table["qc"] == (table["qc_reason"] == "")).all()
    used = table[table["qc"]]
    assert int(an["tas"].attrs["xda_n_obs"]) == len(used)
    assert float((used["oma"] ** 2).mean()) < float((used["omb"] ** 2).mean())  # the analysis fits better
    assert an["tas"].attrs["xda_assumed_obs_error_std"] == pytest.approx(1.5)
    assert 0 < an["tas"].attrs["xda_desroziers_obs_error_std"] < 10
    plain = xda.assimilate(bg, df, method="oi", obs_error={"tas": 1.5})
    xr.testing.assert_identical(plain["tas"].drop_attrs(), an["tas"].drop_attrs())


def test_times_analysed_on_several_threads_equal_those_on_one(z500, monkeypatch):
    """The independent parts of three times (B, OI, folds) on two threads: the same analyses as on one thread."""
    from xda.numerics import oi, threads

    bg = (z500.isel(time=slice(0, 3)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    obs = z500["z500"].isel(time=slice(0, 3)).where(np.random.default_rng(5).random(z500["z500"].shape[1:]) < 0.04)
    got = {}
    for workers in (1, 2):
        monkeypatch.setattr(threads, "workers_for_analysis", lambda n, w=workers: w)
        oi.clear_cache()
        got[workers] = xda.assimilate(bg, obs, seed=0)
    xr.testing.assert_allclose(got[1], got[2], rtol=1e-9)
    one = xda.assimilate(bg.isel(time=0), obs.isel(time=0), seed=0)  # the learned correction is verified
    assert one["z500"].attrs["xda_correction_weight_stderr"] != "unverified"


def test_map_in_threads_keeps_the_order_and_raises_the_first_error():
    from xda.numerics.threads import map_in_threads

    assert map_in_threads(lambda x: x * x, range(7), 3) == [x * x for x in range(7)]

    def fails_at_three(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        map_in_threads(fails_at_three, range(6), 2)


def test_members_of_a_time_series_given_as_a_dataarray(z500):
    """A DataArray background with a time dimension and members: the members per time, and the standard error per
    time without a member dimension (the write-back put it in the analysis's order, members included: a crash)."""
    bg = (z500["z500"].isel(time=slice(0, 2)) + 30.0).assign_attrs(z500["z500"].attrs)
    obs = z500["z500"].isel(time=slice(0, 2)).where(np.random.default_rng(6).random(z500["z500"].shape[1:]) < 0.03)
    got = xda.assimilate(bg, obs, members=2, steps=2, seed=0)
    assert got.dims == ("time", "member", "lat", "lon") and got["z500_standard_error"].dims == bg.dims  # as a Dataset's
    one = xda.assimilate(bg.isel(time=1), obs.isel(time=1), members=2, steps=2, seed=0)
    xr.testing.assert_allclose(got.isel(time=1), one, rtol=1e-6)
