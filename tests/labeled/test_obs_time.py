"""Observation times, the assimilation window, long observation tables and error variables.

On the bundled SAO reports of 1995-03-18 (32 000 reports over 24 hours) against the
MPI-ESM March near-surface temperature as a background.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xda
from xda.errors import CoordinateError, ObservationError
from xda.labeled import times


@pytest.fixture(scope="module")
def day():
    """(background without a time, all the day's temperature reports over North America)."""
    s = xda.datasets.open_dataset("sao_stations")
    s = s[["T"]].where((s.lat > 30) & (s.lat < 45) & (s.lon > -100) & (s.lon < -75) & s["T"].notnull(), drop=True)
    s = s.rename(T="tas")
    bg = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(15, 65), lon=slice(225, 300))
    return bg, s


def _at(bg, when):
    return bg.assign_coords(time=np.datetime64(when, "ns"))


def test_the_window_selects_reports_around_the_background_time(day):
    bg, s = day
    an = xda.assimilate(_at(bg, "1995-03-18T18:00"), s, method="oi", qc=None)
    near = (s.time >= np.datetime64("1995-03-18T15:00")) & (s.time < np.datetime64("1995-03-18T21:00"))
    a = an["tas"].attrs
    assert a["xda_n_obs"] + a["xda_n_obs_rejected"] + a["xda_n_obs_outside_grid"] + a["xda_n_obs_duplicate"] == int(near.sum())
    assert a["xda_n_obs_duplicate"] > 0  # the SAO file repeats some reports exactly: each is used once
    assert a["xda_n_obs_outside_window"] == int((~near).sum())
    only = xda.assimilate(bg, s.where(near, drop=True), method="oi", qc=None)  # the same reports, no times needed
    xr.testing.assert_allclose(an["tas"].drop_vars("time"), only["tas"])
    one_hour = xda.assimilate(_at(bg, "1995-03-18T18:00"), s, method="oi", qc=None, window="1h")
    assert one_hour["tas"].attrs["xda_n_obs"] < an["tas"].attrs["xda_n_obs"] / 4


def test_a_day_of_reports_is_not_merged_into_a_background_without_time(day):
    bg, s = day
    with pytest.raises(ObservationError, match=r"span 1995-03-1.*longer than window.*assign_coords\(time=.*window=None"):
        xda.assimilate(bg, s, method="oi")
    merged = xda.assimilate(bg, s.isel(obs=slice(0, 3000)), method="oi", window=None)
    assert merged["tas"].attrs["xda_n_obs"] > 2000


def test_reports_outside_every_window_name_the_times(day):
    bg, s = day
    with pytest.raises(ObservationError, match=r"none of the .* observations of 'tas' .* 1995-03-20T00:00"):
        xda.assimilate(_at(bg, "1995-03-20T00:00"), s, method="oi")
    with pytest.raises(ObservationError, match="positive duration"):
        xda.assimilate(_at(bg, "1995-03-18T18:00"), s, method="oi", window="-6h")
    with pytest.raises(ObservationError, match="not a duration"):
        xda.assimilate(_at(bg, "1995-03-18T18:00"), s, method="oi", window="six hours")


def test_the_observation_table_round_trips_as_a_long_table(day):
    bg, s = day
    bg18 = _at(bg, "1995-03-18T18:00")
    an, table = xda.assimilate(bg18, s, method="oi", obs_space=True)
    assert {"time", "analysis_error"} <= set(table.columns)
    se = an["tas_standard_error"]
    assert table["analysis_error"].between(float(se.min()), float(se.max())).all()
    assert table["analysis_error"].median() < table["omb"].std() / 2  # the analysis knows more than the background
    assert table["time"].min() >= np.datetime64("1995-03-18T15:00")
    long = table[["variable", "time", "lat", "lon", "elevation", "observation", "error", "units"]]  # with the station heights
    again = xda.assimilate(bg18, long, method="oi")
    xr.testing.assert_allclose(again["tas"], an["tas"])
    with pytest.raises(ObservationError, match=r"2 units for 'tas'"):
        xda.assimilate(bg18, long.assign(units=np.where(np.arange(len(long)) % 2, "K", "degC")), method="oi")


def test_several_background_times_give_one_table_with_the_analysis_time(day):
    bg, s = day
    bgs = xr.concat([_at(bg, "1995-03-18T12:00"), _at(bg, "1995-03-18T18:00")], dim="time")
    an, table = xda.assimilate(bgs, s, method="oi", obs_space=True)
    assert an["tas"].sizes["time"] == 2
    counts = table.groupby("analysis_time").size()
    assert len(counts) == 2 and counts.min() > 200
    assert (abs(table["time"] - table["analysis_time"]) <= pd.Timedelta("3h")).all()


def test_error_variables_by_cf_ancillary_variables_and_a_warning_for_others(day):
    bg, s = day
    s18 = s.where(s.hour == 18, drop=True)
    err = xr.full_like(s18["tas"], 2.5).assign_attrs(units="K", standard_name="air_temperature standard_error")
    cf = s18.assign(sigma_t=err)
    cf["tas"].attrs["ancillary_variables"] = "sigma_t"
    _, table = xda.assimilate(bg, cf, method="oi", obs_space=True)
    assert np.allclose(table["error"], 2.5)
    cf["tas"].attrs.pop("ancillary_variables")
    with pytest.warns(UserWarning, match=r"\['sigma_t'\] look like error stds"):
        _, table = xda.assimilate(bg, cf, method="oi", obs_space=True)
    assert np.allclose(table["error"], 1.0)  # the default for air_temperature, as the warning says
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*exact repeats")  # the SAO file's repeated reports
        xda.assimilate(bg, s18, method="oi")  # no error-like variable: no warning


@pytest.mark.parametrize("values, attrs", [
    (np.array([6.0, 18.0]), {"units": "hours since 1995-03-18"}),
    (np.array(["1995-03-18T06:00", "1995-03-18 18:00"]), None),
    (pd.to_datetime(["1995-03-18T01:00-05:00", "1995-03-18T13:00-05:00"]).to_numpy(dtype=object), None),
])
def test_times_in_any_form_decode_to_utc(values, attrs):
    got = times.to_datetime64(values, attrs)
    np.testing.assert_array_equal(got, np.array(["1995-03-18T06:00", "1995-03-18T18:00"], "datetime64[ns]"))


def test_numeric_times_without_units_are_refused():
    with pytest.raises(CoordinateError, match="numeric without CF units"):
        times.to_datetime64(np.array([1.0, 2.0]), {}, name="obs_time")


def test_explicit_obs_error_overrides_the_tables_error_column(day):
    """The observation-space table fed back with ``obs_error=``: the explicit value wins over its ``error``
    column (and over a wide ``tas_error`` column)."""
    bg, s = day
    bg18 = _at(bg, "1995-03-18T18:00")
    _, table = xda.assimilate(bg18, s, method="oi", obs_space=True)
    long = table[["variable", "time", "lat", "lon", "observation", "error", "units"]]
    _, again = xda.assimilate(bg18, long, method="oi", obs_space=True, obs_error={"tas": 2.5})
    np.testing.assert_allclose(again["error"], 2.5)
    wide = long.rename(columns={"observation": "tas", "error": "tas_error"}).drop(columns=["variable", "units"])
    wide.attrs["units"] = {"tas": "K"}
    _, from_wide = xda.assimilate(bg18, wide, method="oi", obs_space=True, obs_error={"tas": "2.5 K"})
    np.testing.assert_allclose(from_wide["error"], 2.5)
    _, kept = xda.assimilate(bg18, wide.assign(tas_error=1.7), method="oi", obs_space=True)  # no obs_error=: the column
    np.testing.assert_allclose(kept["error"], 1.7)


def test_a_time_column_named_date_selects_the_window(day):
    """A station table whose times are in a column called ``date`` is windowed like one with ``time``."""
    bg, s = day
    bg18 = _at(bg, "1995-03-18T18:00")
    df = s.drop_vars(["hour", "station", "elevation"], errors="ignore").to_dataframe().reset_index()[["lat", "lon", "time", "tas"]]
    df.attrs["units"] = {"tas": "degC"}
    a = xda.assimilate(bg18, df, method="oi", qc=None)
    b = xda.assimilate(bg18, df.rename(columns={"time": "date"}), method="oi", qc=None)
    assert b["tas"].attrs["xda_n_obs_outside_window"] == a["tas"].attrs["xda_n_obs_outside_window"] > 0
    xr.testing.assert_allclose(a["tas"], b["tas"])
