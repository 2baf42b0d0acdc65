"""The ``xda`` command: assimilate, downscale and diagnose netCDF files from the shell.

Examples::

    xda assimilate background.nc stations.csv -o analysis.nc --obs-units tas=degC --obs-error tas=1.5 --obs-table omb.csv
    xda assimilate esm_tas sao_stations --isel time=2 --time 1995-03-18T18:00 --window 1h -o analysis.nc --obs-table omb.csv
    xda assimilate state.nc obs.nc -o analysis.nc --model hs-t42-mv-v1
    xda downscale coarse.nc -o fine.nc --factor 4 --method lapse_rate
    xda assimilate background_4times.nc stations.csv -o analyses.nc --window 6h   (reports with a time column)
    xda residual storm.nc --field t --u u --v v --kappa 1e5 -o residual.nc
    xda evaluate analysis.nc truth.nc --baseline oi.nc -o scores.csv
    xda simulate --out sim.nc --days 120            (the simulation extra)
    xda train joint sim.nc --minutes 10             (assimilation | joint | latent | downscaling)

Exit status: 0 on success, 2 for bad input (the message names the variable and the fix),
1 for anything else. The library does the work; this module only parses arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import NotFoundError, ParameterError

EXAMPLES = __doc__.split("Examples::")[1].split("Exit status")[0]


def _pairs(items: list[str] | None, name: str) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"--{name} takes VARIABLE=VALUE, got {item!r}")
        out[key] = value
    return out


def _open(path: str, isel: dict | None = None, time: str | None = None):
    """A netCDF file, or a bundled data set by name (``xda.datasets.available()``), optionally
    reduced with ``isel`` and given the valid ``time``."""
    import numpy as np
    import xarray as xr

    from . import datasets

    if Path(path).exists():
        ds = xr.open_dataset(path)
    elif path in datasets.available():
        ds = datasets.open_dataset(path)
    else:
        raise FileNotFoundError(f"{path} is neither a file nor a bundled data set ({', '.join(datasets.available())})")
    for k, v in (isel or {}).items():
        if k not in ds.dims:
            raise ParameterError(f"--isel {k}={v}: {path} has no dimension {k!r}; its dimensions are {dict(ds.sizes)}")
        try:
            i = int(v)
        except ValueError:
            raise ParameterError(f"--isel {k}={v}: the index must be an integer (0 .. {ds.sizes[k] - 1})") from None
        if not -ds.sizes[k] <= i < ds.sizes[k]:
            raise ParameterError(f"--isel {k}={v}: {path} has {ds.sizes[k]} {k}s; pick an index 0 .. {ds.sizes[k] - 1}")
    ds = ds.isel({k: int(v) for k, v in (isel or {}).items()})
    ds.encoding.pop("unlimited_dims", None)  # a selected-away record dimension
    if time:
        ds = ds.drop_vars([c for c in ds.coords if c == "time" or ds[c].attrs.get("axis") == "T"])
        try:
            when = np.datetime64(time, "ns")
        except ValueError:
            raise ParameterError(f"--time {time}: not a date and time; give ISO 8601, e.g. --time 1995-03-18T18:00") from None
        ds = ds.assign_coords(time=when)
    return ds


def _read_obs(path: Path, units: dict):
    """Observations from netCDF, CSV or parquet (tables: ``lat``, ``lon`` and one column per variable), or bundled."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".nc", ".nc4", ".cdf") or (not path.exists() and not suffix):
        return _open(str(path))
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"observations {path} must be .nc, .csv or .parquet")
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    df.attrs["units"] = dict(df.attrs.get("units", {}), **units)
    return df


def _number_or_text(value: str):
    try:
        return float(value)
    except ValueError:
        return value  # e.g. "1.5 K"


def _orography(value: str):
    """``--orography``: 'none' (no height term), or a file / bundled data set holding the model's surface altitude."""
    if value.lower() == "none":
        return False
    ds = _open(value)
    found = [k for k, da in ds.data_vars.items() if da.attrs.get("standard_name") in ("surface_altitude", "height_above_mean_sea_level")]
    if not found and len(ds.data_vars) == 1:
        found = list(ds.data_vars)
    if not found:
        raise ValueError(f"--orography {value}: no variable with standard_name 'surface_altitude' among {list(ds.data_vars)}; "
                         "give that attribute to the model's surface altitude")
    return ds[found[0]]


def _assimilate(a) -> None:
    from .tasks import assimilate

    bg = _open(a.background, _pairs(a.isel, "isel"), a.time)
    obs = _read_obs(Path(a.obs), _pairs(a.obs_units, "obs-units"))
    errors = {k: _number_or_text(v) for k, v in _pairs(a.obs_error, "obs-error").items()}
    kwargs = dict(method=a.method, members=a.members, seed=a.seed, steps=a.steps, obs_error=errors or None,
                  variables=_pairs(a.variables, "variables") or None, latent_optimization=a.latent_optimization,
                  window=None if a.window.lower() == "none" else a.window)
    if a.model:
        kwargs["model"] = a.model
    if a.orography is not None:
        kwargs["orography"] = _orography(a.orography)
    if a.obs_table:
        analysis, table = assimilate(bg, obs, obs_space=True, **kwargs)
        table.to_csv(a.obs_table, index=False)
    else:
        analysis = assimilate(bg, obs, **kwargs)
    analysis.to_netcdf(a.output)
    _wrote(a.output, a.obs_table)


def _downscale(a) -> None:
    import xarray as xr

    from .tasks import downscale

    coarse = xr.open_dataset(a.coarse)
    kwargs = dict(method=a.method, members=a.members, seed=a.seed)
    if a.model:
        kwargs["model"] = a.model
    downscale(coarse, a.factor, **kwargs).to_netcdf(a.output)
    _wrote(a.output)


def _residual(a) -> None:
    import xarray as xr

    from .diagnostics import advection_diffusion_residual

    ds = xr.open_dataset(a.input)
    for name in (a.field, a.u, a.v):
        if name not in ds:
            raise NotFoundError(f"{a.input} has no variable {name!r}; it has {list(ds.data_vars)}")
    r = advection_diffusion_residual(ds[a.field], ds[a.u], ds[a.v], kappa=_number_or_text(a.kappa))
    r.to_dataset(name=f"{a.field}_residual").to_netcdf(a.output)
    _wrote(a.output)


def _evaluate(a) -> None:
    import xarray as xr

    from .metrics import scorecard

    opened = [xr.open_dataset(p) if p else None for p in (a.forecast, a.truth, a.baseline)]
    scores = scorecard(*opened[:2], variables=a.variables or None, baseline=opened[2],
                       weights=None if a.no_weights else "latitude")
    print(scores.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if a.output:
        scores.to_csv(a.output, index=False)
        _wrote(a.output)


def _delegate(module: str, argv: list[str]) -> None:
    import importlib

    importlib.import_module(module).main(argv)


TRAINERS = {"assimilation": "xda.training.assimilation", "joint": "xda.training.joint", "latent": "xda.training.latent",
            "downscaling": "xda.training.downscaling"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xda", description=__doc__.split("\n")[0], epilog="examples:" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("assimilate", help="analysis of a background given observations", epilog="examples:" + EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("background", help="netCDF background (a Dataset on a regular lat-lon grid, with units), or a bundled "
                                      "data set's name (esm_tas, ncep_z500_global, ...)")
    s.add_argument("obs", help="observations: netCDF (gridded or points), CSV or parquet table (lat, lon, one column per variable)")
    s.add_argument("-o", "--output", required=True, help="netCDF file for the analysis")
    s.add_argument("--isel", nargs="*", metavar="DIM=INDEX", help="select from the background first, e.g. time=2")
    s.add_argument("--time", default=None, help="the analysis (valid) time of the background, e.g. 1995-03-18T18:00")
    s.add_argument("--method", default="xda", choices=["xda", "oi"])
    s.add_argument("--model", default=None, help="model name (xda.available_models()); default hs-t42-v2")
    s.add_argument("--members", type=int, default=1)
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--steps", type=int, default=16)
    s.add_argument("--obs-error", nargs="*", metavar="VAR=VALUE", help="observation-error std, e.g. tas=1.5 or 'tas=1.5 K'")
    s.add_argument("--obs-units", nargs="*", metavar="VAR=UNITS", help="units of table columns, e.g. tas=degC")
    s.add_argument("--variables", nargs="*", metavar="NAME=MODELVAR", help="map names the model cannot match, e.g. HGT=z500")
    s.add_argument("--latent-optimization", action="store_true", help="LO-SDA (latent joint models)")
    s.add_argument("--obs-table", default=None, metavar="FILE.csv",
                   help="also write the analysis in observation space: O-B, O-A, QC flag and reason per observation")
    s.add_argument("--window", default="6h",
                   help="assimilation window (full width) around the background's time for observations with times; "
                        "'none' uses all (default 6h)")
    s.add_argument("--orography", default=None, metavar="FILE|none",
                   help="the background model's surface altitude on its grid (netCDF, standard_name surface_altitude) "
                        "for the station-elevation term of near-surface temperature; 'none': no term (default: the "
                        "background's own, else ETOPO20)")
    s.set_defaults(run=_assimilate)
    s = sub.add_parser("downscale", help="near-surface temperature on a finer grid")
    s.add_argument("coarse")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--factor", type=int, default=None)
    s.add_argument("--method", default="xda", choices=["xda", "regression", "lapse_rate", "bicubic", "bilinear"],
                   help="xda (default): the best estimate, the lapse-rate method plus the learned departure weighted by "
                        "its skill on the input one level up, written with <var>_standard_error")
    s.add_argument("--model", default=None)
    s.add_argument("--members", type=int, default=1, help="N > 1: samples about the best estimate ('member' dimension)")
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(run=_downscale)
    s = sub.add_parser("residual", help="advection-diffusion residual dc/dt + u.grad(c) - kappa lap(c)")
    s.add_argument("input")
    s.add_argument("--field", required=True)
    s.add_argument("--u", required=True)
    s.add_argument("--v", required=True)
    s.add_argument("--kappa", default="0", help="diffusivity, m2 s-1 or with units ('1e5 m2/s')")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(run=_residual)
    s = sub.add_parser("evaluate", help="scores of a forecast/analysis against the truth (and a baseline)")
    s.add_argument("forecast", help="netCDF analysis, forecast or downscaled field (a 'member' dimension for ensembles)")
    s.add_argument("truth", help="netCDF truth on the same grid")
    s.add_argument("--baseline", default=None, help="netCDF baseline on the same cases (adds rmse_baseline, rmse_ratio)")
    s.add_argument("--variables", nargs="*", default=None)
    s.add_argument("--no-weights", action="store_true", help="plain means instead of cos(latitude) weights")
    s.add_argument("-o", "--output", default=None, metavar="SCORES.csv")
    s.set_defaults(run=_evaluate)
    s = sub.add_parser("simulate", help="the Held-Suarez training simulation (python -m xda.simulate --help)", add_help=False)
    s.set_defaults(run=lambda a: _delegate("xda.simulate.core", a.rest))
    s = sub.add_parser("train", help="train a model: xda train {assimilation,joint,latent,downscaling} ARGS (ARGS --help)",
                       add_help=False)
    s.add_argument("task", choices=list(TRAINERS))
    s.set_defaults(run=lambda a: _delegate(TRAINERS[a.task], a.rest))
    return p


def _check_outputs(args) -> None:
    """Refuse an output path that cannot be written *before* any work (a missing folder, a folder as a file)."""
    for flag in ("output", "obs_table"):
        value = getattr(args, flag, None)
        if not value:
            continue
        p = Path(value)
        option = "-o/--output" if flag == "output" else "--obs-table"
        if p.is_dir():
            raise ParameterError(f"{option} {value}: is a directory; give a file name, e.g. {p / 'out.nc'}")
        if not p.parent.exists():
            raise ParameterError(f"{option} {value}: the folder {p.parent} does not exist; create it first "
                                 f"(mkdir -p {p.parent})")


def _wrote(*paths) -> None:
    """Say what the command wrote (on stderr, so that stdout stays the data)."""
    for p in paths:
        if p:
            print(f"wrote {p}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad input, 1 other failure)."""
    from .errors import XdaError

    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    args, rest = p.parse_known_args(argv)
    if rest and args.command not in ("simulate", "train"):
        p.error(f"unrecognised arguments: {' '.join(rest)}")
    args.rest = rest
    try:
        _check_outputs(args)
        args.run(args)
    except (XdaError, ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"xda {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
