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
    assert "VARIABLE=VALUE" in capsys.readouterr().err
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
