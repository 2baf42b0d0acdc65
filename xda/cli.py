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

Each command's ``--help`` lists its options with examples of its own.

Exit status: 0 on success, 2 for bad input (the message names the variable and the fix, in the
command's flags), 1 for anything else. On stderr: one line per stage with the time since the start,
``wrote PATH`` for every file written, ``xda COMMAND: warning: ...`` for each warning and, when
stderr is not a terminal (no progress bars), ``still ...`` once a minute during long work. The
library does the work; this module only parses arguments and reports.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import threading
import time
import warnings
from pathlib import Path

from .errors import NotFoundError, ParameterError, XdaError, XdaWarning

EXAMPLES = __doc__.split("Examples::")[1].split("Each command's")[0]

#: Each command's own ``--help`` examples.
COMMAND_EXAMPLES = {
    "assimilate": """
    xda assimilate background.nc stations.csv -o analysis.nc --obs-units tas=degC --obs-error tas=1.5 --obs-table omb.csv
    xda assimilate esm_tas sao_stations --isel time=2 --time 1995-03-18T18:00 --window 1h -o analysis.nc --method oi
    xda assimilate state.nc obs.nc -o analysis.nc --model hs-t42-mv-v1 --members 8 --seed 0
    xda assimilate background_4times.nc stations.csv -o analyses.nc --window 6h --qc 4 --orography model_orog.nc
""",
    "downscale": """
    xda downscale coarse.nc -o fine.nc --factor 4                 (the learned best estimate + tas_standard_error)
    xda downscale esm_tas --isel time=2 -o fine.nc --like target_grid.nc --method lapse_rate --lapse-rate -6.5
    xda downscale coarse.nc -o fine.nc --factor 4 --method lapse_rate --orography fine_orog.nc
    xda downscale model.nc --variable tmin -o ens.nc --factor 4 --members 8 --seed 0
""",
    "residual": """
    xda residual storm.nc --field t --u u --v v --kappa "1e5 m2/s" -o residual.nc
    xda residual run.nc --field q --u ua --v va --isel level=3 --time-dim step --lat latitude --lon longitude -o r.nc
""",
    "evaluate": """
    xda evaluate analysis.nc truth.nc --baseline oi.nc -o scores.csv
    xda evaluate ens.nc truth.nc --variables tas --member-dim member
    xda evaluate fine.nc truth.nc --no-weights --units tas=degC
""",
}

#: Seconds between "still ..." lines while a command works and stderr is not a terminal (tests set it smaller).
HEARTBEAT_S = 60.0

#: Exceptions that mean bad input: exit status 2 with the message.
BAD_INPUT = (XdaError, ValueError, KeyError, OSError)


# ----------------------------------------------------------------------------- the library's words -> the flags

_TASK = {"method": ("--method", "NAME"), "members": ("--members", "N"), "seed": ("--seed", "N"),
         "steps": ("--steps", "N"), "model": ("--model", "NAME"), "lat": ("--lat", "NAME"), "lon": ("--lon", "NAME"),
         "device": ("--device", "cpu|cuda")}
#: Python keyword -> (flag, metavar) of each command.
FLAGS = {
    "assimilate": {**_TASK, "variables": ("--variables", "NAME=MODELVAR"), "obs_error": ("--obs-error", "VAR=VALUE"),
                   "window": ("--window", "DURATION"), "orography": ("--orography", "FILE"), "qc": ("--qc", "N"),
                   "background_error": ("--background-error", "tuned|innovations|model")},
    "downscale": {**_TASK, "variable": ("--variable", "NAME"), "factor": ("--factor", "N"), "like": ("--like", "FILE"),
                  "orography": ("--orography", "FILE"), "lapse_rate": ("--lapse-rate", "K/km"), "u": ("--u", "NAME"),
                  "v": ("--v", "NAME"), "relief": ("--relief", "auto|full|model")},
    "residual": {"kappa": ("--kappa", "VALUE"), "time": ("--time-dim", "NAME"), "lat": ("--lat", "NAME"),
                 "lon": ("--lon", "NAME")},
    "evaluate": {"variables": ("--variables", "NAME"), "member_dim": ("--member-dim", "NAME")},
}
#: Keywords translated only in backticks: bare, they also describe data (``u='uas'``, ``.isel(time=0)``).
QUOTED_ONLY = {"u", "v", "lat", "lon", "time", "device"}


def _units_fix(m: re.Match, command: str) -> str:
    """`ds['tas'].attrs['units'] = 'K'` -> `--units tas=K` (assimilate: or --obs-units)."""
    pair = shlex.quote(f"{m.group(1) or 'VAR'}={m.group(2)}")
    return f"`--units {pair}` (background) or `--obs-units {pair}` (observations)" if command == "assimilate" \
        else f"`--units {pair}`"


#: (regex, replacement) for the library's Python advice that is not a plain ``keyword=value``.
REWRITES = [
    (r"`?df\.attrs\['units'\] = \{'([^']+)': '([^']*)'\}`?", lambda m, c: f"`--obs-units {shlex.quote(m[1] + '=' + m[2])}`"),
    (r"`?(?:\w+(?:\[['\"]([^'\"]+)['\"]\])?\.)?attrs\[['\"]units['\"]\] = ['\"]([^'\"]*)['\"]`?", _units_fix),
    (r"`(?:\w+\.)?attrs\['units'\]`", "`--units VAR=UNITS`"),
    (r"set `attrs\['standard_name'\] = '([^']+)'` on it", r"give it the attribute standard_name = '\1' in the file"),
    (r",? or open the file with `xda\.datasets\.open_dataset`, which repairs known files", ""),
    (r"`?obs_error=\{'([^']+)': value\}`?", r"`--obs-error \1=VALUE`"),
    (r"`?variables=\{'([^']+)': \.\.\.\}`?", r"`--variables \1=MODELVAR`"),
    (r"`\w*\.isel\((\w+)=(-?\d+)(?:, drop=True)?\)`", r"`--isel \1=\2`"),
    (r"`\w*\.assign_coords\(time=np\.datetime64\('([^']+)'\)\)`", r"`--time \1`"),
    (r"window=(\d+ days? \d\d:\d\d:\d\d)", r"the --window (\1)"),
    (r"(\(full width\),? or )None", r"\1none"),
    (r"`qc`", "`--qc`"),
    (r"\bwinds=False\b", "--no-winds"),
    (r"\bverify=False\b", "--no-verify"),
    (r"\bobs_space=True\b", "--obs-table FILE"),
    (r"\bweights=None\b", "--no-weights"),
]


def in_flags(message: str, command: str) -> str:
    """The library's ``message`` in the words of ``xda command``: Python keywords (``method='oi'``,
    ``variable='name'``, ``df.attrs['units']``) become the flags that set them (``--method oi``, ...)."""
    for pattern, repl in REWRITES:
        message = re.sub(pattern, (lambda m, r=repl: r(m, command)) if callable(repl) else repl, message)
    flags = FLAGS.get(command, {})
    if not flags:
        return message
    keyword = (r"(?<![\w.(\[=-])(?P<tick>`?)(?P<kw>" + "|".join(sorted(flags, key=len, reverse=True))
               + r")=(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;)`'\"]*)(?P=tick)")

    def flag(m: re.Match) -> str:
        if m["kw"] in QUOTED_ONLY and not m["tick"]:
            return m[0]
        name, metavar = flags[m["kw"]]
        value = m["value"].strip("'\"")
        placeholder = value in ("", "...", "value", "name") or value.startswith("my_")
        value = metavar if placeholder else "none" if value == "None" else shlex.quote(value)
        return f"{m['tick']}{name} {value}{m['tick']}"

    return re.sub(keyword, flag, message)


# ----------------------------------------------------------------------------- reading


def _pairs(items: list[str] | None, name: str, form: str = "VARIABLE=VALUE") -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"--{name} takes {form}, got {item!r}")
        out[key] = value
    return out


def _read_netcdf(path: str, what: str):
    """A netCDF file, or a bundled data set by name (``xda.datasets.available()``)."""
    import xarray as xr

    from . import datasets

    p = Path(path)
    if p.exists():
        try:
            return xr.open_dataset(p)
        except (ValueError, OSError) as e:
            reason = " ".join(str(e).split(". ")[0].split())[:200]
            kind = "a directory" if p.is_dir() else "not a netCDF file xarray can read"
            raise ParameterError(f"{what} {path} is {kind} ({reason})") from None
    if path in datasets.available():
        return datasets.open_dataset(path)
    raise FileNotFoundError(f"{what} {path} is neither a file nor a bundled data set ({', '.join(datasets.available())})")


def _open(path: str, what: str, isel: dict | None = None, when: str | None = None):
    """:func:`_read_netcdf`, reduced with ``isel`` (``--isel``) and given the valid time ``when`` (``--time``)."""
    ds = _read_netcdf(path, what)
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
    return _at_time(ds, path, when) if when else ds


def _at_time(ds, path: str, when: str):
    """``ds`` with the scalar ``time`` coordinate ``when`` (ISO 8601) in place of its own."""
    import numpy as np

    try:
        t = np.datetime64(when, "ns")
    except ValueError:
        raise ParameterError(f"--time {when}: not a date and time; give ISO 8601, e.g. --time 1995-03-18T18:00") from None
    if "time" in ds.dims:
        if ds.sizes["time"] > 1:
            raise ParameterError(f"--time {when}: {path} has {ds.sizes['time']} times; select one first, "
                                 f"e.g. --isel time=0")
        ds = ds.isel(time=0)
    ds = ds.drop_vars([c for c in ds.coords if c == "time" or ds[c].attrs.get("axis") == "T"])
    return ds.assign_coords(time=t)


def _with_units(ds, units: dict, option: str, what: str):
    """``ds`` with ``attrs['units']`` set from ``--units``/``--obs-units`` (VAR=UNITS)."""
    for k, u in units.items():
        if k not in ds.variables:
            raise NotFoundError(f"{option} {k}={u}: the {what} has no variable {k!r}; it has {list(ds.data_vars)}")
        ds[k].attrs["units"] = u
    return ds


def _read_obs(path_text: str, units: dict):
    """Observations from netCDF, CSV or parquet (tables: ``lat``, ``lon`` and one column per variable), or bundled."""
    import pandas as pd

    path = Path(path_text)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ParameterError(f"observations {path} is a directory; give a file (.nc, .csv or .parquet) or a bundled "
                             "data set's name")
    if suffix in (".nc", ".nc4", ".cdf") or not suffix:
        return _with_units(_open(path_text, "observations"), units, "--obs-units", "observations")
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"observations {path} must be .nc, .csv or .parquet")
    if not path.exists():
        raise FileNotFoundError(f"observations {path}: no such file")
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except ImportError as e:
        raise ParameterError(f"observations {path}: reading parquet needs pyarrow ({e}); or give a CSV") from None
    unknown = sorted(set(units) - {str(c) for c in df.columns})
    if unknown:
        raise NotFoundError(f"--obs-units names {unknown}, which are not columns of {path}: {list(df.columns)}")
    df.attrs["units"] = dict(df.attrs.get("units", {}), **units)
    return df


def _number_or_text(value: str):
    try:
        return float(value)
    except ValueError:
        return value  # e.g. "1.5 K"


def _altitude(value: str, option: str = "--orography"):
    """The surface altitude in a file or bundled data set (standard_name surface_altitude, or its one variable)."""
    ds = _open(value, option)
    names = ("surface_altitude", "height_above_mean_sea_level")
    found = [k for k, da in ds.data_vars.items() if da.attrs.get("standard_name") in names]
    if not found and len(ds.data_vars) == 1:
        found = list(ds.data_vars)
    if not found:
        raise ParameterError(f"{option} {value}: no variable with standard_name 'surface_altitude' among "
                             f"{list(ds.data_vars)}; give that attribute to the surface altitude")
    return ds[found[0]]


def _orography(value: str):
    """``--orography`` of assimilate: 'none' (no height term), or the model's surface altitude (:func:`_altitude`)."""
    return False if value.lower() == "none" else _altitude(value)


def _qc(value: str):
    """``--qc``: a threshold in stds, or 'none'."""
    if value.lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise ParameterError(f"--qc {value}: give the background-check threshold in stds, e.g. --qc 5, "
                             "or --qc none") from None


# ----------------------------------------------------------------------------- the commands


def _task_options(a) -> dict:
    """Keyword arguments that ``assimilate`` and ``downscale`` share."""
    kwargs = dict(method=a.method, members=a.members, seed=a.seed, device=a.device, lat=a.lat, lon=a.lon)
    if a.steps is not None:
        kwargs["steps"] = a.steps
    if a.model:
        kwargs["model"] = a.model
    return kwargs


def _assimilate(a) -> None:
    from .tasks import assimilate

    a.stage("reading", f"{a.background} and {a.obs}")
    bg = _open(a.background, "background", _pairs(a.isel, "isel", "DIM=INDEX"), a.time)
    bg = _with_units(bg, _pairs(a.units, "units", "VAR=UNITS"), "--units", "background")
    obs = _read_obs(a.obs, _pairs(a.obs_units, "obs-units", "VAR=UNITS"))
    errors = {k: _number_or_text(v) for k, v in _pairs(a.obs_error, "obs-error", "VAR=VALUE").items()}
    kwargs = dict(_task_options(a), obs_error=errors or None,
                  variables=_pairs(a.variables, "variables", "NAME=MODELVAR") or None,
                  latent_optimization=a.latent_optimization, window=None if a.window.lower() == "none" else a.window,
                  qc=_qc(a.qc), verify=not a.no_verify)
    if a.background_error:
        kwargs["background_error"] = a.background_error
    if a.orography is not None:
        kwargs["orography"] = _orography(a.orography)
    a.stage("analysing", f"(method {a.method})")
    if a.obs_table:
        analysis, table = assimilate(bg, obs, obs_space=True, **kwargs)
    else:
        analysis, table = assimilate(bg, obs, **kwargs), None
    _write(a, analysis, a.output)
    if table is not None:
        _write(a, table, a.obs_table)


def _downscale(a) -> None:
    from .tasks import downscale

    a.stage("reading", a.coarse)
    coarse = _open(a.coarse, "coarse field", _pairs(a.isel, "isel", "DIM=INDEX"), a.time)
    coarse = _with_units(coarse, _pairs(a.units, "units", "VAR=UNITS"), "--units", "coarse field")
    kwargs = dict(_task_options(a), variable=a.variable, u=a.u, v=a.v, winds=not a.no_winds)
    if a.like:
        kwargs["like"] = _open(a.like, "--like")
    if a.orography:
        if a.orography.lower() == "none":
            raise ParameterError("--orography none: downscaling has no 'no orography' mode; --method bicubic is the "
                                 "lapse-rate method without the height term")
        kwargs["orography"] = _altitude(a.orography)
    if a.lapse_rate is not None:
        if a.method not in ("lapse_rate", "xda", "regression"):
            raise ParameterError(f"--lapse-rate is for --method lapse_rate, xda or regression; --method {a.method} "
                                 "has no height term")
        kwargs["lapse_rate"] = _number_or_text(a.lapse_rate)
    if a.relief != "auto":
        kwargs["relief"] = a.relief
    a.stage("downscaling", f"(method {a.method})")
    fine = downscale(coarse, a.factor, **kwargs)
    kept = {k: coarse[k] for k in coarse.coords if coarse[k].ndim == 0 and k not in fine.coords}  # e.g. the --time
    _write(a, fine.assign_coords(kept), a.output)


def _residual(a) -> None:
    from .diagnostics import advection_diffusion_residual

    a.stage("reading", a.input)
    ds = _open(a.input, "input", _pairs(a.isel, "isel", "DIM=INDEX"))
    ds = _with_units(ds, _pairs(a.units, "units", "VAR=UNITS"), "--units", "input")
    for name in (a.field, a.u, a.v):
        if name not in ds:
            raise NotFoundError(f"{a.input} has no variable {name!r}; it has {list(ds.data_vars)}")
    a.stage("computing the residual")
    r = advection_diffusion_residual(ds[a.field], ds[a.u], ds[a.v], kappa=_number_or_text(a.kappa), time=a.time_dim,
                                     lat=a.lat, lon=a.lon)
    _write(a, r.to_dataset(name=f"{a.field}_residual"), a.output)


def _evaluate(a) -> None:
    from .metrics import scorecard

    a.stage("reading", ", ".join(p for p in (a.forecast, a.truth, a.baseline) if p))
    opened = [_open(p, what) if p else None for p, what in ((a.forecast, "forecast"), (a.truth, "truth"),
                                                           (a.baseline, "baseline"))]
    units = _pairs(a.units, "units", "VAR=UNITS")
    for k, u in units.items():
        if not any(ds is not None and k in ds.variables for ds in opened):
            raise NotFoundError(f"--units {k}={u}: neither file has a variable {k!r}; the forecast has "
                                f"{list(opened[0].data_vars)}")
        for ds in opened:
            if ds is not None and k in ds.variables:
                ds[k].attrs["units"] = u
    a.stage("scoring")
    scores = scorecard(*opened[:2], variables=a.variables or None, baseline=opened[2], member_dim=a.member_dim,
                       weights=None if a.no_weights else "latitude")
    print(scores.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if a.output:
        _write(a, scores, a.output)


def _write(a, obj, path: str) -> None:
    """Write ``obj`` (netCDF for xarray, CSV for a table) to ``path`` and say so; an OS refusal is bad input."""
    a.stage("writing", path)
    try:
        if hasattr(obj, "to_netcdf"):
            obj.to_netcdf(path)
        else:
            obj.to_csv(path, index=False)
    except OSError as e:
        raise ParameterError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"wrote {path}", file=sys.stderr)


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _train(a) -> None:
    """``xda train TASK``: the one training driver (:func:`xda.training.recipes.run`) with the parsed options."""
    import logging

    from .training.recipes import RECIPES, run

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # progress to the console
    overrides = {o.name: getattr(a, o.name) for o in RECIPES[a.task].options}
    out = run(a.task, a.data, a.out, preset=a.preset, name=a.name, seed=a.seed,
              **{k: v for k, v in overrides.items() if v is not None})
    print(f"wrote {out}", file=sys.stderr)


def _simulate(a) -> None:
    """``xda simulate``: the Held-Suarez OSSE (T42, forecast backgrounds) or the downscaling simulation (T63)."""
    import logging

    from .simulate.core import simulate, simulate_downscaling

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.kind == "osse":
        out = simulate(a.out or "~/.cache/xda/hs_t42.nc", a.days or 200, a.spinup_days or 120, a.interval_hours or 12,
                       a.alpha, a.seed, leads=tuple(int(h) for h in a.leads.split(",")), world=a.world)
    else:
        out = simulate_downscaling(a.out or "~/.cache/xda/hs_t63_ls.nc", a.days or 150, a.spinup_days or 60,
                                   a.interval_hours or 6, truncation=a.truncation, seed=a.seed)
    print(f"wrote {out}", file=sys.stderr)


# ----------------------------------------------------------------------------- the parser


def _subcommand(sub, name: str, help: str):
    return sub.add_parser(name, help=help, description=help, epilog="examples:" + COMMAND_EXAMPLES[name],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_task_options(s, model_default: str) -> None:
    """Options of the learned tasks (assimilate, downscale)."""
    s.add_argument("--model", default=None, metavar="NAME",
                   help=f"model name or path (xda.available_models()); default {model_default}")
    s.add_argument("--members", type=int, default=1, metavar="N",
                   help="N > 1: N samples along a new 'member' dimension about the best estimate (recentred on it, "
                        "or a model with a mean head's raw draws; method xda only; default 1)")
    s.add_argument("--seed", type=int, default=None, metavar="N", help="seed of the sampler's noise, for reproducible members")
    s.add_argument("--steps", type=int, default=None, metavar="N",
                   help="Heun steps of the sampler per member (default per model: 6 for the anchored and downscaling "
                        "models, 16 for the joint ones)")
    s.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default: cuda when available")
    s.add_argument("--lat", default=None, metavar="NAME", help="name of the latitude coordinate, when it cannot be found")
    s.add_argument("--lon", default=None, metavar="NAME", help="name of the longitude coordinate, when it cannot be found")


def _add_selection(s, time: bool = True) -> None:
    """``--isel``, ``--time`` and ``--units`` of an input file."""
    s.add_argument("--isel", nargs="*", metavar="DIM=INDEX", help="select from the input first, e.g. time=2")
    if time:
        s.add_argument("--time", default=None, metavar="ISO-TIME", help="the valid time to give the (selected) input, "
                                                    "e.g. 1995-03-18T18:00 (ISO 8601)")
    s.add_argument("--units", nargs="*", metavar="VAR=UNITS",
                   help="units of input variables that lack them or have wrong ones, e.g. tas=K")


def _add_assimilate(sub) -> None:
    s = _subcommand(sub, "assimilate", "analysis of a background given observations")
    s.add_argument("background", help="netCDF background (a Dataset on a regular lat-lon grid, with units), or a bundled "
                                      "data set's name (esm_tas, ncep_z500_global, ...)")
    s.add_argument("obs", help="observations: netCDF (gridded or points), CSV or parquet table (lat, lon, one column per "
                               "variable, optional time, elevation and <var>_error columns), or a bundled data set's name")
    s.add_argument("-o", "--output", required=True, help="netCDF file for the analysis")
    _add_selection(s)
    s.add_argument("--method", default="xda", choices=["xda", "oi"],
                   help="xda (default): the learned analysis anchored on OI, verified at withheld observations; "
                        "oi: optimal interpolation")
    _add_task_options(s, "hs-t42-v2")
    s.add_argument("--obs-error", nargs="*", metavar="VAR=VALUE",
                   help="observation-error std, e.g. tas=1.5 or 'tas=1.5 K' (overrides an error column)")
    s.add_argument("--obs-units", nargs="*", metavar="VAR=UNITS", help="units of observed variables or table columns, "
                                                                       "e.g. tas=degC")
    s.add_argument("--variables", nargs="*", metavar="NAME=MODELVAR", help="map names the model cannot match, e.g. HGT=z500")
    s.add_argument("--qc", default="5", metavar="N|none",
                   help="background check: reject observations whose O-B exceeds N stds (default 5); none: no check")
    s.add_argument("--background-error", default=None, choices=["tuned", "innovations", "model"],
                   help="B statistics: tuned (default, empirical Bayes), innovations (Hollingsworth-Lonnberg) or "
                        "model (the model card's, for its own world)")
    s.add_argument("--no-verify", action="store_true",
                   help="method xda: apply the learned correction as learned, without weighting it by its skill at "
                        "withheld observations")
    s.add_argument("--latent-optimization", action="store_true", help="LO-SDA (latent joint models)")
    s.add_argument("--obs-table", default=None, metavar="FILE.csv",
                   help="also write the analysis in observation space: O-B, O-A, QC flag and reason per observation")
    s.add_argument("--window", default="6h", metavar="DURATION",
                   help="assimilation window (full width) around the background's time for observations with times; "
                        "'none' uses all (default 6h)")
    s.add_argument("--orography", default=None, metavar="FILE|none",
                   help="the background model's surface altitude on its grid (netCDF, standard_name surface_altitude) "
                        "for the station-elevation term of near-surface temperature; 'none': no term (default: the "
                        "background's own, else ETOPO20)")
    s.set_defaults(run=_assimilate)


def _add_downscale(sub) -> None:
    s = _subcommand(sub, "downscale", "near-surface temperature on a finer grid, conservatively")
    s.add_argument("coarse", help="netCDF temperature on a regular lat-lon grid (with units; extra dimensions such as "
                                  "time are a batch), or a bundled data set's name (esm_tas)")
    s.add_argument("-o", "--output", required=True, help="netCDF file for the fine field")
    _add_selection(s)
    s.add_argument("--variable", default=None, metavar="NAME",
                   help="the temperature variable, when it cannot be found (standard_name air_temperature)")
    s.add_argument("--factor", type=int, default=None, metavar="N",
                   help="refinement per direction (default 4, or with --like the smallest at least as fine); "
                        "methods xda and regression do the model's factors (2, 3, 4), the others any")
    s.add_argument("--like", default=None, metavar="FILE",
                   help="target grid: a netCDF file (or bundled name) whose lat-lon grid the result is put on "
                        "(computed --factor times finer, then interpolated)")
    s.add_argument("--method", default="xda", choices=["xda", "regression", "lapse_rate", "bicubic", "bilinear"],
                   help="xda (default): the best estimate, the lapse-rate method plus the learned departure weighted by "
                        "its skill on the input one level up, written with <var>_standard_error; regression: the "
                        "learned mean departure; lapse_rate, bicubic, bilinear: classical, conservative")
    _add_task_options(s, "hs-t63-ds-v1")
    s.add_argument("--orography", default=None, metavar="FILE",
                   help="surface altitude on the fine grid, --factor times finer than the input also with --like (netCDF, "
                        "standard_name surface_altitude), for the learned methods and lapse_rate (default: ETOPO "
                        "averaged onto the fine cells)")
    s.add_argument("--lapse-rate", default=None, metavar="K/km",
                   help="a fixed lapse rate dT/dz for lapse_rate (and the learned methods' anchor), e.g. -6.5 or "
                        "'-6.5 K/km' (default: estimated from each coarse field)")
    s.add_argument("--relief", default="auto", choices=["auto", "full", "model"],
                   help="the relief the lapse-rate correction follows: full, the cell means, as observations see it; "
                        "model, smoothed at the grid scale as a climate model resolves it on the fine grid; auto "
                        "(default): full with --orography (the relief as given), else model")
    s.add_argument("--u", default=None, metavar="NAME", help="eastward near-surface wind variable (default: found by "
                                                             "standard name, e.g. uas)")
    s.add_argument("--v", default=None, metavar="NAME", help="northward near-surface wind variable (e.g. vas)")
    s.add_argument("--no-winds", action="store_true", help="ignore any winds (the model's 'no winds' mode)")
    s.set_defaults(run=_downscale)


def _add_residual(sub) -> None:
    s = _subcommand(sub, "residual", "advection-diffusion residual dc/dt + u.grad(c) - kappa lap(c)")
    s.add_argument("input", help="netCDF file (or bundled name) with the field and the winds on one lat-lon grid, "
                                 "at least 2 times")
    s.add_argument("--field", required=True, metavar="NAME", help="the advected field c, e.g. t")
    s.add_argument("--u", required=True, metavar="NAME", help="the eastward wind variable")
    s.add_argument("--v", required=True, metavar="NAME", help="the northward wind variable")
    s.add_argument("--kappa", default="0", help="diffusivity >= 0, m2 s-1 or with units ('1e5 m2/s'; default 0)")
    s.add_argument("-o", "--output", required=True, help="netCDF file for <field>_residual (SI units of c per second)")
    _add_selection(s, time=False)
    s.add_argument("--time-dim", default="time", metavar="NAME", help="name of the time dimension (default time)")
    s.add_argument("--lat", default=None, metavar="NAME", help="name of the latitude coordinate, when it cannot be found")
    s.add_argument("--lon", default=None, metavar="NAME", help="name of the longitude coordinate, when it cannot be found")
    s.set_defaults(run=_residual)


def _add_evaluate(sub) -> None:
    s = _subcommand(sub, "evaluate", "scores of a forecast/analysis against the truth (and a baseline)")
    s.add_argument("forecast", help="netCDF analysis, forecast or downscaled field (a 'member' dimension for ensembles)")
    s.add_argument("truth", help="netCDF truth on the same grid")
    s.add_argument("--baseline", default=None, help="netCDF baseline on the same cases (adds rmse_baseline, rmse_ratio)")
    s.add_argument("--variables", nargs="*", default=None, metavar="NAME",
                   help="variables to score (default: the forecast's that the truth has too)")
    s.add_argument("--member-dim", default="member", metavar="NAME", help="the ensemble dimension (default member)")
    s.add_argument("--no-weights", action="store_true", help="plain means instead of cos(latitude) weights")
    s.add_argument("--units", nargs="*", metavar="VAR=UNITS",
                   help="units of variables that lack them or have wrong ones (set in every file that has the variable)")
    s.add_argument("-o", "--output", default=None, metavar="SCORES.csv", help="also write the scores as CSV")
    s.set_defaults(run=_evaluate)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xda", description=__doc__.split("\n")[0], epilog="examples:" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_assimilate, _add_downscale, _add_residual, _add_evaluate):
        add(sub)
    _add_simulate(sub)
    _add_train(sub)
    return p


def _add_simulate(sub) -> None:
    from .simulate.core import WORLDS as OSSE_WORLDS  # numpy only: jax is imported when a simulation runs

    s = sub.add_parser("simulate", help="the Held-Suarez training simulation (the simulation extra: dinosaur, jax)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog="examples:\n"
                       "  xda simulate --out ~/.cache/xda/hs_t42_leads_s0.nc --days 120 --interval-hours 6 --leads 6,12,24,48,72\n"
                       "  xda simulate --kind downscaling --out ~/.cache/xda/hs_t63_ls_s0.nc --seed 0\n"
                       "  xda simulate --world earth --out ~/.cache/xda/hs_t42_earth_s0.nc --days 40 --spinup-days 80 "
                       "--interval-hours 6 --leads 6,12,24\n")
    s.add_argument("--kind", choices=["osse", "downscaling"], default="osse",
                   help="osse: truth + forecast backgrounds (T42); downscaling: near-surface fields with orography (T63)")
    s.add_argument("--out", default=None, help="netCDF file (default ~/.cache/xda/hs_t42.nc or hs_t63_ls.nc)")
    s.add_argument("--days", type=int, default=None, help="days simulated after the spin-up (default 200 / 150)")
    s.add_argument("--spinup-days", type=int, default=None, help="spin-up days (default 120 / 60)")
    s.add_argument("--interval-hours", type=int, default=None, help="hours between stored states (default 12 / 6)")
    s.add_argument("--alpha", type=float, default=0.2, help="osse: perturbation of the forecasts' initial states")
    s.add_argument("--seed", type=int, default=0, help="seed of the initial noise and the backgrounds")
    s.add_argument("--truncation", type=int, default=63, choices=[42, 63, 85], help="downscaling: spectral truncation")
    s.add_argument("--leads", default="24", help="osse: background forecast leads in hours, comma-separated (e.g. 6,12,24)")
    s.add_argument("--world", default="hs94", choices=list(OSSE_WORLDS),
                   help="osse: the forcing and surface (xda.simulate.core.WORLDS; default hs94, every shipped "
                        "model's): " + "; ".join(f"{k}: {w.about}" for k, w in OSSE_WORLDS.items()))
    s.set_defaults(run=_simulate)


def _add_train(sub) -> None:
    from .training.recipes import RECIPES

    s = sub.add_parser("train", help="train a model: xda train {assimilation,joint,latent,downscaling} DATA.nc ...")
    tasks = s.add_subparsers(dest="task", required=True)
    for task, recipe in RECIPES.items():
        if recipe.data != "simulation":  # fine-tuning takes a Dataset: xda.train(dataset, ...) in Python
            continue
        first = recipe.options[0]
        t = tasks.add_parser(task, help=f"train {recipe.what}", formatter_class=argparse.RawDescriptionHelpFormatter,
                             epilog=f"examples:\n  xda train {task} ~/.cache/xda/sim_s0.nc --{first.name.replace('_', '-')} "
                                    f"{first.default}\n  xda train {task} ~/.cache/xda/sim_s0.nc ~/.cache/xda/sim_s1.nc --seed 1 "
                                    f"--name my-model\n  xda train {task} ~/.cache/xda/sim_s0.nc --preset smoke --out /tmp/w\n")
        t.add_argument("data", nargs="+", help="simulation file(s) from `xda simulate`; several (seeds) are pooled")
        t.add_argument("--out", default=str(WEIGHTS_DIR), help="folder of <name>.safetensors and its card <name>.json")
        t.add_argument("--name", default=recipe.model,
                       help=f"model name (default {recipe.model or 'the --init model with a suffix'})")
        t.add_argument("--seed", type=int, default=0, help="seed of the training cases and the weights")
        t.add_argument("--preset", default="default", choices=["default", *recipe.presets],
                       help="the recipe's settings: default (those of the shipped weights) or smoke (a few steps); "
                            "the flags below override them")
        for o in recipe.options:  # None: the preset's value (shown: the default preset's)
            extra = {"choices": ["analytic", "vre"]} if o.name == "encoder" else {}
            t.add_argument("--" + o.name.replace("_", "-"), type=o.type, default=None,
                           help=f"{o.help} (default: {o.default})", **extra)
    s.set_defaults(run=_train)


# ----------------------------------------------------------------------------- checks, progress, warnings, main

#: Arguments that name input files (an output must not overwrite one of them).
INPUTS = ("background", "obs", "coarse", "input", "forecast", "truth", "baseline", "like", "orography")


def _check_outputs(args) -> None:
    """Refuse an output path that cannot be written *before* any work: a missing folder, a folder, an input file,
    a place the system does not let us create a file."""
    inputs = {Path(v).resolve() for v in (getattr(args, k, None) for k in INPUTS) if v and Path(v).is_file()}
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
        if p.resolve() in inputs:
            raise ParameterError(f"{option} {value}: is also an input; write to another file")
        _probe(p, option)


def _probe(p: Path, option: str) -> None:
    """Check that ``p`` can be written (an existing file is opened for appending, untouched; a new one created
    and removed)."""
    try:
        if p.exists():
            with open(p, "ab"):
                pass
        else:
            with open(p, "xb"):
                pass
            p.unlink()
    except OSError as e:
        raise ParameterError(f"{option} {p}: cannot write there ({e.strerror or e})") from None


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class _Progress:
    """One line per stage on stderr with the time since the start; while the command works and stderr is not a
    terminal (where tqdm shows no bars), a "still ..." line every :data:`HEARTBEAT_S` seconds."""

    def __init__(self, command: str):
        self.command, self.doing, self.t0 = command, "working", time.perf_counter()
        self._stop = threading.Event()
        self._thread = None

    def say(self, text: str) -> None:
        print(f"xda {self.command}: {text}", file=sys.stderr, flush=True)

    def stage(self, doing: str, detail: str = "") -> None:
        self.doing = doing
        self.say(f"{doing}{' ' + detail if detail else ''} ({_duration(time.perf_counter() - self.t0)})")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.say(f"still {self.doing} ({_duration(time.perf_counter() - self.t0)})")

    def __enter__(self):
        try:
            terminal = sys.stderr.isatty()
        except (AttributeError, ValueError):
            terminal = False
        if not terminal:
            self._thread = threading.Thread(target=self._beat, name="xda-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _show_warning(command: str):
    """A ``warnings.showwarning`` that prints ``xda COMMAND: warning: MESSAGE`` on one line, in the CLI's words."""
    def show(message, category, filename, lineno, file=None, line=None):
        kind = "" if issubclass(category, XdaWarning) or category is UserWarning else f"{category.__name__}: "
        text = " ".join(in_flags(str(message), command).split())
        print(f"xda {command}: warning: {kind}{text}", file=sys.stderr)
    return show


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad input, 1 other failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    args = p.parse_args(argv)
    with warnings.catch_warnings(), _Progress(args.command) as progress:
        warnings.filterwarnings("default", category=XdaWarning)
        warnings.showwarning = _show_warning(args.command)
        args.stage = progress.stage
        try:
            _check_outputs(args)
            if args.command in ("simulate", "train"):
                progress.doing = "simulating" if args.command == "simulate" else "training"
            args.run(args)
        except BAD_INPUT as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"xda {args.command}: error: {in_flags(str(msg), args.command)}", file=sys.stderr)
            return 2
        if args.command not in ("simulate", "train"):
            progress.say(f"done in {_duration(time.perf_counter() - progress.t0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
