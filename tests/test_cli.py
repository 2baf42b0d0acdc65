"""The ``xda`` command: real files in, netCDF out, exit status 2 with the message for bad input."""

import numpy as np
import pandas as pd
import xarray as xr

import xda
from xda.cli import main


def _stations(tmp_path):
    """The bundled SAO reports of 18 UTC as a CSV table (degC) and the MPI-ESM March tas as the background."""
    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["hour"] == 18, drop=True)
    df = pd.DataFrame({"lat": s["lat"].values, "lon": s["lon"].values, "tas": s["T"].values}).dropna()
    df = df[(df.lat > 20) & (df.lat < 60) & (df.lon > -130) & (df.lon < -65)].drop_duplicates(["lat", "lon"])
    df.to_csv(tmp_path / "stations.csv", index=False)
    bg = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(15, 65), lon=slice(225, 300))
    bg.to_netcdf(tmp_path / "bg.nc")
    return tmp_path / "bg.nc", tmp_path / "stations.csv", df


def test_assimilate_a_station_table_to_netcdf(tmp_path, capsys):
    bg, csv, df = _stations(tmp_path)
    out = tmp_path / "analysis.nc"
    rc = main(["assimilate", str(bg), str(csv), "-o", str(out), "--method", "oi", "--obs-units", "tas=degC",
               "--obs-error", "tas=1.5", "--obs-table", str(tmp_path / "omb.csv")])
    assert rc == 0, capsys.readouterr().err
    got = xr.open_dataset(out)
    table = df.copy()
    table.attrs["units"] = {"tas": "degC"}
    expect = xda.assimilate(xr.open_dataset(bg), table, method="oi", obs_error={"tas": 1.5})
    xr.testing.assert_allclose(got["tas"], expect["tas"].astype(got["tas"].dtype))
    assert "tas_standard_error" in got and got["tas"].attrs["xda_n_obs"] > 500
    table = pd.read_csv(tmp_path / "omb.csv")
    assert len(table) == len(df) and {"omb", "oma", "qc", "qc_reason"} <= set(table.columns)
    assert int(table["qc"].sum()) == got["tas"].attrs["xda_n_obs"]


def test_bad_input_exits_2_with_the_message(tmp_path, capsys):
    bg, csv, _ = _stations(tmp_path)
    (tmp_path / "obs.txt").write_text("lat,lon,tas\n40,-100,10\n")
    assert main(["assimilate", str(bg), str(tmp_path / "obs.txt"), "-o", str(tmp_path / "a.nc")]) == 2
    assert "must be .nc, .csv or .parquet" in capsys.readouterr().err
    # a table without units for its column: the library's message, naming the variable
    assert main(["assimilate", str(bg), str(csv), "-o", str(tmp_path / "a.nc"), "--method", "oi"]) == 2
    assert "tas" in capsys.readouterr().err
    assert main(["assimilate", str(bg), str(csv), "-o", str(tmp_path / "a.nc"), "--obs-error", "tas"]) == 2
    assert "VAR=VALUE" in capsys.readouterr().err
    # outputs that cannot be written are refused before any work; selections and times in the CLI's words
    for out, said in ((tmp_path / "missing" / "a.nc", "does not exist; create it first"), (tmp_path, "is a directory")):
        assert main(["assimilate", str(bg), str(csv), "-o", str(out), "--obs-units", "tas=degC"]) == 2
        assert said in capsys.readouterr().err
    for extra, said in ((["--isel", "time=99"], "has 12 times; pick an index 0 .. 11"), (["--isel", "depth=0"], "no dimension 'depth'"),
                        (["--time", "yesterday"], "--time yesterday: not a date and time")):
        assert main(["assimilate", "esm_tas", str(csv), "-o", str(tmp_path / "a.nc"), *extra]) == 2
        err = capsys.readouterr().err
        assert said in err, err


def test_residual_and_downscale_commands(tmp_path):
    ds = xr.Dataset({n: xda.datasets.open_dataset(f"storm1996_{n}")[n].isel(time=slice(0, 4), lat=slice(20, 30), lon=slice(10, 25))
                     for n in ("t", "u", "v")})
    ds.to_netcdf(tmp_path / "storm.nc")
    assert main(["residual", str(tmp_path / "storm.nc"), "--field", "t", "--u", "u", "--v", "v", "--kappa", "1e5 m2/s",
                 "-o", str(tmp_path / "r.nc")]) == 0
    r = xr.open_dataset(tmp_path / "r.nc")["t_residual"]
    np.testing.assert_allclose(r.values, xda.advection_diffusion_residual(ds["t"], ds["u"], ds["v"], kappa="1e5 m2/s").values,
                               rtol=1e-6, equal_nan=True)
    assert main(["residual", str(tmp_path / "storm.nc"), "--field", "T", "--u", "u", "--v", "v", "-o", str(tmp_path / "x.nc")]) == 2
    esm = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=0, drop=True)
    esm.to_netcdf(tmp_path / "coarse.nc")
    assert main(["downscale", str(tmp_path / "coarse.nc"), "-o", str(tmp_path / "fine.nc"), "--factor", "2",
                 "--method", "lapse_rate"]) == 0
    fine = xr.open_dataset(tmp_path / "fine.nc")["tas"]
    assert fine.sizes["lat"] == 2 * esm.sizes["lat"] and np.isfinite(fine).all()


def test_one_command_from_the_bundled_station_reports_to_an_analysis(tmp_path, capsys):
    """The issue's target: bundled background and SAO reports, an 18 UTC window, netCDF + O-B/O-A table."""
    out, table = tmp_path / "an.nc", tmp_path / "omb.csv"
    rc = main(["assimilate", "esm_tas", "sao_stations", "--isel", "time=2", "--time", "1995-03-18T18:00",
               "--window", "1h", "--method", "oi", "-o", str(out), "--obs-table", str(table)])
    assert rc == 0, capsys.readouterr().err
    an, omb = xr.open_dataset(out), pd.read_csv(table, parse_dates=["time"])
    assert an["tas"].attrs["xda_n_obs"] > 1000 and an["time"].values == np.datetime64("1995-03-18T18:00")
    assert omb["time"].between(pd.Timestamp("1995-03-18T17:30"), pd.Timestamp("1995-03-18T18:30"), inclusive="left").all()
    used = omb[omb["qc"]]
    assert used["oma"].std() < used["omb"].std() / 2
    assert "ETOPO20" in an["tas"].attrs["xda_obs_height_adjustment"] and "height_term" in omb
    # the model's own terrain from a file, or none
    orog = tmp_path / "orog.nc"
    xda.static.orography_like(xda.datasets.open_dataset("esm_tas")).to_dataset().to_netcdf(orog)
    for value, expect in ((str(orog), "'orog'"), ("none", None)):
        rc = main(["assimilate", "esm_tas", "sao_stations", "--isel", "time=2", "--time", "1995-03-18T18:00",
                   "--window", "1h", "--method", "oi", "-o", str(tmp_path / "an2.nc"), "--orography", value])
        assert rc == 0, capsys.readouterr().err
        with xr.open_dataset(tmp_path / "an2.nc") as an2:
            note = an2["tas"].attrs.get("xda_obs_height_adjustment")
        assert (note is None) if expect is None else (expect in note)


def test_evaluate_prints_scores_against_truth_and_baseline(tmp_path, capsys):
    z = xda.datasets.open_dataset("ncep_z500_global")
    truth = z.isel(time=0, drop=True)
    (truth + 10.0).assign_attrs(truth.attrs).to_netcdf(tmp_path / "a.nc")
    truth.to_netcdf(tmp_path / "t.nc")
    bl = truth.copy()
    bl["z500"] = truth["z500"] - 20.0
    bl.to_netcdf(tmp_path / "b.nc")
    rc = main(["evaluate", str(tmp_path / "a.nc"), str(tmp_path / "t.nc"), "--baseline", str(tmp_path / "b.nc"),
               "-o", str(tmp_path / "s.csv")])
    printed = capsys.readouterr().out
    assert rc == 0 and "rmse_ratio" in printed
    s = pd.read_csv(tmp_path / "s.csv").set_index("variable")
    np.testing.assert_allclose(s.loc["z500", ["rmse", "mae", "bias", "rmse_baseline", "rmse_ratio"]].astype(float),
                               [10.0, 10.0, 10.0, 20.0, 0.5], rtol=1e-5)
    assert main(["evaluate", str(tmp_path / "a.nc"), str(tmp_path / "t.nc"), "--variables", "tas"]) == 2
    assert "has no variable 'tas'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- issue 25: the CLI as complete as the API

import argparse  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402

from xda import cli  # noqa: E402

COMMANDS = ("assimilate", "downscale", "residual", "evaluate")


def _subparsers():
    action = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _coarse(tmp_path, name="tas", **attrs):
    """A regional crop (27 x 41 cells of ~1.9 deg) of the bundled MPI-ESM March tas, as a file."""
    ds = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(15, 65), lon=slice(225, 300))
    ds = ds.rename(tas=name)
    ds[name].attrs.update(attrs)
    for k, v in attrs.items():
        if v is None:
            del ds[name].attrs[k]
    path = tmp_path / f"{name}_coarse.nc"
    ds.to_netcdf(path)
    return path, ds


def test_every_option_has_help_and_every_command_examples(capsys):
    subs = _subparsers()
    for command in COMMANDS:
        s = subs[command]
        missing = [a.dest for a in s._actions if not isinstance(a, argparse._HelpAction) and not a.help]
        assert not missing, f"xda {command}: options without help: {missing}"
        with pytest.raises(SystemExit) as e:
            cli.main([command, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        examples = text.split("examples:")[1]
        assert 2 <= sum(line.strip().startswith(f"xda {command} ") for line in examples.splitlines()) <= 4
        # every flag the message translation names is an option of that command
        options = {o for a in s._actions for o in a.option_strings}
        assert {flag for flag, _ in cli.FLAGS[command].values()} <= options, command
    options = {o for a in subs["downscale"]._actions for o in a.option_strings}
    assert {"--variable", "--like", "--orography", "--lapse-rate", "--isel", "--time", "--units", "--steps"} <= options
    options = {o for a in subs["assimilate"]._actions for o in a.option_strings}
    assert {"--qc", "--no-verify", "--background-error", "--device", "--lat", "--lon", "--units"} <= options


def test_downscale_options_do_what_the_python_keywords_do(tmp_path, capsys):
    path, ds = _coarse(tmp_path, name="tmin", standard_name=None)  # not findable: --variable needed
    out = tmp_path / "fine.nc"
    rc = cli.main(["downscale", str(path), "-o", str(out), "--variable", "tmin", "--factor", "2", "--method", "lapse_rate",
                   "--lapse-rate", "-6.5"])
    assert rc == 0, capsys.readouterr().err
    expect = xda.downscale(ds, 2, method="lapse_rate", variable="tmin", lapse_rate=-6.5)
    with xr.open_dataset(out) as got:
        np.testing.assert_allclose(got["tmin"].values, expect["tmin"].values, rtol=1e-6)
    # --orography on the fine grid (here ETOPO's doubled, so that it differs from the default)
    orog = 2.0 * xda.static.orography_like(expect)
    orog.to_dataset(name="orog").to_netcdf(tmp_path / "orog.nc")
    rc = cli.main(["downscale", str(path), "-o", str(out), "--variable", "tmin", "--factor", "2", "--method", "lapse_rate",
                   "--orography", str(tmp_path / "orog.nc")])
    assert rc == 0, capsys.readouterr().err
    expect = xda.downscale(ds, 2, method="lapse_rate", variable="tmin", orography=orog)
    with xr.open_dataset(out) as got:
        np.testing.assert_allclose(got["tmin"].values, expect["tmin"].values, rtol=1e-6)
        assert got["tmin"].attrs["xda_orography"] == "given"
    # --like: a target grid from a file; --isel/--time on a bundled name
    target = xr.Dataset(coords={"lat": np.arange(20.0, 60.0, 1.0), "lon": np.arange(230.0, 290.0, 1.0)})
    target.to_netcdf(tmp_path / "target.nc")
    rc = cli.main(["downscale", "esm_tas", "--isel", "time=2", "--time", "1995-03-18T18:00", "-o", str(out),
                   "--like", str(tmp_path / "target.nc"), "--method", "bilinear"])
    assert rc == 0, capsys.readouterr().err
    esm = xda.datasets.open_dataset("esm_tas").isel(time=2)
    expect = xda.downscale(esm, like=target, method="bilinear")
    with xr.open_dataset(out) as got:
        np.testing.assert_allclose(got["tas"].values, expect["tas"].values, rtol=1e-6)
        np.testing.assert_array_equal(got["lat"].values, target["lat"].values)
        assert got["time"].values == np.datetime64("1995-03-18T18:00")


def test_assimilate_exposes_qc_and_background_error(tmp_path, capsys):
    bg, csv, df = _stations(tmp_path)
    small = df.iloc[::20]
    small.to_csv(csv, index=False)
    out = tmp_path / "a.nc"
    rc = cli.main(["assimilate", str(bg), str(csv), "-o", str(out), "--method", "oi", "--obs-units", "tas=degC",
                   "--qc", "none", "--background-error", "innovations"])
    assert rc == 0, capsys.readouterr().err
    table = small.copy()
    table.attrs["units"] = {"tas": "degC"}
    expect = xda.assimilate(xr.open_dataset(bg), table, method="oi", qc=None, background_error="innovations")
    with xr.open_dataset(out) as got:
        np.testing.assert_allclose(got["tas"].values, expect["tas"].values, rtol=1e-5)
    for bad, said in ((["--qc", "soon"], "--qc soon: give the background-check threshold"),
                      (["--qc", "-1"], "--qc -1.0 must be"), (["--units", "tas"], "--units takes VAR=UNITS"),
                      (["--obs-units", "tas=degC", "t2m=K"], "--obs-units names ['t2m'], which are not columns")):
        rc = cli.main(["assimilate", str(bg), str(csv), "-o", str(out), "--method", "oi", "--obs-units", "tas=degC", *bad])
        err = capsys.readouterr().err
        assert rc == 2 and said in err, err


def _error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    return err.split(": error: ")[1]


def test_library_messages_speak_in_flags(tmp_path, capsys):
    """Real bad inputs: the library's advice comes back as the flags that follow it, not Python keywords."""
    bg, csv, _ = _stations(tmp_path)
    out = str(tmp_path / "a.nc")
    err = _error(capsys, ["assimilate", str(bg), str(csv), "-o", out, "--method", "oi"])
    assert "--obs-units tas=degC" in err and "attrs" not in err
    err = _error(capsys, ["assimilate", str(bg), str(csv), "-o", out, "--method", "oi", "--members", "2"])
    assert "--members 1 with --method oi" in err and "method=" not in err and "members=" not in err
    err = _error(capsys, ["assimilate", str(bg), str(csv), "-o", out, "--method", "oi", "--obs-units", "tas=degC",
                          "--window", "6"])
    assert err.startswith("--window 6 has no unit") and "or none" in err and "window=" not in err
    path, _ = _coarse(tmp_path, name="tmin", standard_name=None)
    err = _error(capsys, ["downscale", str(path), "-o", out, "--factor", "2", "--method", "lapse_rate"])
    assert "--variable NAME" in err and "variable=" not in err and "attrs[" not in err
    err = _error(capsys, ["downscale", str(path), "--variable", "tmin", "-o", out, "--method", "lapse_rate"])
    assert "--factor 4" in err and "--like FILE" in err and "factor=" not in err and "like=" not in err
    # a file without units: the fix is a flag, and the flag works
    path, _ = _coarse(tmp_path, units=None)
    err = _error(capsys, ["downscale", str(path), "-o", out, "--factor", "2", "--method", "bicubic"])
    assert "--units tas=K" in err and "attrs" not in err and "open_dataset" not in err
    assert main(["downscale", str(path), "-o", out, "--factor", "2", "--method", "bicubic", "--units", "tas=K"]) == 0
    # coordinates that cannot be found
    _, ds = _coarse(tmp_path)
    ds = ds.rename(lat="y", lon="x")
    for c in ("x", "y"):
        ds[c].attrs.clear()
    ds.to_netcdf(tmp_path / "xy.nc")
    err = _error(capsys, ["downscale", str(tmp_path / "xy.nc"), "-o", out, "--factor", "2", "--method", "bicubic"])
    assert "--lat NAME" in err and "lat=" not in err and "standard_name = 'latitude' in the file" in err
    capsys.readouterr()
    storm = tmp_path / "storm.nc"
    xr.Dataset({n: xda.datasets.open_dataset(f"storm1996_{n}")[n].isel(time=slice(0, 3), lat=slice(20, 26), lon=slice(10, 16))
                for n in ("t", "u", "v")}).to_netcdf(storm)
    err = _error(capsys, ["residual", str(storm), "--field", "t", "--u", "u", "--v", "v", "--kappa=-1", "-o", out])
    assert err.startswith("--kappa -1.0 must be") and "--kappa '1e5 m2/s'" in err and "kappa=" not in err


@pytest.mark.parametrize("command, message, said, gone", [
    ("assimilate", "no observation error for 'rh': pass `obs_error={'rh': value}` in the variable's units",
     "`--obs-error rh=VALUE`", "obs_error"),
    ("assimilate", "model 'm' does not know 'HGT' (map it with `variables={'HGT': ...}`)", "`--variables HGT=MODELVAR`",
     "variables="),
    ("assimilate", "one analysis time at a time, e.g. `bg.isel(time=0)` or", "`--isel time=0`", "isel("),
    ("assimilate", "give the background its valid time (`bg.assign_coords(time=np.datetime64('1995-03-18T18:00'))`) "
     "to assimilate the reports within the window around it, or pass window=None to merge them all",
     "`--time 1995-03-18T18:00`", "window="),
    ("assimilate", "relax the background check (a larger `qc`, or qc=None)", "(a larger `--qc`, or --qc none)", "qc="),
    ("downscale", "only one wind component found (u='uas', v=None); pass both `u=` and `v=`, or winds=False",
     "pass both `--u NAME` and `--v NAME`, or --no-winds", "winds="),
    ("downscale", "several variables have standard_name 'air_temperature'; pass `variable=` to choose",
     "`--variable NAME`", "variable="),
    ("residual", "times are numbers without units; set `c['time'].attrs['units'] = 'hours since 1996-01-01'`",
     "`--units 'time=hours since 1996-01-01'`", "attrs"),
    ("evaluate", "pass member_dim= with the ensemble's member dimension", "--member-dim NAME", "member_dim"),
])
def test_in_flags_translates_the_library_advice(command, message, said, gone):
    got = cli.in_flags(message, command)
    assert said in got and gone not in got, got


def test_bad_paths_exit_2_with_a_message(tmp_path, capsys, monkeypatch):
    bg, csv, _ = _stations(tmp_path)
    ok = ["--method", "oi", "--obs-units", "tas=degC"]
    assert "is a directory" in _error(capsys, ["assimilate", str(bg), str(tmp_path), "-o", str(tmp_path / "a.nc"), *ok])
    err = _error(capsys, ["assimilate", str(csv), str(csv), "-o", str(tmp_path / "a.nc"), *ok])
    assert err.startswith(f"background {csv} is not a netCDF file")
    assert "cannot write there" in _error(capsys, ["assimilate", str(bg), str(csv), "-o", "/proc/xda_test.nc", *ok])
    assert "is also an input" in _error(capsys, ["assimilate", str(bg), str(csv), "-o", str(bg), *ok])
    assert "--isel time=x: the index must be an integer" in _error(
        capsys, ["assimilate", "esm_tas", str(csv), "-o", str(tmp_path / "a.nc"), "--isel", "time=x", *ok])
    assert "--isel takes DIM=INDEX" in _error(capsys, ["assimilate", "esm_tas", str(csv), "-o", str(tmp_path / "a.nc"),
                                                        "--isel", "time", *ok])
    assert "has 12 times; select one first, e.g. --isel time=0" in _error(
        capsys, ["assimilate", "esm_tas", str(csv), "-o", str(tmp_path / "a.nc"), "--time", "1995-03-18", *ok])
    # a refusal at write time (after the work) is reported the same way
    monkeypatch.setattr(cli, "_probe", lambda p, option: None)
    path, _ = _coarse(tmp_path)
    err = _error(capsys, ["downscale", str(path), "-o", "/proc/xda_test.nc", "--factor", "2", "--method", "bicubic"])
    assert err.startswith("cannot write /proc/xda_test.nc: ")


def test_warnings_are_one_line_in_the_cli_words(tmp_path, capsys):
    path, _ = _coarse(tmp_path)
    before = warnings.showwarning
    rc = main(["downscale", str(path), "-o", str(tmp_path / "f.nc"), "--factor", "2", "--method", "lapse_rate",
               "--lapse-rate", "6.5"])
    err = capsys.readouterr().err
    assert rc == 0, err
    lines = [line for line in err.splitlines() if ": warning: " in line]
    assert len(lines) == 1 and lines[0].startswith("xda downscale: warning: --lapse-rate 6.5 is positive"), err
    assert "pass --lapse-rate -6.5" in lines[0] and "lapse_rate=" not in err and ".py" not in err
    assert warnings.showwarning is before


def test_progress_stages_wrote_and_a_heartbeat_when_not_a_terminal(tmp_path, capsys, monkeypatch):
    path, _ = _coarse(tmp_path)
    real = xda.tasks.downscale

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(xda.tasks, "downscale", slow)
    monkeypatch.setattr(cli, "HEARTBEAT_S", 0.1)
    out = tmp_path / "f.nc"
    assert main(["downscale", str(path), "-o", str(out), "--factor", "2", "--method", "bicubic"]) == 0
    err = capsys.readouterr().err.splitlines()
    starts = [next(i for i, line in enumerate(err) if line.startswith(s)) for s in
              (f"xda downscale: reading {path} (", "xda downscale: downscaling (method bicubic) (",
               "xda downscale: still downscaling (", f"xda downscale: writing {out} (", f"wrote {out}",
               "xda downscale: done in ")]
    assert starts == sorted(starts), err
    assert not [t for t in threading.enumerate() if t.name == "xda-progress"]


def test_train_and_simulate_parsers_live_in_the_cli(monkeypatch, tmp_path, capsys):
    """`xda train TASK` parses every option in xda/cli.py and calls the task's training function with them as
    keywords; `python -m xda.training` is the same parser."""
    import importlib
    import subprocess
    import sys

    from xda.training import recipes

    seen = {}
    for task, recipe in recipes.RECIPES.items():
        module, function = recipe.function.split(":")
        monkeypatch.setattr(importlib.import_module(module), function,
                            lambda data, out, _t=task, **kw: seen.setdefault(_t, (data, out, kw)) and tmp_path / "w")
    recorded = []
    monkeypatch.setattr(recipes, "_record", lambda path, options: recorded.append(options))
    assert cli.main(["train", "joint", "a.nc", "b.nc", "--physics-weight", "0.5", "--encoder", "vre", "--out", str(tmp_path)]) == 0
    data, out, kw = seen["joint"]
    assert data == ["a.nc", "b.nc"] and out == str(tmp_path)
    assert kw["physics_weight"] == 0.5 and kw["encoder"] == "vre" and kw["name"] == "hs-t42-mv-v1" and kw["cases"] == 1600
    assert cli.main(["train", "downscaling", "s.nc", "--minutes-denoiser", "3", "--stages", "denoiser"]) == 0
    kw = seen["downscaling"][2]
    assert kw["stages"] == ("denoiser",) and kw["minutes"] == {"regressor": 12.0, "denoiser": 3.0, "consistency": 20.0,
                                                                          "mean_head": 40.0}
    # the resolved options go into the card (training_options): recipe, preset and every option
    assert recorded[-1]["recipe"] == "downscaling" and recorded[-1]["preset"] == "default"
    assert recorded[-1]["minutes_denoiser"] == 3.0 and recorded[-1]["pde_weight"] == 1.0
    assert cli.main(["train", "latent", "s.nc", "--preset", "smoke", "--batch", "4"]) == 0
    kw = seen["latent"][2]
    assert kw["batch"] == 4 and kw["max_steps"] == 3 and kw["ae_minutes"] == 0.2 and recorded[-1]["preset"] == "smoke"
    with pytest.raises(SystemExit) as e:  # argparse: exit 2 on a choice it does not know
        cli.main(["train", "joint", "a.nc", "--encoder", "cnn"])
    assert e.value.code == 2
    r = subprocess.run([sys.executable, "-m", "xda.training", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--cases" in r.stdout and "xda train assimilation" in r.stdout
