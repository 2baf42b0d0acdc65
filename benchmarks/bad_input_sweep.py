"""A sweep of bad input, faults and misuse against xda's public API, as a new user would try them.

    python benchmarks/bad_input_sweep.py [--out benchmarks/results/bad_input_sweep.md] [--only SUBSTRING] [--with-tests]

Every case is an id, a category, a one-line description, a function that builds the
inputs (real bundled data in small slices, or small synthetic arrays), the call, and
what is *right*: an error (an ``xda.errors.XdaError``; a ``TypeError`` only where the
Python call signature itself is misused), or a ``check(result, *inputs)`` that decides
whether the returned result is correct (finite where it should be, equal to the
well-formed call, ...). Some cases accept either a correct result or a clear error
(``either``). Each outcome is classified:

* ``clear-error``    an XdaError where an error is right (``[vague]`` in the note when the
                     message does not name what the case says it should);
* ``correct``        a result that passes its check (warnings emitted are noted);
* ``silent-wrong``   a result that fails its check, or a result where only an error is
                     right, with no warning (or without a warning the case requires);
* ``warned-wrong``   the same, but some warning was emitted;
* ``obscure-crash``  an exception that is not an XdaError (numpy, pandas, xarray, torch,
                     KeyError, AttributeError, ...), or a case that ran past its time limit;
* ``refused-valid``  a clear XdaError where a result is right;
* ``mutated``        an input changed by the call (every case's inputs are deep-copied
                     before and compared after; takes precedence, the underlying outcome
                     is in the note).

Prints a markdown table (id, category, outcome, message or note) and the counts per
outcome, and writes both to ``--out``. Deterministic (fixed seeds; the outcomes do not
change between runs); about 70 s on 2 CPU cores (method="oi" mostly, a handful of
method="xda" cases with few steps), 40 s of it one ``ssim(sigma=1e6)``. ``--with-tests``
adds the cases of ``tests/test_bad_input*.py`` and the previous version's 50 probes
(about 10 s more).
Nothing under ``xda/`` is modified: the weight-file cases work on copies in a temporary
directory pointed to by ``XDA_WEIGHTS_DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

import xda  # noqa: E402
from xda import BackgroundError  # noqa: E402
from xda.errors import XdaError, XdaWarning  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TMP = Path(tempfile.mkdtemp(prefix="xda_sweep_"))
CASE_SECONDS = 90  # a case running longer is a hang (obscure-crash)

# ============================================================================ the case machinery

ERROR = "error"


@dataclass
class Case:
    id: str
    category: str
    desc: str
    call: Callable
    expect: Any  # ERROR, or check(result, *inputs) -> bool | (bool, note)
    inputs: Callable | None = None  # -> tuple of the call's positional inputs (checked for mutation)
    either: bool = False  # a clear error is also right
    names: tuple = ()  # regexes the error message should match (it names the variable / value)
    warn: str | None = None  # regex a warning must match for the result to count as correct
    signature: bool = False  # a TypeError is the right error (wrong Python call)
    accept: tuple = ()  # other exception classes that are right here (e.g. AttributeError for an unregistered accessor)


CASES: list[Case] = []
#: Warnings that say nothing about a case's own question (a few real SAO reports fail the background check
#: whatever the case tests); noted, but they do not make a wrong result "warned-wrong".
UNRELATED = (r"^QC rejected \d+ of \d+ observations of 'tas' \(largest: 29[0-9.]+ K at \(40\.67, -89\.68\)",)


def case(id, category, desc, call, expect, inputs=None, **kw):
    if any(c.id == id for c in CASES):
        raise SystemExit(f"duplicate case id {id}")
    CASES.append(Case(id, category, desc, call, expect, inputs, **kw))


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"ran longer than {CASE_SECONDS} s")


def _same(a, b) -> bool:
    """Whether an input equals its copy taken before the call (xarray: identical, pandas: equals + attrs)."""
    if isinstance(a, (xr.DataArray, xr.Dataset)):
        try:
            xr.testing.assert_identical(a, b)
            return True
        except AssertionError:
            return False
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.equals(b) and a.attrs == b.attrs and list(a.columns if hasattr(a, "columns") else []) == list(
            b.columns if hasattr(b, "columns") else [])
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return True


def _short(text: str, n: int = 160) -> str:
    return " ".join(str(text).split())[:n]


def run_case(c: Case) -> tuple[str, str, float]:
    """(outcome, note, seconds) of one case."""
    t0 = time.perf_counter()
    try:
        args = c.inputs() if c.inputs is not None else ()
    except Exception as e:  # noqa: BLE001 - a broken fixture is the sweep's bug, reported as such
        return "sweep-bug", f"inputs failed: {type(e).__name__}: {_short(e)}", time.perf_counter() - t0
    before = copy.deepcopy(args)
    exc = result = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(CASE_SECONDS)
        try:
            result = c.call(*args)
        except BaseException as e:  # noqa: BLE001 - classifying every failure is the point
            if isinstance(e, KeyboardInterrupt):
                raise
            exc = e
        finally:
            signal.alarm(0)
    seconds = time.perf_counter() - t0
    warned = [w for w in caught if issubclass(w.category, (UserWarning, XdaWarning, FutureWarning, RuntimeWarning))
              and not any(re.search(p, str(w.message)) for p in UNRELATED)]
    unrelated = [w for w in caught if any(re.search(p, str(w.message)) for p in UNRELATED)]
    wnote = "; ".join(sorted({f"{w.category.__name__}: {_short(w.message, 90)}" for w in warned}))
    if unrelated:
        wnote = "; ".join(p for p in (wnote, f"({len(unrelated)} unrelated: {_short(unrelated[0].message, 60)})") if p)
    if exc is not None:
        outcome, note = _classify_error(c, exc)
    else:
        outcome, note = _classify_result(c, result, args, warned, wnote)
    if seconds > 10:
        note = f"[slow: {seconds:.0f} s] {note}"
    changed = [i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)]
    if changed:
        note = f"input(s) {changed} changed by the call (underlying outcome {outcome}: {note})"
        outcome = "mutated"
    return outcome, note, seconds


def _classify_error(c: Case, e: BaseException) -> tuple[str, str]:
    msg = f"{type(e).__name__}: {_short(e, 400)}"
    xda_error = isinstance(e, XdaError) or (c.signature and isinstance(e, TypeError)) or isinstance(e, c.accept)
    if isinstance(e, _Timeout):
        return "obscure-crash", f"hang: {e}"
    if not xda_error:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if "/xda/" in f.filename or "xda" in Path(f.filename).parts), "")
        return "obscure-crash", f"{msg} [{where}]" if where else msg
    if c.expect == ERROR or c.either:
        missing = [p for p in c.names if not re.search(p, str(e), re.IGNORECASE)]
        return "clear-error", (f"[vague: does not name {missing}] " if missing else "") + msg
    return "refused-valid", msg


def _classify_result(c: Case, result, args, warned, wnote) -> tuple[str, str]:
    if c.expect == ERROR:
        what = f"returned {type(result).__name__} where an error is right"
        try:
            what += f" ({_describe(result)})"
        except Exception:  # noqa: BLE001
            pass
        return ("warned-wrong" if warned else "silent-wrong"), what + (f"; warnings: {wnote}" if wnote else "")
    try:
        verdict = c.expect(result, *args)
    except Exception as e:  # noqa: BLE001
        verdict = (False, f"check raised {type(e).__name__}: {_short(e)}")
    ok, note = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
    ok = bool(ok)
    if ok and c.warn and not any(re.search(c.warn, str(w.message), re.IGNORECASE) for w in warned):
        return "silent-wrong", f"no warning matching {c.warn!r}" + (f"; {note}" if note else "") + (
            f"; warnings: {wnote}" if wnote else "")
    if ok:
        return "correct", "; ".join(p for p in (note, f"warnings: {wnote}" if wnote else "") if p)
    return ("warned-wrong" if warned else "silent-wrong"), "; ".join(
        p for p in (note or "check failed", f"warnings: {wnote}" if wnote else "") if p)


def _describe(r) -> str:
    if isinstance(r, xr.DataArray):
        return f"DataArray {r.name!r} {dict(r.sizes)} finite={int(np.isfinite(r.values).sum())}/{r.size}"
    if isinstance(r, xr.Dataset):
        return f"Dataset {list(r.data_vars)[:4]} {dict(r.sizes)}"
    if isinstance(r, tuple):
        return "tuple of " + ", ".join(type(x).__name__ for x in r)
    return type(r).__name__


# ============================================================================ data (real bundled data, small slices)

from xda.models import registry  # noqa: E402


@functools.cache
def _raw(name: str) -> xr.Dataset:
    return xda.datasets.open_dataset(name)


def raw(name: str) -> xr.Dataset:
    return _raw(name).copy(deep=True)


def tas_na() -> xr.DataArray:
    """MPI-ESM March 2005 monthly tas over North America (21 x 38, K, float32)."""
    return raw("esm_tas")["tas"].isel(time=2, drop=True).sel(lat=slice(20, 60), lon=slice(230, 300))


def bg_tas() -> xr.Dataset:
    return tas_na().to_dataset(name="tas")


def points(lat, lon, value, units="K", name="tas", dim="obs", **extra) -> xr.Dataset:
    data = {name: (dim, np.asarray(value, float), {"units": units, "standard_name": "air_temperature"} if units in (
        "K", "degC", "degF") else {"units": units})}
    data.update({k: (dim, np.asarray(v)) for k, v in extra.items()})
    return xr.Dataset(data, coords={"lat": (dim, np.asarray(lat, float)), "lon": (dim, np.asarray(lon, float))})


@functools.cache
def _stations(n, seed):
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(25, 55, n), rng.uniform(235, 295, n)
    t = tas_na()
    v = t.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values + rng.normal(0, 1, n)
    return lat, lon, v


def stations(n=40, seed=0, units="K", name="tas") -> xr.Dataset:
    """``n`` synthetic reports: the tas background + 1 K noise at random points of its domain."""
    lat, lon, v = _stations(n, seed)
    conv = {"K": v, "degC": v - 273.15, "degF": v * 1.8 - 459.67}[units]
    return points(lat, lon, conv, units=units, name=name)


def table(n=40, **columns) -> pd.DataFrame:
    """The synthetic stations as a wide station table (units in attrs)."""
    df = stations(n).to_dataframe().reset_index(drop=True)[["lat", "lon", "tas"]]
    for k, v in columns.items():
        df[k] = v
    df.attrs["units"] = {"tas": "K"}
    return df


def sao(hour=18, n=60) -> xr.Dataset:
    """Real SAO station reports of 1995-03-18 at ``hour`` UTC inside the tas region (degC, with times)."""
    s = raw("sao_stations")
    keep = ((s.hour == hour) & (s.lat > 22) & (s.lat < 58) & ((s.lon % 360) > 232) & ((s.lon % 360) < 298)
            & s["T"].notnull()).values
    return s.isel(obs=np.flatnonzero(keep)[:n])


def bg_sao_time(hour=18) -> xr.Dataset:
    return bg_tas().assign_coords(time=np.datetime64(f"1995-03-18T{hour:02d}:00", "ns"))


BT = BackgroundError.constant(2.0, 5e5)  # K, for tas
BZ = BackgroundError.constant(50.0, 6e5)  # m, for z500


@functools.cache
def _z500():
    z = _raw("ncep_z500_global")["z500"]
    truth = z.isel(time=0, drop=True)
    bg = z.isel(time=slice(1, None)).mean("time").assign_attrs(truth.attrs)
    obs = truth.where(np.random.default_rng(1).random(truth.shape) < 0.03).rename("z500")
    return bg, obs, truth


def z_bg() -> xr.Dataset:
    return _z500()[0].copy(deep=True).to_dataset(name="z500")


def z_obs() -> xr.DataArray:
    return _z500()[1].copy(deep=True)


def z_truth() -> xr.DataArray:
    return _z500()[2].copy(deep=True)


def z_points(n=150, seed=3, lon360=True) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(-80, 80, n), rng.uniform(0, 357.5, n)
    v = z_truth().interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values + rng.normal(0, 10, n)
    return points(lat, lon if lon360 else (lon + 180) % 360 - 180, v, units="m", name="z500")


def storm(name="t", times=slice(1, 5)) -> xr.DataArray:
    """The 1996 blizzard, cropped to its all-finite columns, a few times."""
    return raw(f"storm1996_{name}")[name].isel(time=times, lon=slice(7, 29))


def coarse() -> xr.DataArray:
    """MPI-ESM March tas over Asia coarsened 4x: a 4 x 8 coarse field (K)."""
    t = raw("esm_tas")["tas"].isel(time=2, drop=True)
    asia = t.sel(lat=slice(20, 60), lon=slice(70, 140)).isel(lat=slice(0, 16), lon=slice(0, 32))
    return xda.coarsen(asia, 4)


def coarse8() -> xr.DataArray:
    """An 8 x 12 coarse field (Asia coarsened 2x from 16 x 24)."""
    t = raw("esm_tas")["tas"].isel(time=2, drop=True)
    asia = t.sel(lat=slice(20, 60), lon=slice(70, 140)).isel(lat=slice(0, 16), lon=slice(0, 24))
    return xda.coarsen(asia, 2)


def field(ny=9, nx=12, *, lat0=30.0, dlat=2.0, lon0=0.0, dlon=2.0, units="K", name="c", seed=0) -> xr.DataArray:
    lat, lon = lat0 + dlat * np.arange(ny), lon0 + dlon * np.arange(nx)
    data = np.random.default_rng(seed).normal(280.0, 2.0, (ny, nx))
    return xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=name, attrs={"units": units})


def smooth_field(ny=12, nx=16, units="K", name="c", **kw) -> xr.DataArray:
    f = field(ny, nx, units=units, name=name, **kw)
    la, lo = np.deg2rad(f.lat.values)[:, None], np.deg2rad(f.lon.values)[None, :]
    return f.copy(data=280 + 5 * np.sin(3 * lo) * np.cos(2 * la) + 3 * np.sin(la))


def winds(like: xr.DataArray, u=8.0, v=-3.0, units="m/s"):
    return (xr.full_like(like, u).rename("u").assign_attrs(units=units),
            xr.full_like(like, v).rename("v").assign_attrs(units=units))


# ----------------------------------------------------------------------------- reference results and checks


def oi_t(b=None, o=None, **kw):
    kw.setdefault("background_error", BT)
    return xda.assimilate(bg_tas() if b is None else b, stations() if o is None else o, method="oi", **kw)


@functools.cache
def _ref_oi_t():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return oi_t()


def ref_oi_t() -> xr.Dataset:
    return _ref_oi_t().copy(deep=True)


@functools.cache
def _ref_oi_z():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xda.assimilate(z_bg(), z_obs(), method="oi", background_error=BZ)


def ref_oi_z() -> xr.Dataset:
    return _ref_oi_z().copy(deep=True)


def _values(x, var=None):
    if isinstance(x, xr.Dataset):
        x = x[var or list(x.data_vars)[0]]
    data = x.data
    if hasattr(data, "magnitude"):
        data = data.magnitude
    return np.asarray(getattr(data, "compute", lambda: data)(), dtype=np.float64)


def close(a, b, atol=1e-3, var=None, rtol=0.0):
    """(ok, note): values of ``a`` equal ``b``'s within ``atol`` (NaN where NaN)."""
    va, vb = _values(a, var), _values(b, var)
    if va.shape != vb.shape:
        return False, f"shape {va.shape} != {vb.shape}"
    both = np.isfinite(va) & np.isfinite(vb)
    if (np.isfinite(va) != np.isfinite(vb)).any():
        return False, f"finite at {int(np.isfinite(va).sum())} vs {int(np.isfinite(vb).sum())} points"
    d = float(np.max(np.abs(va[both] - vb[both]))) if both.any() else 0.0
    tol = atol + rtol * float(np.max(np.abs(vb[both]))) if both.any() else atol
    return d <= tol, f"max |diff| {d:.3g}"


def finite(r, var=None):
    v = _values(r, var)
    return bool(np.isfinite(v).all()), f"finite {int(np.isfinite(v).sum())}/{v.size}"


def n_obs(n, var="tas"):
    def check(r, *_):
        got = (r[var] if isinstance(r, xr.Dataset) else r).attrs.get("xda_n_obs")
        return got == n, f"xda_n_obs={got} (expected {n})"
    return check


def same_as_ref_t(offset=0.0, scale=1.0, atol=2e-3):
    """The analysis equals the reference OI of the tas case (in K) after ``a * scale + offset``."""
    def check(r, *_):
        a = r if isinstance(r, xr.DataArray) else r["tas"]
        return close(_values(a) * scale + offset, ref_oi_t()["tas"], atol=atol)
    return check


def _sub(name_in_card="hs-t42-v2"):
    return ROOT / "xda" / "weights" / name_in_card


@contextlib.contextmanager
def env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    registry.clear_cache()
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        registry.clear_cache()


def with_env(call, **values):
    def run(*args):
        with env(**values):
            return call(*args)
    return run


# ============================================================================ 1. units

U = "units"
for uid, text in [("units-DEG-C", "DEG C"), ("units-deg-C", "deg C"), ("units-degrees-C", "degrees C"),
                  ("units-celsius", "celsius"), ("units-degree_Celsius", "degree_Celsius"), ("units-degC-spaces", "  degC "),
                  ("units-deg_C", "deg_C"), ("units-degree-sign-C", "°C")]:
    case(uid, U, f"station obs in degC labelled {text!r} (a spelling found in files)",
         lambda o, b: oi_t(b, o), same_as_ref_t(), inputs=lambda t=text: (stations(units="degC").assign(
             tas=lambda d: d.tas.assign_attrs(units=t)), bg_tas()), either=True, names=(re.escape(text.strip()),))
for uid, text in [("units-degrees-K", "degrees K"), ("units-Kelvin", "Kelvin"), ("units-kelvin-lower", "kelvin"),
                  ("units-degK", "degK"), ("units-deg-K", "deg K")]:
    case(uid, U, f"background in K labelled {text!r}", lambda b, o: oi_t(b, o), same_as_ref_t(),
         inputs=lambda t=text: (bg_tas().assign(tas=lambda d: d.tas.assign_attrs(units=t)), stations()), either=True,
         names=(re.escape(text),))
case("units-C-is-celsius", U, "obs labelled 'C' read as Celsius (cf-xarray's convention for climate files; pint alone: coulomb)",
     lambda o, b: oi_t(b, o), lambda r, o, b: close(r, oi_t(b, o.assign(tas=o.tas.assign_attrs(units="degC"))), atol=1e-9),
     inputs=lambda: (stations(units="degC").assign(tas=lambda d: d.tas.assign_attrs(units="C")), bg_tas()))
case("units-F-is-farad", U, "obs labelled 'F' (pint: farad) must not be read as degF", lambda o, b: oi_t(b, o), ERROR,
     inputs=lambda: (stations(units="degF").assign(tas=lambda d: d.tas.assign_attrs(units="F")), bg_tas()), names=("tas",))
case("units-empty-string", U, "background units ''", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.assign_attrs(units="")), stations()), names=("tas",))
case("units-dimensionless-1", U, "obs units '1' (dimensionless)", lambda o, b: oi_t(b, o), ERROR,
     inputs=lambda: (stations().assign(tas=lambda d: d.tas.assign_attrs(units="1")), bg_tas()), names=("tas",))
case("units-unknown-word", U, "obs units 'unknown'", lambda o, b: oi_t(b, o), ERROR,
     inputs=lambda: (stations().assign(tas=lambda d: d.tas.assign_attrs(units="unknown")), bg_tas()), names=("tas",))
case("units-not-a-string", U, "background attrs units = 273 (a number)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.assign_attrs(units=273)), stations()), names=("tas",))
case("units-bg-degC-obs-K", U, "background in degC, obs in K: analysis in degC equal to the K analysis",
     lambda b, o: oi_t(b, o), same_as_ref_t(offset=273.15),
     inputs=lambda: ((bg_tas() - 273.15).assign(tas=lambda d: d.tas.assign_attrs(tas_na().attrs, units="degC")), stations()))
case("units-bg-degF-obs-degC", U, "background in degF, obs in degC", lambda b, o: oi_t(b, o, obs_error="1 K"),
     lambda r, *_: close((_values(r["tas"]) + 459.67) / 1.8, ref_oi_t()["tas"], atol=2e-3),
     inputs=lambda: ((bg_tas() * 1.8 - 459.67).assign(tas=lambda d: d.tas.assign_attrs(tas_na().attrs, units="degF")),
                     stations(units="degC")))
case("units-bg-degF-bare-obs-error", U, "degF background, obs_error=1.8 (a bare number: in the background's units, degF)",
     lambda b, o: oi_t(b, o, obs_error=1.8), lambda r, *_: close((_values(r["tas"]) + 459.67) / 1.8, ref_oi_t()["tas"], atol=2e-3),
     inputs=lambda: ((bg_tas() * 1.8 - 459.67).assign(tas=lambda d: d.tas.assign_attrs(tas_na().attrs, units="degF")), stations()))
case("obs-error-half-degC", U, "obs_error='1 degC' is a difference: equals obs_error=1 (K)", lambda b, o: oi_t(b, o, obs_error="1 degC"),
     same_as_ref_t(), inputs=lambda: (bg_tas(), stations()))
case("obs-error-pint-quantity", U, "obs_error=pint Quantity(1, 'K')",
     lambda b, o: oi_t(b, o, obs_error=xda.labeled.units.registry().Quantity(1.0, "K")), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations()))
case("obs-error-pint-degC-quantity", U, "obs_error=Quantity(1, 'delta_degC')",
     lambda b, o: oi_t(b, o, obs_error=xda.labeled.units.registry().Quantity(1.0, "delta_degC")), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations()))
case("obs-error-numpy-float32", U, "obs_error=np.float32(1)", lambda b, o: oi_t(b, o, obs_error=np.float32(1.0)), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations()))
case("obs-error-numpy-0d-array", U, "obs_error=np.array(1.0) (0-d array)", lambda b, o: oi_t(b, o, obs_error=np.array(1.0)),
     same_as_ref_t(), inputs=lambda: (bg_tas(), stations()), either=True)
case("obs-error-list", U, "obs_error=[1.0, 1.0] (a list)", lambda b, o: oi_t(b, o, obs_error=[1.0, 1.0]), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("obs_error",))
case("obs-error-string-number", U, "obs_error='1' (text without units)", lambda b, o: oi_t(b, o, obs_error="1"),
     same_as_ref_t(), inputs=lambda: (bg_tas(), stations()), either=True, names=("obs_error",))
case("obs-error-text", U, "obs_error='small'", lambda b, o: oi_t(b, o, obs_error="small"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("small",))
case("obs-error-inf", U, "obs_error=inf", lambda b, o: oi_t(b, o, obs_error=float("inf")), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("tas",))
case("obs-error-bool", U, "obs_error=True", lambda b, o: oi_t(b, o, obs_error=True), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("True",))
case("obs-error-dataarray-per-obs", U, "obs_error as a DataArray along 'obs' with units",
     lambda b, o, e: oi_t(b, o, obs_error={"tas": e}), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations(), xr.DataArray(np.ones(40), dims="obs", attrs={"units": "K"})), either=True)
case("obs-error-column-degC-units", U, "a tas_error column in degC attrs (a difference: 1 degC = 1 K)",
     lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.ones(40), {"units": "degC"}))))
case("obs-error-column-without-units-degC-obs", U, "tas_error column without units next to degC obs: in the obs' units",
     lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas(), stations(units="degC").assign(tas_error=("obs", np.ones(40)))))
case("obs-error-column-wrong-dimension", U, "tas_error column in m", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.ones(40), {"units": "m"}))), names=("tas_error",))
case("z500-dam-background", U, "z500 background in dam, obs in m", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     lambda r, *_: close(_values(r) * 10, ref_oi_z(), atol=0.05),
     inputs=lambda: ((z_bg() / 10).assign(z500=lambda d: d.z500.assign_attrs(_z500()[0].attrs, units="dam")), z_obs()))
case("z500-geopotential-obs", U, "z500 obs as geopotential (m2 s-2) for a height background",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     lambda r, *_: close(r, ref_oi_z(), atol=0.05), inputs=lambda: (z_bg(), (z_obs() * 9.80665).assign_attrs(units="m2 s-2")),
     either=True, names=("z500",))
case("units-pint-quantified-bg", U, "pint-quantified background and obs (a user's own UnitRegistry)",
     lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: _quantified(bg_tas(), stations()))
case("units-pint-app-registry", U, "pint-quantified background (pint's application registry)",
     lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: _quantified(bg_tas(), stations(), app=True))
case("units-pint-mixed-registries", U, "pint background of one registry, pint obs of another",
     lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (_quantified(bg_tas(), None)[0], _quantified(None, stations())[1]),
     either=True)


def _quantified(b, o, app=False):
    import pint

    ureg = pint.get_application_registry() if app else pint.UnitRegistry()

    def q(ds):
        if ds is None:
            return None
        out = ds.copy()
        for k, v in ds.data_vars.items():
            u = v.attrs.get("units")
            if u:
                out[k] = v.copy(data=ureg.Quantity(np.asarray(v.values), {"K": "kelvin", "degC": "degC", "m": "meter"}[u]))
                out[k].attrs = {a: x for a, x in v.attrs.items() if a != "units"}
        return out
    return q(b), q(o)


case("metrics-rmse-K-vs-degF", U, "rmse(field in K, same field in degF) = 0", lambda a, b: xda.metrics.rmse(a, b),
     lambda r, *_: (float(r) < 1e-3, f"rmse={float(r):.4g}"), inputs=lambda: (tas_na(), (tas_na() * 1.8 - 459.67).assign_attrs(units="degF")))
case("metrics-rmse-K-vs-m", U, "rmse(K, m)", lambda a, b: xda.metrics.rmse(a, b), ERROR,
     inputs=lambda: (tas_na(), tas_na().assign_attrs(units="m")))
case("metrics-crps-degC-vs-K", U, "crps(ensemble in degC, truth in K) equals crps in K",
     lambda e, t: xda.metrics.crps(e, t), lambda r, e, t: close(r, xda.metrics.crps((e + 273.15).assign_attrs(units="K"), t), atol=1e-4),
     inputs=lambda: ((tas_na() - 273.15 + xr.DataArray(np.arange(4.0), dims="member")).assign_attrs(units="degC"), tas_na()))
case("metrics-mae-units-missing-one-side", U, "mae(field in K, the same field in degC without units): 273 with no word",
     lambda a, b: xda.metrics.mae(a, b), lambda r, *_: (True, f"mae={float(r):.4g}"), inputs=lambda: (tas_na(), (tas_na() - 273.15).drop_attrs()),
     either=True, names=("units",), warn="units")
case("metrics-scorecard-degC-truth", U, "scorecard(forecast in K, truth in degC): rmse 0",
     lambda f, t: xda.metrics.scorecard(f, t), lambda r, *_: (float(r["rmse"].iloc[0]) < 1e-3, f"rmse={float(r['rmse'].iloc[0]):.4g}"),
     inputs=lambda: (bg_tas(), (bg_tas() - 273.15).assign(tas=lambda d: d.tas.assign_attrs(units="degC"))))
case("metrics-ssr-units", U, "spread_skill_ratio(ensemble degC, truth K) equals the K one",
     lambda e, t: xda.metrics.spread_skill_ratio(e, t), lambda r, e, t: close(r, xda.metrics.spread_skill_ratio((e + 273.15).assign_attrs(units="K"), t), atol=1e-6),
     inputs=lambda: ((tas_na().astype("f8") - 273.15 + xr.DataArray(np.array([0.0, 1.0, -0.5]), dims="member")).assign_attrs(units="degC"),
                     tas_na().astype("f8")))
case("laplacian-degC-equals-K", U, "laplacian of a degC field equals the K one (a difference, no offset)",
     lambda c: xda.laplacian(c), lambda r, c: close(r, xda.laplacian((c + 273.15).assign_attrs(units="K")), atol=1e-18),
     inputs=lambda: ((tas_na() - 273.15).assign_attrs(units="degC"),))
case("gradient-degF-scaled", U, "the gradient of a degF field, in K/m, equals that of the same field in K",
     lambda c: xda.gradient(c)[0],
     lambda r, c: close(r, xda.gradient(((c.astype("f8") + 459.67) / 1.8).assign_attrs(units="K"))[0], atol=0, rtol=1e-6)
     if str(r.attrs.get("units")) in ("K m-1", "K/m", "kelvin / meter") else (False, f"units {r.attrs.get('units')}"),
     inputs=lambda: ((tas_na().astype("f8") * 1.8 - 459.67).assign_attrs(units="degF"),))
case("advection-winds-knots", U, "advection with winds in knots equals m/s winds converted",
     lambda c, u, v: xda.advection(c, u, v), lambda r, c, u, v: close(r, xda.advection(
         c, (u * 1852 / 3600).assign_attrs(units="m/s"), (v * 1852 / 3600).assign_attrs(units="m/s")), atol=1e-14),
     inputs=lambda: (smooth_field(), *[w.assign_attrs(units="knot") for w in winds(smooth_field())]))
case("advection-winds-km-per-h", U, "advection with winds in 'km/h'", lambda c, u, v: xda.advection(c, u, v),
     lambda r, c, u, v: close(r, xda.advection(c, (u / 3.6).assign_attrs(units="m/s"), (v / 3.6).assign_attrs(units="m/s")), atol=1e-12),
     inputs=lambda: (smooth_field(), *[w.assign_attrs(units="km/h") for w in winds(smooth_field())]))
case("advection-winds-in-K", U, "advection with u in K", lambda c, u, v: xda.advection(c, u, v), ERROR,
     inputs=lambda: (smooth_field(), winds(smooth_field())[0].assign_attrs(units="K"), winds(smooth_field())[1]), names=("u",))
case("residual-degC-equals-K", U, "advection-diffusion residual of degC equals that of K",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5), lambda r, c, u, v: close(
         r, xda.advection_diffusion_residual((c + 273.15).assign_attrs(units="K"), u, v, 1e5), atol=1e-12),
     inputs=lambda: ((storm("t") - 273.15).assign_attrs(units="degC"), storm("u"), storm("v")))
case("kappa-km2-per-s", U, "kappa='0.1 km2/s' equals kappa=1e5 (m2/s)",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, "0.1 km2/s"),
     lambda r, c, u, v: close(r, xda.advection_diffusion_residual(c, u, v, 1e5), atol=1e-12),
     inputs=lambda: (storm("t"), storm("u"), storm("v")))
case("kappa-wrong-dimension", U, "kappa='1e5 K'", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, "1e5 K"), ERROR,
     inputs=lambda: (storm("t"), storm("u"), storm("v")), names=("kappa",))
case("kappa-text", U, "kappa='lots'", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, "lots"), ERROR,
     inputs=lambda: (storm("t"), storm("u"), storm("v")), names=("kappa",))
case("kappa-none", U, "kappa=None", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, None), ERROR,
     inputs=lambda: (storm("t"), storm("u"), storm("v")), names=("kappa",), either=True)
case("geostrophic-dam", U, "geostrophic residual with z in dam equals z in m",
     lambda z, u, v: xda.geostrophic_residual(z, u, v)["u_ageostrophic"],
     lambda r, z, u, v: close(r, xda.geostrophic_residual((z * 10).assign_attrs(units="m"), u, v)["u_ageostrophic"], atol=1e-9),
     inputs=lambda: ((smooth_field(units="m") / 10 + 500).assign_attrs(units="dam"), *winds(smooth_field())))
case("geostrophic-z-in-K", U, "geostrophic residual with z in K", lambda z, u, v: xda.geostrophic_residual(z, u, v), ERROR,
     inputs=lambda: (smooth_field(units="K"), *winds(smooth_field())), names=("z|c",))
case("downscale-degC-lapse-rate", U, "lapse-rate downscaling of a degC field equals the K one minus 273.15",
     lambda c: xda.downscale(c, 2, method="lapse_rate"),
     lambda r, c: close(_values(r) + 273.15, xda.downscale((c + 273.15).assign_attrs(units="K"), 2, method="lapse_rate"), atol=2e-3),
     inputs=lambda: ((coarse() - 273.15).assign_attrs(units="degC"),))
case("lapse-rate-degC-per-km", U, "lapse_rate='-6.5 degC/km' (a difference per length) equals -6.5",
     lambda c: xda.downscale(c, 2, method="lapse_rate", lapse_rate="-6.5 degC/km"),
     lambda r, c: close(r, xda.downscale(c, 2, method="lapse_rate", lapse_rate=-6.5), atol=1e-4),
     inputs=lambda: (coarse(),))
case("lapse-rate-K-per-m-string", U, "lapse_rate='-0.0065 K/m' equals -6.5",
     lambda c: xda.downscale(c, 2, method="lapse_rate", lapse_rate="-0.0065 K/m"),
     lambda r, c: close(r, xda.downscale(c, 2, method="lapse_rate", lapse_rate=-6.5), atol=1e-4), inputs=lambda: (coarse(),))
case("lapse-rate-positive-textbook", U, "lapse_rate=6.5 (the textbook sign, -dT/dz): warmer with height; deserves a warning",
     lambda c: xda.downscale(c, 2, method="lapse_rate", lapse_rate=6.5), lambda r, c: True, inputs=lambda: (coarse(),),
     warn=r"lapse|sign|positive|warm", either=True)
case("orography-in-km", U, "orography given in km equals it in m",
     lambda c, o: xda.downscale(c, 2, method="lapse_rate", orography=o, lapse_rate=-6.5),
     lambda r, c, o: close(r, xda.downscale(c, 2, method="lapse_rate", lapse_rate=-6.5, orography=(o * 1000).assign_attrs(units="m")), atol=1e-4),
     inputs=lambda: (coarse(), _orog_fine(2).assign_attrs(units="km") / 1000))
case("orography-in-K", U, "orography in K", lambda c, o: xda.downscale(c, 2, method="lapse_rate", orography=o), ERROR,
     inputs=lambda: (coarse(), _orog_fine(2).assign_attrs(units="K")), names=("orog",))


def _orog_fine(f, c=None):
    c = coarse() if c is None else c
    from xda.numerics import regrid
    lat_f, lon_f = regrid.fine_coords(np.sort(c.lat.values), c.lon.values, f, False)
    h = xda.static.surface_altitude(lat_f, lon_f)
    return xr.DataArray(np.asarray(h), dims=("lat", "lon"), coords={"lat": lat_f, "lon": lon_f}, name="orog", attrs={"units": "m"})


# ============================================================================ 2. coordinates

C = "coordinates"


def renamed_bg(**names):
    b = bg_tas()
    return b.rename(names)


case("coords-latitude-longitude", C, "background with 'latitude'/'longitude' names", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (renamed_bg(lat="latitude", lon="longitude"), stations()))
case("coords-nav-lat-1d", C, "background with 1-D 'nav_lat'/'nav_lon' (no attrs)", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (renamed_bg(lat="nav_lat", lon="nav_lon").pipe(lambda d: d.assign_coords(
         nav_lat=d.nav_lat.drop_attrs(), nav_lon=d.nav_lon.drop_attrs())), stations()))
case("coords-LAT-LON-upper", C, "background with 'LAT'/'LON' without attrs", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (renamed_bg(lat="LAT", lon="LON").pipe(lambda d: d.assign_coords(LAT=d.LAT.drop_attrs(), LON=d.LON.drop_attrs())), stations()))
case("coords-odd-names-no-attrs", C, "coords 'la'/'lo' without attrs", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (renamed_bg(lat="la", lon="lo").pipe(lambda d: d.assign_coords(la=d.la.drop_attrs(), lo=d.lo.drop_attrs())), stations()),
     names=("la|lat",))
case("coords-odd-names-override", C, "coords 'la'/'lo' with lat='la', lon='lo'", lambda b, o: oi_t(b, o, lat="la", lon="lo"),
     same_as_ref_t(), inputs=lambda: (renamed_bg(lat="la", lon="lo").pipe(lambda d: d.assign_coords(
         la=d.la.drop_attrs(), lo=d.lo.drop_attrs())), stations()))
case("coords-override-missing", C, "lat='latitude' on a field whose latitude is 'lat'", lambda b, o: oi_t(b, o, lat="latitude"),
     ERROR, inputs=lambda: (bg_tas(), stations()), names=("latitude",))
case("coords-2d-latlon", C, "curvilinear background: 2-D lat/lon on y/x", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (_curvilinear(), stations()), names=("2-D|curvilinear",))


def _curvilinear():
    b = bg_tas()
    la, lo = np.meshgrid(b.lat.values, b.lon.values, indexing="ij")
    return xr.Dataset({"tas": (("y", "x"), b.tas.values, b.tas.attrs)},
                      coords={"lat": (("y", "x"), la, {"standard_name": "latitude", "units": "degrees_north"}),
                              "lon": (("y", "x"), lo, {"standard_name": "longitude", "units": "degrees_east"})})


case("coords-radians-with-units", C, "coordinates in radians with units 'radians'", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign_coords(lat=np.deg2rad(bg_tas().lat).assign_attrs(units="radians"),
                                            lon=np.deg2rad(bg_tas().lon).assign_attrs(units="radians")), stations()),
     names=("radian",))
case("coords-radians-no-units-global", C, "a global grid in radians without units (lat -1.55..1.55, lon 0..6.25): "
     "must not be read as a 3 x 6 degree region", lambda c: xda.laplacian(c), ERROR, either=True,
     inputs=lambda: (_z500()[0].isel(lat=slice(1, -1)).assign_coords(lat=np.deg2rad(_z500()[0].lat[1:-1]).drop_attrs(),
                                                                     lon=np.deg2rad(_z500()[0].lon).drop_attrs()),),
     names=("radian",))
case("coords-descending-lat-oi", C, "background with descending latitude: analysis = flipped ascending one",
     lambda b, o: oi_t(b, o), lambda r, b, o: close(r["tas"].isel(lat=slice(None, None, -1)), ref_oi_t()["tas"], atol=2e-3),
     inputs=lambda: (bg_tas().isel(lat=slice(None, None, -1)), stations()))
case("coords-bg-180-obs-360", C, "global background in -180..180, point obs in 0..360",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     lambda r, b, o: close(r["z500"].roll(lon=72, roll_coords=False), xda.assimilate(z_bg(), o, method="oi", background_error=BZ)["z500"], atol=0.05),
     inputs=lambda: (z_bg().roll(lon=72, roll_coords=True).assign_coords(lon=lambda d: (d.lon + 180) % 360 - 180), z_points()))
case("coords-dateline-region-0-360", C, "regional background across the date line (150..210 E), obs in -180..180",
     lambda b, o: oi_t(b, o), lambda r, b, o: (r["tas"].attrs["xda_n_obs"] == 30 and finite(r)[0], f"n_obs={r['tas'].attrs['xda_n_obs']}"),
     inputs=lambda: (_dateline_bg(), _dateline_obs()))
case("coords-dateline-region-negative", C, "the same region as -210..-150 (continuous, below -180)",
     lambda b, o: oi_t(b, o), lambda r, b, o: close(r, oi_t(_dateline_bg(), o), atol=1e-3),
     inputs=lambda: (_dateline_bg().assign_coords(lon=_dateline_bg().lon - 360), _dateline_obs()))
case("coords-dateline-jump", C, "the same region in -180..180 (a jump 180 -> -180 inside)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (_dateline_bg().assign_coords(lon=(_dateline_bg().lon + 180) % 360 - 180), _dateline_obs()),
     names=("lon",))


def _dateline_bg():
    t = raw("esm_tas")["tas"].isel(time=2, drop=True)
    return t.sel(lat=slice(30, 60), lon=slice(150, 210)).to_dataset(name="tas")


def _dateline_obs():
    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(32, 58, 30), rng.uniform(152, 208, 30)
    v = _dateline_bg().tas.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values + rng.normal(0, 1, 30)
    return points(lat, (lon + 180) % 360 - 180, v)


case("coords-cyclic-point-oi", C, "global background with a cyclic point (0..360 inclusive): the seam columns agree",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     lambda r, b, o: close(r["z500"].isel(lon=-1), r["z500"].isel(lon=0), atol=1e-3),
     inputs=lambda: (xr.concat([z_bg(), z_bg().isel(lon=[0]).assign_coords(lon=[360.0])], "lon"), z_points()))
case("coords-duplicate-lat-bg", C, "background with a repeated latitude", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().isel(lat=[0, 0, *range(1, 21)]), stations()), names=("lat",))
case("coords-unsorted-lat-bg", C, "background with latitudes out of order", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().isel(lat=[1, 0, *range(2, 21)]), stations()), names=("lat",))
case("coords-nan-lon-bg", C, "background with a NaN longitude", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign_coords(lon=np.r_[np.nan, bg_tas().lon.values[1:]]), stations()), names=("lon",))
case("coords-one-row-bg", C, "background with a single latitude row", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().isel(lat=[5]), stations()), names=("lat",), either=True)
case("coords-scalar-lat-bg", C, "background with lat selected away (isel(lat=5): scalar coordinate)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().isel(lat=5), stations()), names=("1 point|scalar|0-d|select a range|isel",))
case("coords-uneven-lon-bg", C, "background with unevenly spaced longitudes", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().isel(lon=[0, 1, 2, 4, 5, *range(6, 38)]), stations()), names=("lon",), either=True)
case("coords-lat-out-of-range", C, "background latitudes beyond 90", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign_coords(lat=bg_tas().lat * 2), stations()), names=("lat",))
case("coords-dims-lon-lat-order", C, "background transposed (lon, lat): same analysis, same dim order",
     lambda b, o: oi_t(b, o), lambda r, b, o: (r["tas"].dims == ("lon", "lat") and close(r["tas"].T, ref_oi_t()["tas"], atol=2e-3)[0],
                                              f"dims {r['tas'].dims}"), inputs=lambda: (bg_tas().transpose("lon", "lat"), stations()))
case("coords-obs-latitude-names", C, "point obs with 'latitude'/'longitude' coordinates", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations().rename(lat="latitude", lon="longitude")))
case("coords-obs-dim-station", C, "point obs along a 'station' dimension", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations().rename(obs="station")))
case("coords-obs-latlon-as-data-vars", C, "point obs with lat/lon as data variables (not coordinates)",
     lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas(), stations().reset_coords(["lat", "lon"])), either=True,
     names=("lat",))
case("coords-obs-lon-370", C, "obs longitudes shifted by +360 (595..655)", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations().assign_coords(lon=stations().lon + 360)))
case("coords-obs-nan-position", C, "3 obs with NaN latitude are dropped and counted",
     lambda b, o: oi_t(b, o), lambda r, *_: (r.tas.attrs["xda_n_obs"] == 37 and r.tas.attrs.get("xda_n_obs_missing") == 3,
                                             f"n_obs={r.tas.attrs['xda_n_obs']} missing={r.tas.attrs.get('xda_n_obs_missing')}"),
     inputs=lambda: (bg_tas(), stations().assign_coords(lat=stations().lat.where(stations().obs > 2))))
case("coords-obs-on-region-edge", C, "an obs exactly on the region's corner grid point is used",
     lambda b, o: oi_t(b, o), n_obs(1), inputs=lambda: (bg_tas(), points([float(bg_tas().lat[-1])], [float(bg_tas().lon[-1])],
                                                                          [float(bg_tas().tas[-1, -1]) + 0.5])))
case("coords-obs-pole-global", C, "obs at the north pole of a global grid", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     n_obs(1, "z500"), inputs=lambda: (z_bg(), points([90.0], [0.0], [5200.0], units="m", name="z500")))
case("coords-gridded-obs-flipped-lat", C, "gridded obs on the background grid but with latitudes descending",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ), lambda r, *_: close(r, ref_oi_z(), atol=0.05),
     inputs=lambda: (z_bg(), z_obs().isel(lat=slice(None, None, -1))), either=True, names=("order|descending|flip|sortby|revers",))
case("coords-gridded-obs-lon-180", C, "gridded obs on the same points with longitudes -180..180 (rolled)",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ), lambda r, *_: close(r, ref_oi_z(), atol=0.05),
     inputs=lambda: (z_bg(), z_obs().roll(lon=72, roll_coords=True).assign_coords(lon=lambda d: (d.lon + 180) % 360 - 180)), either=True,
     names=("order|convention|-180|sortby|roll",))
case("coords-gridded-obs-float32-coords", C, "gridded obs whose coordinates are float32 copies of the background's",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ), lambda r, *_: close(r, ref_oi_z(), atol=0.05),
     inputs=lambda: (z_bg().assign_coords(lat=z_bg().lat.astype("f8"), lon=z_bg().lon.astype("f8")),
                     z_obs().assign_coords(lat=z_obs().lat.astype("f4"), lon=z_obs().lon.astype("f4"))))
case("coords-laplacian-transposed", C, "laplacian of a (lon, lat) field equals the transposed (lat, lon) one",
     lambda c: xda.laplacian(c), lambda r, c: close(r.transpose("lat", "lon"), xda.laplacian(c.transpose("lat", "lon")), atol=1e-18),
     inputs=lambda: (tas_na().transpose("lon", "lat"),))
case("coords-laplacian-cyclic-vs-not", C, "laplacian of a global field with a cyclic point equals the one without (shared columns)",
     lambda c: xda.laplacian(c), lambda r, c: close(r.isel(lon=slice(0, -1)), xda.laplacian(c.isel(lon=slice(0, -1))), atol=1e-15),
     inputs=lambda: (xr.concat([_z500()[0], _z500()[0].isel(lon=[0]).assign_coords(lon=[360.0])], "lon"),))
case("coords-gradient-one-column", C, "gradient of a single longitude column", lambda c: xda.gradient(c), ERROR,
     inputs=lambda: (tas_na().isel(lon=[3]),), names=("lon",))
case("coords-descending-lon", C, "laplacian of a field with longitudes descending", lambda c: xda.laplacian(c), ERROR,
     inputs=lambda: (tas_na().isel(lon=slice(None, None, -1)),), names=("lon",), either=True)

# ============================================================================ 3. grids

G = "grids"
case("grid-tiny-2x2-oi", G, "OI on a 2 x 2 background", lambda b, o: oi_t(b, o), lambda r, *_: finite(r),
     inputs=lambda: (bg_tas().isel(lat=slice(5, 7), lon=slice(5, 7)), points([float(bg_tas().lat[5]) + 0.5], [float(bg_tas().lon[5]) + 0.5], [280.0])),
     either=True)
case("grid-tiny-region-xda", G, "method='xda' on a 3 x 3 region (smaller than the network's 4 x 4 cells): the OI analysis, said",
     lambda b, o: xda.assimilate(b, o), lambda r, b, o: close(r, xda.assimilate(b, o, method="oi")),
     inputs=lambda: (bg_tas().isel(lat=slice(5, 8), lon=slice(5, 8)),
                     points([float(bg_tas().lat[6])], [float(bg_tas().lon[6])], [280.0])), warn="OI")
case("grid-obs-on-other-region", G, "all obs in Europe for a North American background", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), stations().assign_coords(lon=stations().lon - 250)), names=("tas",))
case("grid-one-obs-outside", G, "1 of 40 obs outside the region is dropped and counted", lambda b, o: oi_t(b, o),
     lambda r, *_: (r.tas.attrs["xda_n_obs"] == 39 and r.tas.attrs["xda_n_obs_outside_grid"] == 1, str(
         {k: v for k, v in r.tas.attrs.items() if k.startswith("xda_n_obs")})),
     inputs=lambda: (bg_tas(), stations().assign_coords(lon=stations().lon.where(stations().obs != 0, 10.0))))
case("grid-downscale-huge-factor", G, "downscale a 4 x 8 field with factor=10**6 (bicubic)",
     lambda c: xda.downscale(c, 10**6, method="bicubic"), ERROR, inputs=lambda: (coarse(),), names=("factor|memory|10+",))
case("grid-downscale-factor-25", G, "bicubic downscaling by 25 is conservative (coarsen(fine, 25) == coarse)",
     lambda c: xda.downscale(c, 25, method="bicubic"), lambda r, c: close(xda.coarsen(r, 25), c, atol=2e-3),
     inputs=lambda: (coarse(),))
case("grid-downscale-3x3", G, "downscale a 3 x 3 field", lambda c: xda.downscale(c, 2, method="bicubic"), ERROR,
     inputs=lambda: (coarse().isel(lat=slice(0, 3), lon=slice(0, 3)),), names=("3 x 3|cells",), either=True)
case("grid-downscale-descending", G, "lapse-rate downscaling of a descending-latitude field = flipped ascending one",
     lambda c: xda.downscale(c, 2, method="lapse_rate"), lambda r, c: close(
         r.isel(lat=slice(None, None, -1)), xda.downscale(c.isel(lat=slice(None, None, -1)), 2, method="lapse_rate"), atol=1e-4),
     inputs=lambda: (coarse().isel(lat=slice(None, None, -1)),))
case("grid-downscale-dateline", G, "bicubic downscaling of a region across the date line (0..360) is conservative",
     lambda c: xda.downscale(c, 2, method="bicubic"), lambda r, c: close(xda.coarsen(r, 2), c, atol=2e-3),
     inputs=lambda: (_dateline_bg().tas.isel(lat=slice(0, 8), lon=slice(0, 16)),))
case("grid-downscale-cyclic-point", G, "bicubic downscaling of a global field with a cyclic point",
     lambda c: xda.downscale(c, 2, method="bicubic"), lambda r, c: finite(r), either=True,
     inputs=lambda: (xr.concat([_esm_global_coarse(), _esm_global_coarse().isel(lon=[0]).assign_coords(
         lon=[float(_esm_global_coarse().lon[0]) + 360.0])], "lon"),))


@functools.cache
def _esm_global_coarse_c():
    return xda.coarsen(_raw("esm_tas")["tas"].isel(time=2, drop=True), 4)


def _esm_global_coarse():
    return _esm_global_coarse_c().copy(deep=True)


case("grid-downscale-global-factor3", G, "lapse-rate downscaling of a global 24 x 48 field by 3 is conservative",
     lambda c: xda.downscale(c, 3, method="lapse_rate"), lambda r, c: close(xda.coarsen(r, 3), c, atol=2e-3),
     inputs=lambda: (_esm_global_coarse(),))
case("grid-downscale-like-descending", G, "downscale onto a target grid with descending latitudes = the ascending one flipped",
     lambda c, t: xda.downscale(c, method="bicubic", like=t), lambda r, c, t: close(
         r.isel(lat=slice(None, None, -1)), xda.downscale(c, method="bicubic", like=t.isel(lat=slice(None, None, -1))), atol=1e-4),
     inputs=lambda: (coarse8(), _target(coarse8()).isel(lat=slice(None, None, -1))))
case("grid-downscale-like-coarser", G, "downscale onto a target grid coarser than the input", lambda c, t: xda.downscale(c, method="bicubic", like=t),
     ERROR, inputs=lambda: (coarse8(), xda.coarsen(coarse8(), 2)), names=("coarser",))
case("grid-downscale-like-no-coords", G, "like= a DataArray without lat/lon", lambda c, t: xda.downscale(c, method="bicubic", like=t),
     ERROR, inputs=lambda: (coarse8(), xr.DataArray(np.zeros((4, 4)), dims=("a", "b"))), names=("lat",))


def _target(c):
    lat = np.linspace(float(c.lat.min()) + 1, float(c.lat.max()) - 1, 10)
    lon = np.linspace(float(c.lon.min()) + 1, float(c.lon.max()) - 1, 20)
    return xr.DataArray(np.zeros((10, 20)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})


case("grid-coarsen-descending", G, "coarsen of a descending-latitude field = flipped ascending one",
     lambda f: xda.coarsen(f, 2), lambda r, f: close(r.isel(lat=slice(None, None, -1)), xda.coarsen(f.isel(lat=slice(None, None, -1)), 2), atol=1e-4),
     inputs=lambda: (tas_na().isel(lat=slice(0, 20), lon=slice(0, 38)).isel(lat=slice(None, None, -1)),))
case("grid-coarsen-nan-block", G, "coarsen of a field with a NaN: NaN only in that block",
     lambda f: xda.coarsen(f, 2), lambda r, f: (int(np.isnan(r.values).sum()) == 1, f"NaN cells {int(np.isnan(r.values).sum())}"),
     inputs=lambda: (tas_na().isel(lat=slice(0, 20)).where(lambda d: ~((d.lat == d.lat[3]) & (d.lon == d.lon[3]))),), either=True)
case("grid-coarsen-int", G, "coarsen of an integer field gives float block means",
     lambda f: xda.coarsen(f, 2), lambda r, f: (r.dtype.kind == "f" and close(r, xda.coarsen(f.astype(float), 2), atol=1e-9)[0],
                                                f"dtype {r.dtype}; {close(r, xda.coarsen(f.astype(float), 2), atol=1e-9)[1]} from the float block means "
                                                f"(e.g. {float(r[0, 0])} vs {float(xda.coarsen(f.astype(float), 2)[0, 0]):.4f})"),
     inputs=lambda: (tas_na().isel(lat=slice(0, 20)).round().astype(np.int32),))
case("grid-advection-other-grid-winds", G, "advection with winds on a shifted grid", lambda c, u, v: xda.advection(c, u, v), ERROR,
     inputs=lambda: (smooth_field(), *[w.assign_coords(lon=w.lon + 1) for w in winds(smooth_field())]), names=("grid|u|lon",))
case("grid-advection-winds-subset", G, "advection with winds on a sub-region", lambda c, u, v: xda.advection(c, u, v), ERROR,
     inputs=lambda: (smooth_field(), *[w.isel(lat=slice(0, 6)) for w in winds(smooth_field())]), names=("grid|u|lat",))
case("grid-advection-scalar-winds", G, "advection with plain float winds (u=8.0, v=-3.0)", lambda c: xda.advection(c, 8.0, -3.0),
     ERROR, inputs=lambda: (smooth_field(),), either=True, signature=True, names=("u",))
case("grid-geostrophic-transposed-winds", G, "geostrophic residual with winds transposed (lon, lat)",
     lambda z, u, v: xda.geostrophic_residual(z, u, v)["u_ageostrophic"],
     lambda r, z, u, v: close(r, xda.geostrophic_residual(z, u.T, v.T)["u_ageostrophic"], atol=1e-9),
     inputs=lambda: (smooth_field(units="m"), *[w.transpose("lon", "lat") for w in winds(smooth_field())]))

# ============================================================================ 4. times

T = "times"


def _sao_with_distractors():
    """40 SAO reports at 18 UTC plus the same stations' reports 6 hours earlier (12 UTC)."""
    return xr.concat([sao(18, 40), sao(12, 40)], "obs")


def _count_at_18(r, *_):
    n = r["tas"].attrs["xda_n_obs"] + r["tas"].attrs.get("xda_n_obs_duplicate", 0) + r["tas"].attrs.get("xda_n_obs_rejected", 0)
    out = r["tas"].attrs.get("xda_n_obs_outside_window")
    return n == 40 and out == 40, f"used+dup+rejected={n}, outside window={out}"


case("time-bg-cf-numeric", T, "background time as CF numbers ('hours since 1995-03-18', 18.0)",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_tas().assign_coords(time=xr.DataArray(18.0, attrs={"units": "hours since 1995-03-18"})), _sao_with_distractors()))
case("time-bg-string", T, "background time as a string scalar coordinate '1995-03-18T18:00'",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18, inputs=lambda: (bg_tas().assign_coords(time="1995-03-18T18:00"), _sao_with_distractors()),
     either=True)
case("time-bg-pandas-tz-aware", T, "background time a tz-aware pandas Timestamp (US/Eastern 13:00 = 18 UTC)",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_tas().assign_coords(time=pd.Timestamp("1995-03-18T13:00", tz="US/Eastern")), _sao_with_distractors()), either=True)
case("time-bg-noleap-obs-datetime", T, "noleap background 1995-03-18T18 with real-calendar reports (same date exists in both)",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_tas().assign_coords(time=__import__("cftime").DatetimeNoLeap(1995, 3, 18, 18)), _sao_with_distractors()))
case("time-noleap-selects-other-date", T, "noleap background dated 1995-03-24T18 with reports of 1995-03-18T18: none is in its window",
     lambda b, o: oi_t(b, o, window="2h"), ERROR,
     inputs=lambda: (bg_tas().assign_coords(time=__import__("cftime").DatetimeNoLeap(1995, 3, 24, 18)), _sao_with_distractors()),
     names=("window|calendar",))
case("time-bg-360day-obs-datetime", T, "360_day background 1995-03-18T18 with real-calendar reports",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_tas().assign_coords(time=__import__("cftime").Datetime360Day(1995, 3, 18, 18)), _sao_with_distractors()))
case("time-bg-numeric-no-units", T, "background time=18.0 without units", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign_coords(time=18.0), _sao_with_distractors()), names=("time",))
case("time-bg-nat", T, "background time NaT", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign_coords(time=np.datetime64("NaT", "ns")), _sao_with_distractors()), names=("time|NaT",), either=True)
case("time-obs-iso-strings", T, "obs times as ISO strings with 'Z'", lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors().pipe(lambda s: s.assign_coords(
         time=("obs", [pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ") for t in s.time.values])))))
case("time-obs-offset-strings", T, "obs times as strings with a +05:00 offset", lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors().pipe(lambda s: s.assign_coords(
         time=("obs", [(pd.Timestamp(t, tz="UTC").tz_convert("Asia/Karachi")).isoformat() for t in s.time.values])))))
case("time-table-tz-aware-column", T, "station table with a tz-aware (America/Chicago) time column",
     lambda b, o: oi_t(b, o, window="2h"), _count_at_18, inputs=lambda: (bg_sao_time(), _sao_table(tz="America/Chicago")))
case("time-table-naive-column", T, "station table with naive (UTC) datetimes", lambda b, o: oi_t(b, o, window="2h"), _count_at_18,
     inputs=lambda: (bg_sao_time(), _sao_table()))


def _sao_table(tz=None, n=40):
    s = _sao_with_distractors()
    df = pd.DataFrame({"lat": s.lat.values, "lon": s.lon.values, "tas": s["T"].values.astype(float),
                       "time": pd.to_datetime(s.time.values)})
    if tz:
        df["time"] = df["time"].dt.tz_localize("UTC").dt.tz_convert(tz)
    df.attrs["units"] = {"tas": "degC"}
    return df


case("time-obs-some-nat", T, "5 of 40 obs with NaT times: dropped and counted", lambda b, o: oi_t(b, o, window="2h"),
     lambda r, *_: (r.tas.attrs["xda_n_obs"] + r.tas.attrs.get("xda_n_obs_duplicate", 0) + r.tas.attrs["xda_n_obs_rejected"] == 35, str(
         {k: v for k, v in r.tas.attrs.items() if k.startswith("xda_n_obs")})),
     inputs=lambda: (bg_sao_time(), sao(18, 40).pipe(lambda s: s.assign_coords(time=s.time.where(s.obs >= s.obs[5])))))
case("time-obs-all-outside", T, "all reports 6 h before the background time, window 2h", lambda b, o: oi_t(b, o, window="2h"), ERROR,
     inputs=lambda: (bg_sao_time(), sao(12, 40)), names=("window",))
case("time-window-int", T, "window=6 (a bare number: 6 ns to pandas, 6 h meant)", lambda b, o: oi_t(b, o, window=6), ERROR,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()), names=("window",))
case("time-window-float-hours", T, "window=2.0 (float)", lambda b, o: oi_t(b, o, window=2.0), ERROR,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()), names=("window",))
case("time-window-timedelta", T, "window=datetime.timedelta(hours=2)", lambda b, o: oi_t(b, o, window=dt.timedelta(hours=2)),
     _count_at_18, inputs=lambda: (bg_sao_time(), _sao_with_distractors()))
case("time-window-numpy", T, "window=np.timedelta64(2, 'h')", lambda b, o: oi_t(b, o, window=np.timedelta64(2, "h")),
     _count_at_18, inputs=lambda: (bg_sao_time(), _sao_with_distractors()))
case("time-window-iso8601", T, "window='PT2H' (ISO 8601)", lambda b, o: oi_t(b, o, window="PT2H"), _count_at_18,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()))
case("time-window-2-hours-words", T, "window='2 hours'", lambda b, o: oi_t(b, o, window="2 hours"), _count_at_18,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()))
case("time-window-string-number", T, "window='6' (text without units)", lambda b, o: oi_t(b, o, window="6"), ERROR,
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()), names=("window",))
case("time-window-huge", T, "window='1000 days' keeps both report times", lambda b, o: oi_t(b, o, window="1000 days", qc=None),
     lambda r, *_: (r.tas.attrs["xda_n_obs"] + r.tas.attrs.get("xda_n_obs_duplicate", 0) == 80, f"n_obs={r.tas.attrs['xda_n_obs']}"),
     inputs=lambda: (bg_sao_time(), _sao_with_distractors()))
case("time-bg-untimed-obs-span-long", T, "untimed background, reports spanning 6 h, window 2h", lambda b, o: oi_t(b, o, window="2h"),
     ERROR, inputs=lambda: (bg_tas(), _sao_with_distractors()), names=("window|time",))
case("time-bg-time-dim-2", T, "background with a time dimension (12 and 18 UTC): each time gets its own reports",
     lambda b, o: oi_t(b, o, window="2h"), lambda r, *_: (r.sizes.get("time") == 2, f"sizes {dict(r.sizes)}"),
     inputs=lambda: (xr.concat([bg_tas().assign_coords(time=np.datetime64("1995-03-18T12:00", "ns")),
                                bg_tas().assign_coords(time=np.datetime64("1995-03-18T18:00", "ns"))], "time"), _sao_with_distractors()))
case("time-bg-time-dim-duplicate", T, "background with a repeated time along its time dimension: two equal analyses or an error",
     lambda b, o: oi_t(b, o, window="2h"), lambda r, *_: close(r.tas.isel(time=0), r.tas.isel(time=1), atol=0), either=True,
     inputs=lambda: (xr.concat([bg_sao_time(), bg_sao_time()], "time"), _sao_with_distractors()), names=("time",))
case("time-bg-time-dim-nat", T, "background time dimension holding a NaT", lambda b, o: oi_t(b, o, window="2h"), ERROR,
     inputs=lambda: (xr.concat([bg_sao_time(), bg_tas().assign_coords(time=np.datetime64("NaT", "ns"))], "time"), _sao_with_distractors()),
     names=("time|NaT",))
case("time-obs-int-column-no-units", T, "table with a 'time' column of integer hours (18)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_sao_time(), _sao_table().assign(time=18)), names=("time",))
case("time-residual-tz-aware-times", T, "residual with a tz-aware pandas time index equals the naive one",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5), lambda r, c, u, v: close(
         r, xda.advection_diffusion_residual(*(a.assign_coords(time=storm("t").time) for a in (c, u, v)), 1e5), atol=1e-12),
     inputs=lambda: tuple(a.assign_coords(time=pd.DatetimeIndex(storm("t").time.values).tz_localize("UTC")) for a in
                          (storm("t"), storm("u"), storm("v"))), either=True)
case("time-residual-string-times", T, "residual with ISO-string times equals datetime64 times",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5), lambda r, c, u, v: close(
         r, xda.advection_diffusion_residual(storm("t"), storm("u"), storm("v"), 1e5), atol=1e-12),
     inputs=lambda: tuple(a.assign_coords(time=[str(t)[:19] for t in storm("t").time.values]) for a in
                          (storm("t"), storm("u"), storm("v"))))
case("time-residual-winds-other-times", T, "residual with winds at other times than the field",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5), ERROR,
     inputs=lambda: (storm("t"), storm("u", slice(2, 6)), storm("v", slice(2, 6))), names=("time|grid|coordinates",))
case("time-residual-no-time-dim", T, "residual of a single-time field (time selected away)",
     lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5), ERROR,
     inputs=lambda: (storm("t").isel(time=0), storm("u").isel(time=0), storm("v").isel(time=0)), names=("time",))

# ============================================================================ 5. NaN / inf

N = "nan-inf"
case("nan-bg-inf", N, "background with an inf", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.where(~((d.lat == d.lat[3]) & (d.lon == d.lon[3])), np.inf)), stations()),
     names=("tas",))
case("nan-obs-all", N, "all obs NaN", lambda b, o: oi_t(b, o), ERROR, inputs=lambda: (bg_tas(), stations() * np.nan), names=("tas",))
case("nan-obs-some", N, "4 NaN obs values are dropped and counted as missing", lambda b, o: oi_t(b, o),
     lambda r, *_: (r.tas.attrs["xda_n_obs"] == 36 and r.tas.attrs["xda_n_obs_missing"] == 4, f"{r.tas.attrs['xda_n_obs']}"),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.where(d.obs >= 4))))
case("nan-obs-minus-inf", N, "an obs -inf is dropped", lambda b, o: oi_t(b, o), n_obs(39),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.where(d.obs != 7, -np.inf))))
case("nan-obs-error-inf-column", N, "an inf in the tas_error column", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.r_[np.inf, np.ones(39)]))), names=("tas",))
case("nan-obs-error-negative-column", N, "a negative value in the tas_error column", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.r_[-1.0, np.ones(39)]))), names=("tas",))
case("nan-obs-error-nan-for-nan-obs", N, "NaN error only where the obs itself is NaN: fine", lambda b, o: oi_t(b, o), n_obs(39),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.where(d.obs != 0), tas_error=("obs", np.r_[np.nan, np.ones(39)]))))
case("nan-laplacian-local", N, "laplacian of a field with one NaN: NaN only around it",
     lambda c: xda.laplacian(c), lambda r, c: (int(np.isnan(r.values[1:-1, 1:-1]).sum()) <= 5,
                                              f"NaN interior points {int(np.isnan(r.values[1:-1, 1:-1]).sum())}"),
     inputs=lambda: (tas_na().where(lambda d: ~((d.lat == d.lat[8]) & (d.lon == d.lon[8]))),))
case("nan-advection-wind", N, "advection with a NaN wind at one point: NaN there only",
     lambda c, u, v: xda.advection(c, u, v), lambda r, *_: (int(np.isnan(r.values).sum()) == 1, f"NaN points {int(np.isnan(r.values).sum())}"),
     inputs=lambda: (smooth_field(), winds(smooth_field())[0].where(lambda d: ~((d.lat == d.lat[4]) & (d.lon == d.lon[4]))),
                     winds(smooth_field())[1]))
case("nan-gradient-inf", N, "gradient of a field with an inf: non-finite only next to it",
     lambda c: xda.gradient(c)[0], lambda r, c: (int((~np.isfinite(r.values)).sum()) <= 3, f"non-finite {int((~np.isfinite(r.values)).sum())}"),
     inputs=lambda: (smooth_field().where(lambda d: ~((d.lat == d.lat[4]) & (d.lon == d.lon[4])), np.inf),))
case("nan-downscale-inf", N, "downscale a field with an inf", lambda c: xda.downscale(c, 2, method="bicubic"), ERROR,
     inputs=lambda: (coarse().where(lambda d: ~((d.lat == d.lat[1]) & (d.lon == d.lon[1])), np.inf),), names=("tas|inf",))
case("nan-downscale-orography-nan", N, "orography with NaN (ocean masked)", lambda c, o: xda.downscale(c, 2, method="lapse_rate", orography=o),
     ERROR, either=True, inputs=lambda: (coarse(), _orog_fine(2).where(lambda h: h > 0)), names=("orograph",))
case("nan-rmse-all-nan", N, "rmse of an all-NaN field is NaN", lambda a, b: xda.metrics.rmse(a, b),
     lambda r, *_: (bool(np.isnan(float(r))), f"rmse={float(r)}"), inputs=lambda: (tas_na() * np.nan, tas_na()))
case("nan-crps-nan-member", N, "crps with one NaN member value: finite elsewhere",
     lambda e, t: xda.metrics.crps(e, t, dim=[]), lambda r, *_: (int(np.isnan(r.values).sum()) <= 1, f"NaN {int(np.isnan(r.values).sum())}"),
     inputs=lambda: ((tas_na() + xr.DataArray([0.0, 1.0, 2.0], dims="member")).pipe(
         lambda e: e.where(~((e.member == 1) & (e.lat == e.lat[2]) & (e.lon == e.lon[2])))), tas_na()))
case("nan-from-pairs-nan-point", N, "B from pairs with a NaN at one grid point in one sample, then OI: finite analysis",
     lambda bgs, tr, b, o: xda.assimilate(b, o, method="oi", background_error=BackgroundError.from_pairs(bgs, tr)),
     lambda r, *_: finite(r["z500"]), either=True,
     inputs=lambda: (_pairs()[0].where(lambda d: ~((d.time == d.time[0]) & (d.lat == 40) & (d.lon == 100))), _pairs()[1], z_bg(), z_obs()))
case("nan-from-pairs-zero-error", N, "B from pairs where backgrounds equal truths (zero error)",
     lambda bgs, tr: BackgroundError.from_pairs(bgs, tr), ERROR, inputs=lambda: (_pairs()[1], _pairs()[1]), names=("zero|0|perfect|identical",))
case("nan-from-ensemble-no-spread", N, "B from an ensemble of identical members (zero spread)",
     lambda m: BackgroundError.from_ensemble(m), ERROR, inputs=lambda: (_z500()[0].expand_dims(member=4).copy(),),
     names=("spread|zero|identical",))


@functools.cache
def _pairs_c():
    z = _raw("ncep_z500_global")["z500"]
    truths = z.isel(time=slice(0, 10))
    clim = z.mean("time").assign_attrs(z.attrs)
    return clim.broadcast_like(truths).assign_attrs(z.attrs), truths


def _pairs():
    return tuple(x.copy(deep=True) for x in _pairs_c())


# ============================================================================ 6. gross errors, empty and degenerate observations

O = "observations"
case("obs-gross-1e30", O, "one report -1e30 K: rejected, the rest used", lambda b, o: oi_t(b, o),
     lambda r, *_: (r.tas.attrs["xda_n_obs_rejected"] == 1 and finite(r)[0], f"rejected {r.tas.attrs['xda_n_obs_rejected']}"),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.where(d.obs != 3, -1e30))))
case("obs-gross-half", O, "20 of 40 reports +50 K: a clear error or the 20 rejected", lambda b, o: oi_t(b, o),
     lambda r, *_: (r.tas.attrs["xda_n_obs_rejected"] == 20, f"rejected {r.tas.attrs['xda_n_obs_rejected']}"),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas + 50.0 * (d.obs % 2))), either=True)
case("obs-huge-error-column", O, "obs with error 1e30: analysis = background",
     lambda b, o: oi_t(b, o), lambda r, b, o: close(r["tas"], b["tas"], atol=1e-3),
     inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.full(40, 1e30)))))
case("obs-tiny-error-column", O, "obs with error 1e-6 K: the analysis fits them (finite)",
     lambda b, o: oi_t(b, o, qc=None), lambda r, *_: finite(r), inputs=lambda: (bg_tas(), stations().assign(tas_error=("obs", np.full(40, 1e-6)))))
case("obs-equal-background", O, "obs exactly equal to the background (zero innovations), 120 of them, tuned B",
     lambda b, o: xda.assimilate(b, o, method="oi"), lambda r, b, o: close(r["tas"], b["tas"], atol=1e-3),
     inputs=lambda: (bg_tas(), _obs_equal_bg(120)))
case("obs-constant-bias-tuned", O, "120 obs all 3 K above the background, tuned B: analysis finite and warmer",
     lambda b, o: xda.assimilate(b, o, method="oi"), lambda r, b, o: (finite(r)[0] and float((r.tas - b.tas).mean()) > 0.5,
                                                                     f"mean increment {float((r.tas - b.tas).mean()):.3g}"),
     inputs=lambda: (bg_tas(), _obs_equal_bg(120).assign(tas=lambda d: d.tas + 3.0)))


def _obs_equal_bg(n):
    lat, lon, _ = _stations(n, 9)
    v = tas_na().interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values
    return points(lat, lon, v)


case("obs-one-location-many", O, "300 reports at one location (noisy): finite analysis, no crash",
     lambda b, o: oi_t(b, o), lambda r, *_: finite(r),
     inputs=lambda: (bg_tas(), points(np.full(300, 40.1), np.full(300, 260.3), 280 + np.random.default_rng(2).normal(0, 1, 300))))
case("obs-three-tuned", O, "3 obs with background_error='tuned'", lambda b, o: xda.assimilate(b, o, method="oi", background_error="tuned"),
     lambda r, *_: finite(r), inputs=lambda: (bg_tas(), stations(3)), either=True)
case("obs-unknown-var-few-obs", O, "a variable no card knows (specific humidity, kg/kg) with 5 obs and given error",
     lambda b, o: xda.assimilate(b, o, method="oi", obs_error={"q": 1e-4}), lambda r, *_: finite(r["q"]), either=True,
     inputs=lambda: (bg_tas().assign(q=(("lat", "lon"), np.full((21, 38), 5e-3), {"units": "kg/kg"})).drop_vars("tas"),
                     points([30, 45, 40, 35, 50], [250, 240, 280, 260, 270], [6e-3, 5e-3, 4e-3, 5.5e-3, 5e-3], units="kg/kg", name="q")))
case("obs-transect-points", O, "6 point obs along a straight, evenly spaced transect (a ship or aircraft track)",
     lambda b, o: oi_t(b, o), n_obs(6), inputs=lambda: (bg_tas(), points(30 + 2.0 * np.arange(6), 250 + 3.0 * np.arange(6),
                                                                          tas_na().interp(lat=xr.DataArray(30 + 2.0 * np.arange(6), dims="obs"),
                                                                                          lon=xr.DataArray(250 + 3.0 * np.arange(6), dims="obs")).values + 0.5)))
case("obs-bias-innovations-B", O, "120 obs 3 K above the background (+1 K noise), background_error='innovations': the 3 K is analysed",
     lambda b, o: xda.assimilate(b, o, method="oi", background_error="innovations"),
     lambda r, b, o: (float((r.tas - b.tas).mean()) > 1.5, f"mean increment {float((r.tas - b.tas).mean()):.3g} K; B: {r.tas.attrs['xda_background_error'][:60]}"),
     inputs=lambda: (bg_tas(), _obs_equal_bg(120).assign(tas=lambda d: d.tas + 3.0 + np.random.default_rng(4).normal(0, 1, 120))))
case("obs-empty-dataframe", O, "an empty station table (columns, no rows)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().iloc[:0]), names=("tas",))
case("obs-empty-dataframe-no-columns", O, "pd.DataFrame()", lambda b, o: oi_t(b, o), ERROR, inputs=lambda: (bg_tas(), pd.DataFrame()))
case("obs-dataset-no-vars", O, "an empty xr.Dataset()", lambda b, o: oi_t(b, o), ERROR, inputs=lambda: (bg_tas(), xr.Dataset()))
case("obs-numpy-array", O, "obs a numpy array", lambda b: oi_t(b, np.ones(40)), ERROR, inputs=lambda: (bg_tas(),), names=("ndarray",))
case("obs-dict", O, "obs a dict of columns", lambda b: oi_t(b, {"lat": [40.0], "lon": [260.0], "tas": [280.0]}), ERROR,
     inputs=lambda: (bg_tas(),), names=("dict",))
case("obs-series", O, "obs a pandas Series", lambda b: oi_t(b, pd.Series([280.0])), ERROR, inputs=lambda: (bg_tas(),))
case("obs-none", O, "obs=None", lambda b: xda.assimilate(b, None, method="oi"), ERROR, inputs=lambda: (bg_tas(),))
case("obs-dataarray-unnamed-points", O, "an unnamed point DataArray for a one-variable background",
     lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas(), stations().tas.rename(None)))
case("obs-dataarray-unnamed-two-vars", O, "an unnamed DataArray for a two-variable background", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas2=bg_tas().tas), stations().tas.rename(None)), names=("name",))
case("obs-gridded-with-level-dim", O, "gridded obs with an extra 'level' dimension of size 2", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     ERROR, inputs=lambda: (z_bg(), z_obs().expand_dims(level=[500, 850])), names=("level|dims",))
case("obs-gridded-all-nan", O, "gridded obs all NaN", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ), ERROR,
     inputs=lambda: (z_bg(), z_obs() * np.nan), names=("z500",))
case("obs-swapped-args", O, "assimilate(stations, background): arguments swapped", lambda o, b: oi_t(o, b), ERROR,
     inputs=lambda: (stations(), bg_tas()), names=("point|station|not a grid|not on a grid|regular",))
case("obs-bool-gridded", O, "gridded obs of booleans", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ), ERROR,
     inputs=lambda: (z_bg(), (z_obs() > 5500).assign_attrs(units="m")), names=("z500|bool",))
case("obs-duplicates-with-time", O, "the same report twice with the same time: used once with a warning",
     lambda b, o: oi_t(b, o, window="2h"), lambda r, *_: (r.tas.attrs.get("xda_n_obs_duplicate") == 1, str(r.tas.attrs.get("xda_n_obs_duplicate"))),
     inputs=lambda: (bg_sao_time(), _timed_stations().pipe(lambda s: xr.concat([s, s.isel(obs=[0])], "obs"))), warn="repeat")


def _timed_stations():
    return stations().assign_coords(time=("obs", np.datetime64("1995-03-18T18:00", "ns") + np.arange(40) * np.timedelta64(1, "m")))



case("obs-space-no-obs", O, "obs_space=True with every obs outside the grid", lambda b, o: oi_t(b, o, obs_space=True), ERROR,
     inputs=lambda: (bg_tas(), stations().assign_coords(lat=stations().lat - 80)))
case("obs-space-table-roundtrip", O, "the obs-space table of one analysis passed back as obs gives the same analysis",
     lambda b, o: oi_t(b, oi_t(b, o, obs_space=True)[1]), lambda r, *_: close(r, ref_oi_t(), atol=1e-3),
     inputs=lambda: (bg_tas(), stations()))

# ============================================================================ 7. station tables

S = "station-tables"
case("table-basic", S, "a wide station table with units in attrs", lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas(), table()))
case("table-no-lat", S, "station table without a lat column", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().drop(columns="lat")), names=("lat",))
case("table-lng-column", S, "station table with 'lng' for longitude", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().rename(columns={"lon": "lng"})), names=("lon",))
case("table-Latitude-Longitude", S, "station table with 'Latitude'/'Longitude' columns", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), table().rename(columns={"lat": "Latitude", "lon": "Longitude"})))
case("table-latlon-in-index", S, "station table with lat/lon in the index (ds.to_dataframe())", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), table().set_index(["lat", "lon"]).pipe(lambda d: (d.attrs.update(units={"tas": "K"}), d)[1])),
     either=True, names=("lat",))
case("table-numbers-as-strings-latlon", S, "lat/lon columns holding numeric strings ('40.1')", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), table().assign(lat=lambda d: d.lat.map(repr), lon=lambda d: d.lon.map(repr))))
case("table-units-missing", S, "station table without attrs['units']", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().pipe(lambda d: (d.attrs.clear(), d)[1])), names=("units",))
case("table-units-a-string", S, "df.attrs['units'] = 'K' (a string, not a dict)", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().pipe(lambda d: (d.attrs.update(units="K"), d)[1])), names=("units",), either=True)
case("table-units-degC", S, "station table with units degC", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), table().assign(tas=lambda d: d.tas - 273.15).pipe(lambda d: (d.attrs.update(units={"tas": "degC"}), d)[1])))
case("table-nullable-float-NA", S, "pandas nullable Float64 column with pd.NA", lambda b, o: oi_t(b, o), n_obs(39),
     inputs=lambda: (bg_tas(), table().assign(tas=lambda d: pd.array([pd.NA, *d.tas.iloc[1:]], dtype="Float64"))))
case("table-object-None", S, "object column with None for a missing value", lambda b, o: oi_t(b, o), n_obs(39),
     inputs=lambda: (bg_tas(), table().assign(tas=lambda d: pd.Series([None, *d.tas.iloc[1:]], dtype=object))))
case("table-decimal-comma", S, "European decimal commas in the values ('280,5')", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().assign(tas=lambda d: d.tas.map(lambda x: f"{x:.2f}".replace(".", ",")))), names=("tas",))
case("table-uppercase-column", S, "a 'TAS' column for a 'tas' background", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table().rename(columns={"tas": "TAS"}).pipe(lambda d: (d.attrs.update(units={"TAS": "K"}), d)[1])),
     either=True, names=("tas",))
case("table-duplicate-columns", S, "a table with two 'tas' columns", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), pd.concat([table(), table()[["tas"]]], axis=1).pipe(lambda d: (d.attrs.update(units={"tas": "K"}), d)[1])),
     names=("tas",))
case("table-error-column-text", S, "a tas_error column of text", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), table(tas_error="one")), names=("tas_error",))
case("table-long-mixed-units", S, "long table with units K and degC for one variable", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), _long(units=["K"] * 20 + ["degC"] * 20)), names=("units",))
case("table-long-basic", S, "a long table (variable, observation, lat, lon, units)", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas(), _long(units=["K"] * 40)))
case("table-long-unknown-variable", S, "long table whose variable is 'tass'", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas(), _long(units=["K"] * 40).assign(variable="tass")), names=("tas",))


def _long(units):
    t = table()
    df = pd.DataFrame({"variable": "tas", "observation": t.tas, "lat": t.lat, "lon": t.lon, "units": units})
    if "degC" in units:
        df.loc[df.units == "degC", "observation"] -= 273.15
    return df


case("table-sao-real-degC", S, "the real SAO reports (degC, times) as a table at 18 UTC", lambda b, o: oi_t(b, o, window="1h"),
     lambda r, *_: finite(r), inputs=lambda: (bg_sao_time(), _sao_table()))

# ============================================================================ 8. parameter domains

P = "parameters"
case("param-members-string", P, "members='2'", lambda b, o: xda.assimilate(b, o, members="2"), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("members",))
case("param-members-none", P, "members=None", lambda b, o: xda.assimilate(b, o, members=None), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("members",))
case("param-members-float-1", P, "members=1.0 (integral float)", lambda b, o: oi_t(b, o, members=1.0), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations()), either=True)
case("param-steps-bool", P, "steps=True", lambda b, o: xda.assimilate(b, o, steps=True, members=2), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("steps",))
case("param-seed-huge", P, "seed=2**70 with members=2 (xda)", lambda b, o: xda.assimilate(b, o, seed=2**70, members=2, steps=2),
     lambda r, *_: (r.sizes.get("member") == 2 and finite(r["tas"])[0], str(dict(r.sizes))), inputs=lambda: (bg_tas(), stations()),
     either=True, names=("seed",))
case("param-seed-numpy-uint64", P, "seed=np.uint64(7) (oi)", lambda b, o: oi_t(b, o, seed=np.uint64(7)), same_as_ref_t(),
     inputs=lambda: (bg_tas(), stations()))
case("param-seed-string", P, "seed='0'", lambda b, o: oi_t(b, o, seed="0"), ERROR, inputs=lambda: (bg_tas(), stations()), names=("seed",))
case("param-qc-string", P, "qc='5'", lambda b, o: oi_t(b, o, qc="5"), ERROR, inputs=lambda: (bg_tas(), stations()), names=("qc",))
case("param-qc-inf", P, "qc=inf", lambda b, o: oi_t(b, o, qc=float("inf")), ERROR, inputs=lambda: (bg_tas(), stations()), names=("qc",),
     either=True)
case("param-qc-tiny", P, "qc=1e-9 rejects everything", lambda b, o: oi_t(b, o, qc=1e-9), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("qc",))
case("param-method-uppercase", P, "method='OI'", lambda b, o: xda.assimilate(b, o, method="OI"), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("oi",))
case("param-verify-string", P, "verify='no' (a string, truthy)", lambda b, o: xda.assimilate(b, o, verify="no"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("verify",))
case("param-obs-space-string", P, "obs_space='false' (a string, truthy)", lambda b, o: oi_t(b, o, obs_space="false"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("obs_space",))
case("param-latent-opt-string", P, "latent_optimization='yes'", lambda b, o: xda.assimilate(b, o, latent_optimization="yes"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("latent_optimization",))
case("param-latent-opt-non-latent-model", P, "latent_optimization=True with the default (non-latent) model",
     lambda b, o: xda.assimilate(b, o, latent_optimization=True), ERROR, inputs=lambda: (bg_tas(), stations()), names=("latent",))
case("param-variables-list", P, "variables=['tas'] (a list, not a dict)", lambda b, o: oi_t(b, o, variables=["tas"]), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("variables",))
case("param-variables-string", P, "variables='tas' (a string)", lambda b, o: oi_t(b, o, variables="tas"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("variables",))
case("param-variables-unknown-key", P, "variables={'tass': 'tas'}: a key that is not a background variable",
     lambda b, o: oi_t(b, o, variables={"tass": "tas"}), same_as_ref_t(), inputs=lambda: (bg_tas(), stations()), names=("tass",), either=True)
case("param-variables-wrong-physics", P, "variables={'tas': 'z500'}: a temperature mapped to the height model variable",
     lambda b, o: xda.assimilate(b, o, variables={"tas": "z500"}), ERROR, inputs=lambda: (bg_tas(), stations()), names=("tas|z500",))
case("param-obs-error-dict-none", P, "obs_error={'tas': None} uses the default", lambda b, o: oi_t(b, o, obs_error={"tas": None}),
     same_as_ref_t(), inputs=lambda: (bg_tas(), stations()))
case("param-obs-error-negative-string", P, "obs_error='-1 K'", lambda b, o: oi_t(b, o, obs_error="-1 K"), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("tas|error",))
case("param-background-error-dict-unknown", P, "background_error={'tass': B} (typo): B must not be dropped in silence",
     lambda b, o: oi_t(b, o, background_error={"tass": BT}), same_as_ref_t(), inputs=lambda: (bg_tas(), stations()), names=("tass",),
     either=True)
case("param-B-length-in-km", P, "BackgroundError.constant(2, 500) (500 m meant as km): suspicious, deserves a warning",
     lambda b, o: oi_t(b, o, background_error=BackgroundError.constant(2.0, 500.0)), lambda r, *_: finite(r),
     inputs=lambda: (bg_tas(), stations()), warn=r"length|km|metre|spacing", either=True)
case("param-B-sigma-string-units", P, "BackgroundError.constant('2 K', 5e5)", lambda: BackgroundError.constant("2 K", 5e5), ERROR,
     names=("sigma",), either=True)
case("param-B-length-string-units", P, "BackgroundError.constant(2, '500 km')", lambda: BackgroundError.constant(2.0, "500 km"),
     lambda r: (abs(r.length_scale - 5e5) < 1, f"L={r.length_scale}"), either=True, names=("length",))
case("param-from-pairs-dim-typo", P, "from_pairs(dim='times')", lambda b, t: BackgroundError.from_pairs(b, t, dim="times"), ERROR,
     inputs=lambda: _pairs(), names=("times",))
case("param-from-pairs-degC-truth", P, "from_pairs(backgrounds in K, truths in degC): the errors are in K, not ~273",
     lambda b, t: BackgroundError.from_pairs(b, t), lambda r, b, t: (float(np.max(r.sigma)) < 200, f"max sigma {float(np.max(r.sigma)):.4g}"),
     inputs=lambda: (_tas_pairs()[0], (_tas_pairs()[1] - 273.15).assign_attrs(units="degC")), either=True, names=("units",))
case("param-from-pairs-regional-B-global-bg", P, "B from regional pairs used for a global background: finite analysis or a clear error",
     lambda bgs, tr, b, o: xda.assimilate(b, o, method="oi", background_error=BackgroundError.from_pairs(bgs, tr)),
     lambda r, *_: finite(r["z500"]), either=True,
     inputs=lambda: (_pairs()[0].sel(lat=slice(20, 60), lon=slice(200, 300)), _pairs()[1].sel(lat=slice(20, 60), lon=slice(200, 300)),
                     z_bg(), z_obs()))


@functools.cache
def _tas_pairs_c():
    t = _raw("esm_tas")["tas"].sel(lat=slice(20, 60), lon=slice(230, 300))
    clim = t.mean("time").assign_attrs(t.attrs)
    return clim.broadcast_like(t).assign_attrs(t.attrs), t


def _tas_pairs():
    return tuple(x.copy(deep=True) for x in _tas_pairs_c())


case("param-downscale-factor-float", P, "downscale factor=2.0 (integral float)", lambda c: xda.downscale(c, 2.0, method="bicubic"),
     lambda r, c: close(r, xda.downscale(c, 2, method="bicubic"), atol=0), inputs=lambda: (coarse(),), either=True)
case("param-downscale-factor-string", P, "downscale factor='4'", lambda c: xda.downscale(c, "4", method="bicubic"), ERROR,
     inputs=lambda: (coarse(),), names=("factor",))
case("param-downscale-factor-1", P, "downscale factor=1", lambda c: xda.downscale(c, 1, method="bicubic"), ERROR, inputs=lambda: (coarse(),),
     names=("factor",), either=True)
case("param-downscale-factor-5-learned", P, "method='regression' with factor=5 (trained for 2-4)",
     lambda c: xda.downscale(c, 5, method="regression"), ERROR, inputs=lambda: (coarse(),), names=("factor|5",))
case("param-downscale-members-regression", P, "method='regression', members=2", lambda c: xda.downscale(c, 2, method="regression", members=2),
     ERROR, inputs=lambda: (coarse(),), names=("members",))
case("param-downscale-variable-wind", P, "variable='uas' pointing at a wind", lambda d: xda.downscale(d, 2, method="bicubic", variable="uas"),
     ERROR, inputs=lambda: (_tas_uas(),), names=("uas",))
case("param-downscale-two-temperatures", P, "a Dataset with two air temperatures (tas and ts)",
     lambda d: xda.downscale(d, 2, method="bicubic"), ERROR, inputs=lambda: (_tas_uas().assign(ts=lambda d: d.tas + 1),), names=("tas|ts",))
case("param-lapse-rate-string-no-units", P, "lapse_rate='-6.5' (text)", lambda c: xda.downscale(c, 2, method="lapse_rate", lapse_rate="-6.5"),
     lambda r, c: close(r, xda.downscale(c, 2, method="lapse_rate", lapse_rate=-6.5), atol=1e-4), inputs=lambda: (coarse(),), either=True,
     names=("lapse_rate",))
case("param-lapse-rate-inf", P, "lapse_rate=-inf", lambda c: xda.downscale(c, 2, method="lapse_rate", lapse_rate=-np.inf), ERROR,
     inputs=lambda: (coarse(),), names=("lapse_rate",))
case("param-lapse-rate-bicubic-ignored", P, "lapse_rate=-6.5 with method='bicubic' (ignored)",
     lambda c: xda.downscale(c, 2, method="bicubic", lapse_rate=-6.5), lambda r, c: close(r, xda.downscale(c, 2, method="bicubic"), atol=0),
     inputs=lambda: (coarse(),), either=True)
case("param-kappa-list", P, "kappa=[1e5] (a list)", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, [1e5]), ERROR,
     inputs=lambda: (storm("t"), storm("u"), storm("v")), names=("kappa",))
case("param-kappa-numpy-float32", P, "kappa=np.float32(1e5)", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, np.float32(1e5)),
     lambda r, c, u, v: close(r, xda.advection_diffusion_residual(c, u, v, 1e5), atol=1e-12), inputs=lambda: (storm("t"), storm("u"), storm("v")))
case("param-kappa-dataarray", P, "kappa=xr.DataArray(1e5) (0-d)", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, xr.DataArray(1e5)),
     lambda r, c, u, v: close(r, xda.advection_diffusion_residual(c, u, v, 1e5), atol=1e-12), inputs=lambda: (storm("t"), storm("u"), storm("v")),
     either=True)
case("param-min-lat-string", P, "geostrophic_residual min_lat='20'", lambda z, u, v: xda.geostrophic_residual(z, u, v, min_lat="20"), ERROR,
     inputs=lambda: (smooth_field(units="m"), *winds(smooth_field())), names=("min_lat",), either=True)
case("param-laplacian-out-wrong-shape", P, "laplacian(out=) an array of the wrong shape", lambda c: xda.laplacian(c, out=np.empty((3, 3))), ERROR,
     inputs=lambda: (tas_na(),), names=("out",))
case("param-laplacian-out-wrong-dtype", P, "laplacian(out=) an int array", lambda c: xda.laplacian(c, out=np.empty(c.shape, np.int64)), ERROR,
     inputs=lambda: (tas_na(),), names=("out",), either=True)
case("param-laplacian-unknown-kw", P, "laplacian(c, kappa=1) (an argument it does not take)", lambda c: xda.laplacian(c, kappa=1), ERROR,
     inputs=lambda: (tas_na(),), signature=True)
case("param-iso-nbins-float", P, "isotropic_power_spectrum(nbins=5.5)", lambda c: xda.isotropic_power_spectrum(c, nbins=5.5), ERROR,
     inputs=lambda: (tas_na(),), names=("nbins",))
case("param-ssim-sigma-huge", P, "ssim(sigma=1e6)", lambda a, b: xda.metrics.ssim(a, b, sigma=1e6), lambda r, *_: finite(r),
     inputs=lambda: (tas_na(), tas_na() + 1), either=True)


def _tas_uas():
    t = coarse()
    return xr.Dataset({"tas": t, "uas": (t * 0 + 3).assign_attrs(units="m/s", standard_name="eastward_wind"),
                       "vas": (t * 0 - 1).assign_attrs(units="m/s", standard_name="northward_wind")})


# ============================================================================ 9. models and weight files

M = "models"


def _weights_copy(tamper=None, name="hs-t42-v2") -> str:
    """A temp XDA_WEIGHTS_DIR holding copies of ``name``'s card and weights, with ``tamper(card_path, weights_path)``."""
    d = Path(tempfile.mkdtemp(prefix="w_", dir=TMP))
    for suf in (".json", ".safetensors"):
        shutil.copy(ROOT / "xda" / "weights" / (name + suf), d / (name + suf))
    if tamper:
        tamper(d / (name + ".json"), d / (name + ".safetensors"))
    return str(d)


def _edit_card(fn):
    def tamper(card, weights):
        data = json.loads(card.read_text())
        fn(data)
        card.write_text(json.dumps(data, indent=1))
    return tamper


case("model-empty-name", M, "load_model('') (the default model, or an error)", lambda: xda.load_model(""), lambda r: (True, "the default model"),
     either=True)
case("model-number", M, "load_model(42)", lambda: xda.load_model(42), ERROR, names=("42",))
case("model-name-with-suffix", M, "load_model('hs-t42-v2.safetensors') (name plus suffix, not a path)",
     lambda: xda.load_model("hs-t42-v2.safetensors"), lambda r: isinstance(r, tuple), either=True, names=("hs-t42-v2",))
case("model-name-case", M, "load_model('HS-T42-V2')", lambda: xda.load_model("HS-T42-V2"), ERROR, names=("HS-T42-V2",))
case("model-pathlib-card", M, "load_model(pathlib.Path to the card)", lambda: xda.load_model(ROOT / "xda" / "weights" / "hs-t42-v2.json"),
     lambda r: isinstance(r, tuple) and r[1].get("kind") == "assimilation")
case("model-missing-path", M, "model='/tmp/none/model.safetensors'", lambda b, o: xda.assimilate(b, o, model=str(TMP / "none" / "m.safetensors")),
     ERROR, inputs=lambda: (bg_tas(), stations()), names=("m.safetensors|m.json",))
case("model-none", M, "assimilate(model=None)", lambda b, o: xda.assimilate(b, o, model=None), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("model",), either=True)
case("model-joint-for-tas-only", M, "a joint model (hs-t42-mv-v1) for a tas-only background, steps=2",
     lambda b, o: xda.assimilate(b, o, model="hs-t42-mv-v1", steps=2), lambda r, *_: finite(r["tas"]), inputs=lambda: (bg_tas(), stations()))
case("model-device-int", M, "device=0 (an int: a CUDA index) without a GPU", lambda b, o: xda.assimilate(b, o, device=0), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("device",), either=True)
case("model-downscale-unknown", M, "downscale(model='nope')", lambda c: xda.downscale(c, 2, method="regression", model="nope"), ERROR,
     inputs=lambda: (coarse(),), names=("nope",))
case("weights-dir-is-a-file", M, "XDA_WEIGHTS_DIR pointing at a file", with_env(lambda: xda.load_model("hs-t42-v2"),
                                                                                XDA_WEIGHTS_DIR=str(ROOT / "README.md")), ERROR,
     names=("XDA_WEIGHTS_DIR",))
case("weights-truncated-card", M, "a copy of the card cut in half, shadowing the shipped model",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"),
                      XDA_WEIGHTS_DIR=_weights_copy(lambda c, w: c.write_text(c.read_text()[: len(c.read_text()) // 2])))(), ERROR,
     names=("json|card",))
case("weights-card-edited", M, "card copy with clim_mean changed (not re-sealed)",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(_edit_card(
         lambda d: d["variables"]["z500"].__setitem__("clim_mean", 0.0))))(), ERROR, names=("manifest|card",))
case("weights-card-edited-oi", M, "the same tampered card used by method='oi'",
     lambda b, o: with_env(lambda: oi_t(b, o), XDA_WEIGHTS_DIR=_weights_copy(_edit_card(
         lambda d: d["variables"]["tas"].__setitem__("units", "degC"))))(), ERROR, inputs=lambda: (bg_tas(), stations()),
     names=("manifest|card",))
case("weights-truncated-file", M, "weights copy truncated to 1000 bytes",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(
         lambda c, w: w.write_bytes(w.read_bytes()[:1000])))(), ERROR, names=("safetensors|weight",))
case("weights-card-no-hash", M, "card copy without sha256",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(_edit_card(lambda d: d.pop("sha256"))))(),
     ERROR, names=("sha256",))
case("weights-card-a-list", M, "card copy holding a JSON list",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(lambda c, w: c.write_text("[1, 2]")))(),
     ERROR, names=("list|object",))
case("weights-card-not-utf8", M, "card copy with invalid UTF-8 bytes",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(
         lambda c, w: c.write_bytes(b"\xff\xfe" + c.read_bytes())))(), ERROR, names=("UTF|card",))
case("weights-card-only", M, "a card without its weight file in XDA_WEIGHTS_DIR",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(lambda c, w: w.unlink()))(), ERROR,
     names=("safetensors",))
case("weights-available-with-broken-card", M, "available_models() with a broken card in XDA_WEIGHTS_DIR lists, no crash",
     lambda: with_env(xda.available_models, XDA_WEIGHTS_DIR=_weights_copy(lambda c, w: c.write_text("{")))(),
     lambda r: isinstance(r, list) and "hs-t42-v2" in r)
case("weights-renamed-copy", M, "a model copied under a new name (card and weights renamed) loads by the new name",
     lambda: with_env(lambda: xda.load_model("my-model"), XDA_WEIGHTS_DIR=_weights_copy(
         lambda c, w: (c.rename(c.with_name("my-model.json")), w.rename(w.with_name("my-model.safetensors")))))(),
     lambda r: isinstance(r, tuple), either=True)
case("weights-swapped-weights", M, "the downscaling model's weights under the assimilation card",
     lambda: with_env(lambda: xda.load_model("hs-t42-v2"), XDA_WEIGHTS_DIR=_weights_copy(
         lambda c, w: shutil.copy(ROOT / "xda" / "weights" / "hs-t63-ds-v1.safetensors", w)))(), ERROR, names=("sha256|weight",))

# ============================================================================ 10. dtypes

D = "dtypes"
case("dtype-float32-bg", D, "float32 background (as stored): analysis float32 and equal", lambda b, o: oi_t(b, o),
     lambda r, *_: (r.tas.dtype == np.float32 and close(r, ref_oi_t(), atol=2e-3)[0], str(r.tas.dtype)),
     inputs=lambda: (bg_tas(), stations()))
case("dtype-float64-bg", D, "float64 background", lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas().astype("f8"), stations()))
case("dtype-bool-bg", D, "a boolean background with units K", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas=lambda d: (d.tas > 280).assign_attrs(d.tas.attrs)), stations()), names=("bool",))
case("dtype-complex-bg", D, "a complex background", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().assign(tas=lambda d: (d.tas + 0j).assign_attrs(d.tas.attrs)), stations()), names=("tas|complex",))
case("dtype-object-bg", D, "an object-dtype background (Python floats)", lambda b, o: oi_t(b, o), same_as_ref_t(), either=True,
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.astype(object).assign_attrs(d.tas.attrs)), stations()))
case("dtype-big-endian-bg", D, "big-endian ('>f8') background, as netCDF can give", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.astype(">f8").assign_attrs(d.tas.attrs)), stations()))
case("dtype-big-endian-laplacian", D, "laplacian of a big-endian field", lambda c: xda.laplacian(c),
     lambda r, c: close(r, xda.laplacian(c.astype("<f8")), atol=1e-18), inputs=lambda: (tas_na().astype(">f8"),))
case("dtype-big-endian-residual", D, "residual of big-endian fields", lambda c, u, v: xda.advection_diffusion_residual(c, u, v, 1e5),
     lambda r, c, u, v: close(r, xda.advection_diffusion_residual(c.astype("<f4"), u.astype("<f4"), v.astype("<f4"), 1e5), atol=1e-12),
     inputs=lambda: (storm("t").astype(">f4"), storm("u").astype(">f4"), storm("v").astype(">f4")))
case("dtype-int-obs", D, "integer-valued obs (int16)", lambda b, o: oi_t(b, o), lambda r, *_: finite(r),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.round().astype(np.int16).assign_attrs(d.tas.attrs))))
case("dtype-float16-obs", D, "float16 obs", lambda b, o: oi_t(b, o), lambda r, *_: finite(r),
     inputs=lambda: (bg_tas(), stations().assign(tas=lambda d: d.tas.astype(np.float16).assign_attrs(d.tas.attrs))))
case("dtype-dask-obs-points", D, "dask-backed point obs", lambda b, o: oi_t(b, o), same_as_ref_t(), inputs=lambda: (bg_tas(), stations().chunk()))
case("dtype-dask-gridded-obs", D, "dask-backed gridded obs", lambda b, o: xda.assimilate(b, o, method="oi", background_error=BZ),
     lambda r, *_: close(r, ref_oi_z(), atol=0.05), inputs=lambda: (z_bg(), z_obs().chunk({"lat": 20})))
case("dtype-readonly-bg", D, "a read-only background array", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (bg_tas().assign(tas=lambda d: d.tas.copy(data=_readonly(d.tas.values))), stations()))


def _readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


case("dtype-laplacian-int", D, "laplacian of an integer field", lambda c: xda.laplacian(c),
     lambda r, c: close(r, xda.laplacian(c.astype(float)), atol=1e-18), inputs=lambda: (tas_na().round().astype(np.int32),))
case("dtype-laplacian-bool", D, "laplacian of a boolean field with units", lambda c: xda.laplacian(c), ERROR,
     inputs=lambda: ((tas_na() > 280).assign_attrs(units="K"),), either=True)
case("dtype-laplacian-float16", D, "laplacian of a float16 field", lambda c: xda.laplacian(c),
     lambda r, c: close(r, xda.laplacian(c.astype(float)), atol=1e-14), inputs=lambda: (tas_na().astype(np.float16),))
case("dtype-downscale-float32-kept", D, "bicubic downscaling keeps float32", lambda c: xda.downscale(c, 2, method="bicubic"),
     lambda r, c: (r.dtype == np.float32, str(r.dtype)), inputs=lambda: (coarse(),))
case("dtype-downscale-int", D, "downscale an integer field", lambda c: xda.downscale(c, 2, method="bicubic"),
     lambda r, c: (r.dtype.kind == "f" and finite(r)[0], str(r.dtype)), inputs=lambda: (coarse().round().astype(np.int32).assign_attrs(units="K"),))
case("dtype-dask-downscale", D, "dask-backed coarse field", lambda c: xda.downscale(c, 2, method="bicubic"),
     lambda r, c: close(r, xda.downscale(c.compute(), 2, method="bicubic"), atol=1e-5), inputs=lambda: (coarse().chunk(),))
case("dtype-dask-laplacian-lazy", D, "laplacian of a dask field chunked along lon", lambda c: xda.laplacian(c),
     lambda r, c: close(r, xda.laplacian(c.compute()), atol=1e-18), inputs=lambda: (tas_na().chunk({"lon": 10}),))
case("dtype-metrics-int", D, "rmse of integer fields", lambda a, b: xda.metrics.rmse(a, b), lambda r, *_: (abs(float(r) - 1.0) < 1e-9, f"{float(r)}"),
     inputs=lambda: (xr.DataArray(np.full((3, 4), 5), dims=("lat", "lon"), attrs={"units": "K"}),
                     xr.DataArray(np.full((3, 4), 4), dims=("lat", "lon"), attrs={"units": "K"})))

# ============================================================================ 11. DataArray vs Dataset, accessor

A = "inputs-accessor"
case("in-dataarray-bg-unnamed", A, "an unnamed DataArray background and named obs", lambda b, o: oi_t(b, o), same_as_ref_t(),
     inputs=lambda: (tas_na().rename(None), stations()))
case("in-dataset-bg-with-bounds", A, "the full esm_tas Dataset slice (with lat_bnds/lon_bnds/time_bnds) as background",
     lambda b, o: oi_t(b, o), lambda r, b, o: (close(r["tas"], ref_oi_t()["tas"], atol=2e-3)[0] and "lat_bnds" in r, str(list(r.data_vars))),
     inputs=lambda: (raw("esm_tas").isel(time=2).drop_vars("time").sel(lat=slice(20, 60), lon=slice(230, 300)).drop_vars("time_bnds"), stations()))
case("in-dataset-unobserved-var-no-units", A, "a background Dataset with an extra unobserved variable without units (a mask)",
     lambda b, o: oi_t(b, o), lambda r, b, o: (close(r["tas"], ref_oi_t()["tas"], atol=2e-3)[0] and r["mask"].identical(b["mask"]), "mask kept"),
     inputs=lambda: (bg_tas().assign(mask=(("lat", "lon"), np.ones((21, 38), np.int8))), stations()))
case("in-dataset-unobserved-var-other-units", A, "an extra unobserved variable (uas, m/s) is copied unchanged",
     lambda b, o: oi_t(b, o), lambda r, b, o: (r["uas"].identical(b["uas"]) and close(r["tas"], ref_oi_t()["tas"], atol=2e-3)[0], ""),
     inputs=lambda: (bg_tas().assign(uas=(("lat", "lon"), np.ones((21, 38)), {"units": "m/s", "standard_name": "eastward_wind"})), stations()))
case("in-background-extra-dim-size-1", A, "a background with a size-1 'height' dimension", lambda b, o: oi_t(b, o),
     lambda r, b, o: (r["tas"].dims == b["tas"].dims and close(r["tas"].squeeze(), ref_oi_t()["tas"], atol=2e-3)[0], str(r["tas"].dims)),
     inputs=lambda: (bg_tas().expand_dims(height=[2.0]), stations()))
case("in-background-extra-dim-size-2", A, "a background with a 'level' dimension of size 2", lambda b, o: oi_t(b, o), ERROR,
     inputs=lambda: (bg_tas().expand_dims(level=[1000, 850]), stations()), names=("level|dims",))
case("in-accessor-points-laplacian", A, "stations.tas.phyda.laplacian() (points, no grid)", lambda o: o.tas.phyda.laplacian(), ERROR,
     inputs=lambda: (stations(),), names=("point|station|not a grid|not on a grid|regular",))
case("in-accessor-dataset-residual", A, "Dataset.phyda.advection_diffusion_residual with variable names for u/v",
     lambda ds: ds.phyda.advection_diffusion_residual("u", "v", 1e5), lambda r, ds: (True, type(r).__name__),
     inputs=lambda: (xr.Dataset({"t": storm("t"), "u": storm("u"), "v": storm("v")}),), either=True)
case("in-accessor-dataframe", A, "DataFrame.phyda (not registered: Python's AttributeError is right)", lambda df: df.phyda, ERROR,
     inputs=lambda: (table(),), accept=(AttributeError,))
case("in-accessor-variable", A, "xr.Variable has no .phyda (AttributeError is right)", lambda v: v.phyda, ERROR,
     inputs=lambda: (tas_na().variable,), accept=(AttributeError,))
case("in-accessor-downscale-dataset-factor-kw", A, "ds.phyda.downscale(factor=2, method='bicubic') on a Dataset",
     lambda d: d.phyda.downscale(factor=2, method="bicubic"), lambda r, d: close(r["tas"], xda.downscale(d["tas"], 2, method="bicubic"), atol=0),
     inputs=lambda: (coarse().to_dataset(name="tas"),))
case("in-accessor-assimilate-dataarray", A, "da.phyda.assimilate(stations, method='oi'): DataArray in, DataArray out with its std as a coord",
     lambda b, o: b.phyda.assimilate(o, method="oi", background_error=BT),
     lambda r, b, o: (isinstance(r, xr.DataArray) and "tas_standard_error" in r.coords and close(r, ref_oi_t()["tas"], atol=2e-3)[0], type(r).__name__),
     inputs=lambda: (tas_na(), stations()))
case("in-accessor-assimilate-points-bg", A, "points.phyda.assimilate(gridded obs): a point Dataset as background",
     lambda o, g: o.phyda.assimilate(g, method="oi"), ERROR, inputs=lambda: (stations(), bg_tas()), names=("point|station|not a grid|not on a grid|regular",))
case("in-laplacian-dataset-mixed", A, "laplacian of a Dataset with a variable without units (skipped or named)",
     lambda ds: xda.laplacian(ds), lambda r, ds: ("tas_laplacian" in r.data_vars and close(r["tas_laplacian"], xda.laplacian(ds["tas"]), atol=0)[0],
                                               str(list(r.data_vars)) + str(r.attrs)),
     inputs=lambda: (xr.Dataset({"tas": tas_na(), "mask": (("lat", "lon"), np.ones((21, 38)))}),), either=True)
case("in-downscale-dataset-extra", A, "downscale a Dataset holding tas and an unrelated variable", lambda d: xda.downscale(d, 2, method="bicubic"),
     lambda r, d: ("tas" in r.data_vars and close(r["tas"], xda.downscale(d["tas"], 2, method="bicubic"), atol=0)[0], str(list(r.data_vars))),
     inputs=lambda: (xr.Dataset({"tas": coarse(), "pr": (coarse() * 0 + 1e-5).drop_attrs().assign_attrs(units="kg m-2 s-1")}),))
case("in-spectrum-dataset", A, "power_spectrum of a Dataset", lambda d: xda.power_spectrum(d), ERROR, inputs=lambda: (z_bg(),), either=True,
     signature=True)

# ============================================================================ 12. metrics with mismatched inputs

MT = "metrics"
case("metrics-different-dim-names", MT, "rmse(a on lat/lon, b on latitude/longitude): must not broadcast to an outer product",
     lambda a, b: xda.metrics.rmse(a, b), lambda r, a, b: (float(r) < 1e-6 and r.ndim == 0, f"rmse={float(r):.4g}, dims {r.dims}"),
     inputs=lambda: (tas_na(), tas_na().rename(lat="latitude", lon="longitude")), either=True, names=("lat|dim",))
case("metrics-transposed", MT, "rmse(a, a transposed) = 0", lambda a, b: xda.metrics.rmse(a, b), lambda r, *_: (float(r) < 1e-9, f"{float(r)}"),
     inputs=lambda: (tas_na(), tas_na().T))
case("metrics-numpy-inputs", MT, "rmse of two numpy arrays", lambda a, b: xda.metrics.rmse(a, b), lambda r, *_: abs(float(r) - 1) < 1e-9,
     inputs=lambda: (np.ones(5), np.zeros(5)), either=True, signature=True)
case("metrics-weights-typo", MT, "rmse(weights='lat') (typo of 'latitude')", lambda a, b: xda.metrics.rmse(a, b, weights="lat"), ERROR,
     inputs=lambda: (tas_na(), tas_na() + 1), names=("weights|lat",))
case("metrics-latitude-weights-points", MT, "rmse(weights='latitude') on station points (no grid)",
     lambda a, b: xda.metrics.rmse(a, b, weights="latitude"), ERROR, inputs=lambda: (stations().tas, stations().tas + 1),
     names=("point|station|not a grid|not on a grid|regular",), either=True)
case("metrics-dataset-vs-dataarray", MT, "rmse(Dataset, DataArray): per variable (0) or a clear error", lambda a, b: xda.metrics.rmse(a, b),
     lambda r, *_: (float(r["tas"]) == 0.0, str(r)), inputs=lambda: (bg_tas(), tas_na()), either=True, signature=True)
case("metrics-ssim-1d", MT, "ssim of 1-D station series", lambda a, b: xda.metrics.ssim(a, b), ERROR,
     inputs=lambda: (stations().tas, stations().tas + 1), names=("point|station|not a grid|not on a grid|regular",))
case("metrics-ssim-transposed", MT, "ssim(a, a transposed) = 1", lambda a, b: xda.metrics.ssim(a, b), lambda r, *_: (abs(float(r) - 1) < 1e-9, f"{float(r)}"),
     inputs=lambda: (tas_na(), tas_na().T))
case("metrics-crps-member-dim-name", MT, "crps with the ensemble dimension called 'ens' and member_dim='ens'",
     lambda e, t: xda.metrics.crps(e, t, member_dim="ens"), lambda r, e, t: close(r, xda.metrics.crps(e.rename(ens="member"), t), atol=1e-9),
     inputs=lambda: ((tas_na() + xr.DataArray([0.0, 1.0, 2.0], dims="ens")).assign_attrs(units="K"), tas_na()))
case("metrics-ssr-perfect-mean", MT, "spread_skill_ratio when the ensemble mean equals the truth (skill 0): inf, not an error",
     lambda e, t: xda.metrics.spread_skill_ratio(e, t), lambda r, *_: (np.isinf(float(r)) or np.isnan(float(r)), f"{float(r)}"),
     inputs=lambda: ((tas_na() + xr.DataArray([-1.0, 0.0, 1.0], dims="member")).assign_attrs(units="K"), tas_na()), either=True)
case("metrics-scorecard-variables-typo", MT, "scorecard(variables=['tass'])", lambda f, t: xda.metrics.scorecard(f, t, variables=["tass"]),
     ERROR, inputs=lambda: (bg_tas(), bg_tas()), names=("tass",))
case("metrics-scorecard-variables-string", MT, "scorecard(variables='tas') (a string, not a list)",
     lambda f, t: xda.metrics.scorecard(f, t, variables="tas"), lambda r, *_: (list(r["variable"]) == ["tas"], str(list(r["variable"]))),
     inputs=lambda: (bg_tas(), bg_tas()), either=True, names=("no variable 'tas'|list",))
case("metrics-scorecard-baseline-other-grid", MT, "scorecard baseline on another grid", lambda f, t, b: xda.metrics.scorecard(f, t, baseline=b),
     ERROR, inputs=lambda: (bg_tas(), bg_tas(), bg_tas().isel(lat=slice(0, 10))), names=("grid|coordinates",))
case("metrics-scorecard-dataarrays", MT, "scorecard of two DataArrays", lambda f, t: xda.metrics.scorecard(f, t), ERROR,
     inputs=lambda: (tas_na(), tas_na()), either=True, signature=True)
case("metrics-rmse-time-broadcast", MT, "rmse(series over time, one field): broadcast over time is fine",
     lambda a, b: xda.metrics.rmse(a, b, dim=["lat", "lon"]), lambda r, *_: (r.sizes.get("time") == 3 and finite(r)[0], str(dict(r.sizes))),
     inputs=lambda: (raw("esm_tas")["tas"].isel(time=slice(0, 3)), raw("esm_tas")["tas"].isel(time=0, drop=True)))

# ============================================================================ 13. spectra

SP = "spectra"
case("spec-zonal-two-points", SP, "power_spectrum of a 2-point 'global' latitude circle", lambda c: xda.power_spectrum(c),
     lambda r, c: finite(r), inputs=lambda: (field(3, 2, dlon=180.0),), either=True)
case("spec-zonal-all-nan", SP, "power_spectrum of an all-NaN global field: NaN rows with a warning, or an error",
     lambda c: xda.power_spectrum(c), lambda r, c: (bool(np.isnan(r.values).all()), "all NaN"),
     inputs=lambda: (_z500()[0] * np.nan,), either=True, names=("z500|NaN",), warn="NaN")
case("spec-zonal-cyclic-point", SP, "power_spectrum of a global field with a cyclic point equals the one without",
     lambda c: xda.power_spectrum(c), lambda r, c: close(r, xda.power_spectrum(c.isel(lon=slice(0, -1))), rtol=1e-9, atol=0),
     inputs=lambda: (xr.concat([_z500()[0], _z500()[0].isel(lon=[0]).assign_coords(lon=[360.0])], "lon"),), either=True, names=("cyclic",))
case("spec-zonal-descending-lat", SP, "power_spectrum of a descending-latitude field = flipped ascending one",
     lambda c: xda.power_spectrum(c), lambda r, c: close(r.isel(lat=slice(None, None, -1)), xda.power_spectrum(c.isel(lat=slice(None, None, -1))), atol=1e-6),
     inputs=lambda: (_z500()[0].isel(lat=slice(None, None, -1)),))
case("spec-zonal-regional", SP, "power_spectrum of a regional field", lambda c: xda.power_spectrum(c), ERROR, inputs=lambda: (tas_na(),),
     names=("regional|isotropic",))
case("spec-iso-tiny", SP, "isotropic_power_spectrum of a 4 x 4 field (complete): a 2-bin spectrum or an error",
     lambda c: xda.isotropic_power_spectrum(c), lambda r, c: finite(r),
     inputs=lambda: (tas_na().isel(lat=slice(0, 4), lon=slice(0, 4)),), either=True, names=("4|8|small",))
case("spec-iso-one-row", SP, "isotropic_power_spectrum of a 1 x 38 row", lambda c: xda.isotropic_power_spectrum(c), ERROR,
     inputs=lambda: (tas_na().isel(lat=[0]),), names=("lat",))
case("spec-iso-descending", SP, "isotropic spectrum of a descending-latitude field equals the ascending one",
     lambda c: xda.isotropic_power_spectrum(c), lambda r, c: _iso_same(r, xda.isotropic_power_spectrum(c.isel(lat=slice(None, None, -1)))),
     inputs=lambda: (tas_na().isel(lat=slice(None, None, -1)),))
case("spec-iso-inf", SP, "isotropic spectrum of a field with an inf (cropped like NaN, or an error)",
     lambda c: xda.isotropic_power_spectrum(c), lambda r, c: finite(r), either=True,
     inputs=lambda: (tas_na().where(lambda d: ~((d.lat == d.lat[0]) & (d.lon == d.lon[0])), np.inf),))
case("spec-slope-nan-spectrum", SP, "spectral_slope of a spectrum with NaN bins", lambda p: xda.spectral_slope(p),
     lambda r, p: (bool(np.isfinite(float(r))), f"{float(r)}"), inputs=lambda: (_power_law().where(lambda p: p.freq_lon != p.freq_lon[3]),))


def _iso_same(a, b):
    dk = float(np.max(np.abs(a.freq_r.values / b.freq_r.values - 1)))
    ok, note = close(a, b, atol=0, rtol=1e-3)
    return ok and dk < 1e-3, f"{note}; wavenumbers differ by {dk:.2g} (relative): the latitude spacing is taken at one edge of a Gaussian grid"


def _power_law():
    k = np.arange(1, 40) / 360.0
    return xr.DataArray(k**-3.0, dims="freq_lon", coords={"freq_lon": k}, name="p")


case("spec-slope-negative-power", SP, "spectral_slope of a 'spectrum' with negative values", lambda p: xda.spectral_slope(p),
     lambda r, p: (bool(np.isfinite(float(r))), f"{float(r)}"), inputs=lambda: (_power_law() - 1e3,), either=True, warn="negative|left out|power")
case("spec-divergence-self", SP, "spectral_divergence(a, a) = 0 (NaN on the constant pole rows, as documented)",
     lambda a, b: xda.spectral_divergence(a, b),
     lambda r, *_: (np.all(np.abs(r.values[1:-1]) < 1e-12) and np.isnan(r.values[[0, -1]]).all(), f"{r.values[:3]}"),
     inputs=lambda: (_z500()[0], _z500()[0]))
case("spec-divergence-units", SP, "spectral_divergence(K field, same field in degF) = 0", lambda a, b: xda.spectral_divergence(a, b),
     lambda r, *_: (np.all(np.abs(r.values) < 1e-9), f"max {np.nanmax(np.abs(r.values)):.3g}"),
     inputs=lambda: (_esm_global_coarse(), (_esm_global_coarse() * 1.8 - 459.67).assign_attrs(units="degF")))
case("spec-divergence-other-grid", SP, "spectral_divergence of fields on different grids", lambda a, b: xda.spectral_divergence(a, b), ERROR,
     inputs=lambda: (_z500()[0], _esm_global_coarse()), names=("grid|coordinates|lat",))
case("spec-divergence-isotropic-regional", SP, "spectral_divergence(kind='isotropic') of a regional field and itself = 0",
     lambda a, b: xda.spectral_divergence(a, b, kind="isotropic", top=0.1), lambda r, *_: (np.all(np.abs(np.asarray(r)) < 1e-12), f"{np.asarray(r).ravel()[:3]}"),
     inputs=lambda: (tas_na(), tas_na()))
case("spec-zonal-time-nan-field", SP, "power_spectrum of a time series where one time is all NaN (storm, global? no: regional)",
     lambda c: xda.isotropic_power_spectrum(c), lambda r, c: (int(np.isfinite(r.values).all(axis=-1).sum()) >= 3, f"finite rows {int(np.isfinite(r.values).all(axis=-1).sum())}"),
     inputs=lambda: (raw("storm1996_t")["t"].isel(lon=slice(7, 29)),), either=True)

# ============================================================================ 14. downscaling misuse (learned paths, a few)

DS = "downscaling"
case("ds-regression-time-nan-slice", DS, "regression downscaling of a time series with one all-NaN time",
     lambda c: xda.downscale(c, 2, method="regression"), ERROR,
     inputs=lambda: (xr.concat([coarse8(), coarse8() * np.nan], "time").assign_attrs(coarse8().attrs),), names=("NaN|tas",))
case("ds-winds-other-units", DS, "regression downscaling with winds in knots equals winds in m/s",
     lambda d: xda.downscale(d, 2, method="regression"),
     lambda r, d: close(r["tas"], xda.downscale(d.assign(uas=(d.uas * 0.514444).assign_attrs(d.uas.attrs, units="m/s"),
                                                         vas=(d.vas * 0.514444).assign_attrs(d.vas.attrs, units="m/s")), 2, method="regression")["tas"], atol=2e-3),
     inputs=lambda: (_tas_uas8().assign(uas=lambda d: d.uas.assign_attrs(units="knot"), vas=lambda d: d.vas.assign_attrs(units="knot")),))
case("ds-xda-members-seed", DS, "method='xda' members=2 steps=2 seed=0 twice: reproducible",
     lambda c: xda.downscale(c, 2, members=2, steps=2, seed=0), lambda r, c: close(r, xda.downscale(c, 2, members=2, steps=2, seed=0), atol=0),
     inputs=lambda: (coarse8(),))
case("ds-orography-wrong-grid", DS, "orography on the coarse grid instead of the fine one",
     lambda c: xda.downscale(c, 2, method="lapse_rate", orography=_orog_fine(1, c).pipe(lambda o: o)), ERROR,
     inputs=lambda: (coarse8(),), names=("orograph",))
case("ds-u-dataarray-other-grid", DS, "u=/v= DataArrays on another grid", lambda c: xda.downscale(c, 2, method="regression",
                                                                                              u=(c * 0 + 1).assign_attrs(units="m/s").isel(lat=slice(0, 4)),
                                                                                              v=(c * 0).assign_attrs(units="m/s").isel(lat=slice(0, 4))),
     ERROR, inputs=lambda: (coarse8(),), names=("grid",))
case("ds-winds-false-ignores", DS, "winds=False with a Dataset holding winds equals the temperature alone",
     lambda d: xda.downscale(d, 2, method="regression", winds=False),
     lambda r, d: close(r["tas"], xda.downscale(d["tas"], 2, method="regression"), atol=1e-5), inputs=lambda: (_tas_uas8(),))


def _tas_uas8():
    t = coarse8()
    return xr.Dataset({"tas": t, "uas": (t * 0 + 3).assign_attrs(units="m/s", standard_name="eastward_wind"),
                       "vas": (t * 0 - 1).assign_attrs(units="m/s", standard_name="northward_wind")})


# ============================================================================ 15. bundled data

B = "datasets"
case("data-name-none", B, "open_dataset(None)", lambda: xda.datasets.open_dataset(None), ERROR, signature=True)
case("data-name-case", B, "open_dataset('ESM_TAS')", lambda: xda.datasets.open_dataset("ESM_TAS"), ERROR, names=("ESM_TAS",))
case("data-name-suffix", B, "open_dataset('esm_tas.nc')", lambda: xda.datasets.open_dataset("esm_tas.nc"), ERROR,
     names=("esm_tas",), either=True)
case("data-path-traversal", B, "open_dataset('../weights/hs-t42-v2')", lambda: xda.datasets.open_dataset("../weights/hs-t42-v2"), ERROR)
case("data-fresh-copy", B, "editing one opened dataset in place does not change the next one",
     lambda: _edit_then_reopen(), lambda r: (r, "units/values unchanged" if r else "the second open saw the edit"))


def _edit_then_reopen():
    a = xda.datasets.open_dataset("esm_tas")
    a["tas"].attrs["units"] = "degC"
    a["tas"].values[0, 0, 0] = -999.0
    b = xda.datasets.open_dataset("esm_tas")
    return b["tas"].attrs["units"] == "K" and float(b["tas"].values[0, 0, 0]) != -999.0


case("data-available-type", B, "datasets.available() returns names that all open", lambda: [n for n in xda.datasets.available()
                                                                                          if not isinstance(xda.datasets.open_dataset(n), xr.Dataset)],
     lambda r: (r == [], str(r)))

# ============================================================================ 16. CLI

CL = "cli"
CLI_DIR = TMP / "cli"


@functools.cache
def _cli_files():
    CLI_DIR.mkdir(exist_ok=True)
    bg_tas().to_netcdf(CLI_DIR / "bg.nc")
    t = table()
    t.to_csv(CLI_DIR / "obs.csv", index=False)
    (CLI_DIR / "obs.txt").write_text("lat,lon,tas\n40,260,280\n")
    xr.Dataset({"t": storm("t"), "u": storm("u"), "v": storm("v")}).to_netcdf(CLI_DIR / "storm.nc")
    coarse8().to_dataset(name="tas").to_netcdf(CLI_DIR / "coarse.nc")
    return CLI_DIR


def cli(*argv):
    """(exit status, stderr) of xda.cli.main(argv), in this process; exceptions propagate (tracebacks)."""
    from xda import cli as xcli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = xcli.main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


def _cli_case(id, desc, argv, ok=False, check=None):
    def call():
        rc, err = cli(*argv())
        if rc == 2 and not ok:
            raise _CliError(" ".join(err.split())[-300:] or "(no message)")
        return rc, err
    expect = ERROR if not ok else (check or (lambda r: (r[0] == 0, f"exit {r[0]}: {_short(r[1], 200)}")))
    case(id, CL, desc, call, expect)


class _CliError(XdaError):
    """Exit status 2 with a message (what the CLI promises for bad input)."""


D_ = lambda: _cli_files()  # noqa: E731
_cli_case("cli-no-args", "xda (no arguments)", lambda: [])
_cli_case("cli-unknown-command", "xda frobnicate", lambda: ["frobnicate"])
_cli_case("cli-assimilate-missing-file", "xda assimilate nope.nc obs.csv -o out.nc", lambda: ["assimilate", TMP / "nope.nc", D_() / "obs.csv", "-o", TMP / "o.nc"])
_cli_case("cli-assimilate-members-text", "--members abc", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--members", "abc"])
_cli_case("cli-assimilate-no-units", "a CSV without --obs-units", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--method", "oi"])
_cli_case("cli-assimilate-ok", "a CSV with --obs-units tas=K (oi)", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                            "--method", "oi", "--obs-units", "tas=K"], ok=True)
_cli_case("cli-assimilate-isel-text", "--isel time=x", lambda: ["assimilate", "esm_tas", D_() / "obs.csv", "-o", TMP / "o.nc", "--isel", "time=x",
                                                              "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-isel-out-of-range", "--isel time=99 on a 12-month file", lambda: ["assimilate", "esm_tas", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                                        "--isel", "time=99", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-isel-unknown-dim", "--isel level=0 (no such dimension)", lambda: ["assimilate", "esm_tas", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                                          "--isel", "level=0", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-time-garbage", "--time yesterday", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--time",
                                                                      "yesterday", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-window-text", "--window soon", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--window", "soon",
                                                                  "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-obs-error-no-equals", "--obs-error tas", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                           "--obs-error", "tas", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-obs-txt", "observations in a .txt file", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.txt", "-o", TMP / "o.nc",
                                                                           "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-output-dir-missing", "-o into a directory that does not exist",
          lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "no" / "dir" / "o.nc", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-output-unwritable", "-o /proc/xda.nc (not writable)",
          lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", "/proc/xda_sweep.nc", "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-assimilate-obs-is-directory", "observations path is a directory", lambda: ["assimilate", D_() / "bg.nc", TMP, "-o", TMP / "o.nc",
                                                                                         "--method", "oi"])
_cli_case("cli-assimilate-bg-not-netcdf", "background path is a CSV", lambda: ["assimilate", D_() / "obs.csv", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                               "--method", "oi", "--obs-units", "tas=K"])
_cli_case("cli-downscale-factor-0", "xda downscale --factor 0", lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "0",
                                                                        "--method", "bicubic"])
_cli_case("cli-downscale-bundled-name", "xda downscale esm_tas (a bundled name, as assimilate accepts)",
          lambda: ["downscale", "esm_tas", "--isel", "time=0", "-o", TMP / "d.nc", "--factor", "2", "--method", "bicubic"], ok=True)
_cli_case("cli-downscale-method-typo", "xda downscale --method bicubik", lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "2",
                                                                                 "--method", "bicubik"])
_cli_case("cli-residual-missing-var", "xda residual --field q", lambda: ["residual", D_() / "storm.nc", "--field", "q", "--u", "u", "--v", "v", "-o", TMP / "r.nc"])
_cli_case("cli-residual-kappa-negative", "xda residual --kappa -1", lambda: ["residual", D_() / "storm.nc", "--field", "t", "--u", "u", "--v", "v",
                                                                            "--kappa=-1", "-o", TMP / "r.nc"])
_cli_case("cli-residual-kappa-units", "xda residual --kappa '1e5 m2/s' works", lambda: ["residual", D_() / "storm.nc", "--field", "t", "--u", "u",
                                                                                       "--v", "v", "--kappa", "1e5 m2/s", "-o", TMP / "r.nc"], ok=True)
_cli_case("cli-evaluate-missing-file", "xda evaluate nope.nc", lambda: ["evaluate", TMP / "nope.nc", D_() / "bg.nc"])
_cli_case("cli-evaluate-other-grid", "xda evaluate on two different grids", lambda: ["evaluate", D_() / "bg.nc", D_() / "coarse.nc"])
_cli_case("cli-train-unknown-task", "xda train fly", lambda: ["train", "fly"])


def _subprocess_cli(args, want_rc):
    p = subprocess.run([sys.executable, "-m", "xda.cli", *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TQDM_DISABLE="1"))
    if "Traceback" in p.stderr:
        raise RuntimeError("traceback: " + _short(p.stderr[-400:], 300))
    if p.returncode == 2 and want_rc == 2:
        raise _CliError(_short(p.stderr[-300:], 300))
    return p.returncode, p.stderr


# ---- round 3 (issue 25): the CLI's new options
_cli_case("cli-downscale-like-missing-file", "xda downscale --like nothere.nc",
          lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--like", TMP / "nothere.nc", "--method", "bicubic"])
_cli_case("cli-downscale-lapse-rate-text", "xda downscale --lapse-rate steep",
          lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "2", "--method", "lapse_rate", "--lapse-rate", "steep"])
_cli_case("cli-downscale-lapse-rate-degC-per-km", "xda downscale --lapse-rate '-6.5 degC/km' (a difference per length)",
          lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "2", "--method", "lapse_rate", "--lapse-rate",
                   "-6.5 degC/km"], ok=True)
_cli_case("cli-downscale-variable-missing", "xda downscale --variable pr (not in the file)",
          lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "2", "--method", "bicubic", "--variable", "pr"])
_cli_case("cli-downscale-orography-other-grid", "xda downscale --orography on the coarse grid (not the fine one)",
          lambda: ["downscale", D_() / "coarse.nc", "-o", TMP / "d.nc", "--factor", "2", "--method", "lapse_rate", "--orography",
                   D_() / "coarse.nc"])
_cli_case("cli-assimilate-qc-text", "xda assimilate --qc strict", lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc",
                                                                          "--method", "oi", "--obs-units", "tas=K", "--qc", "strict"])
_cli_case("cli-assimilate-background-error-typo", "xda assimilate --background-error tunde",
          lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--method", "oi", "--obs-units", "tas=K",
                   "--background-error", "tunde"])
_cli_case("cli-assimilate-qc-none", "xda assimilate --qc none (the background check off)",
          lambda: ["assimilate", D_() / "bg.nc", D_() / "obs.csv", "-o", TMP / "o.nc", "--method", "oi", "--obs-units", "tas=K",
                   "--qc", "none"], ok=True)
case("cli-subprocess-help", CL, "python -m xda.cli --help exits 0", lambda: _subprocess_cli(["--help"], 0), lambda r: (r[0] == 0, f"exit {r[0]}"))
case("cli-subprocess-bad-kappa", CL, "python -m xda.cli residual --kappa abc (separate process, no traceback)",
     lambda: _subprocess_cli(["residual", str(_cli_files() / "storm.nc"), "--field", "t", "--u", "u", "--v", "v", "--kappa", "abc",
                              "-o", str(TMP / "r2.nc")], 2), ERROR)

# ============================================================================ 17. a few method="xda" cases

X = "learned"
case("xda-degC-background", X, "method='xda' on a degC background equals the K one (steps irrelevant: members=1)",
     lambda b, o: xda.assimilate(b, o, seed=0), lambda r, b, o: close(_values(r["tas"]) + 273.15, xda.assimilate(bg_tas(), o, seed=0)["tas"], atol=5e-3),
     inputs=lambda: ((bg_tas() - 273.15).assign(tas=lambda d: d.tas.assign_attrs(tas_na().attrs, units="degC")), stations()))
case("xda-descending-lat", X, "method='xda' on a descending-latitude background equals the ascending one flipped",
     lambda b, o: xda.assimilate(b, o, seed=0), lambda r, b, o: close(r["tas"].isel(lat=slice(None, None, -1)), xda.assimilate(bg_tas(), o, seed=0)["tas"], atol=5e-3),
     inputs=lambda: (bg_tas().isel(lat=slice(None, None, -1)), stations()))
case("xda-obs-space-members", X, "method='xda', members=2, steps=2, obs_space=True: table and members",
     lambda b, o: xda.assimilate(b, o, members=2, steps=2, seed=1, obs_space=True),
     lambda r, *_: (isinstance(r, tuple) and r[0].sizes.get("member") == 2 and len(r[1]) == 40, type(r).__name__),
     inputs=lambda: (bg_tas(), stations()))


# ============================================================================ 18. environment, threads, odds and ends

E = "environment"
case("env-memory-limit-text", E, "XDA_MEMORY_LIMIT='lots'", lambda b, o: with_env(lambda: oi_t(b, o), XDA_MEMORY_LIMIT="lots")(), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("XDA_MEMORY_LIMIT",))
case("env-memory-limit-units", E, "XDA_MEMORY_LIMIT='8GB' (with units)", lambda b, o: with_env(lambda: oi_t(b, o), XDA_MEMORY_LIMIT="8GB")(),
     same_as_ref_t(), inputs=lambda: (bg_tas(), stations()), either=True, names=("XDA_MEMORY_LIMIT",))
case("env-memory-limit-negative", E, "XDA_MEMORY_LIMIT='-1'", lambda b, o: with_env(lambda: oi_t(b, o), XDA_MEMORY_LIMIT="-1")(), ERROR,
     inputs=lambda: (bg_tas(), stations()), names=("XDA_MEMORY_LIMIT",))
case("env-threads-zero", E, "xda.set_num_threads(0)", lambda: _threads_then_restore(0), ERROR, names=("0|n",))
case("env-threads-text", E, "xda.set_num_threads('two')", lambda: _threads_then_restore("two"), ERROR, names=("two",), signature=True)
case("env-threads-env-text", E, "XDA_NUM_THREADS='many' then set_num_threads()", lambda: with_env(lambda: _threads_then_restore(None),
                                                                                                XDA_NUM_THREADS="many")(), ERROR,
     names=("XDA_NUM_THREADS|many",))


def _threads_then_restore(n):
    import numba

    before = numba.get_num_threads()
    try:
        return xda.set_num_threads(n)
    finally:
        numba.set_num_threads(before)


case("misc-seam-ratio-factor-0", E, "metrics.seam_ratio(factor=0)", lambda f, r: xda.metrics.seam_ratio(f, r, 0), ERROR,
     inputs=lambda: (tas_na(), tas_na()), names=("factor",))
case("misc-seam-ratio-constant-reference", E, "metrics.seam_ratio against a constant reference (no jumps): inf/NaN or an error",
     lambda f, r: xda.metrics.seam_ratio(f, r, 2), lambda res, *_: (not np.isfinite(float(res)), f"{float(res)}"),
     inputs=lambda: (tas_na(), tas_na() * 0 + 280), either=True, warn="constant|zero|no jump|reference")
case("misc-surface-altitude-lat-100", E, "static.surface_altitude on latitudes [80, 100]",
     lambda: xda.static.surface_altitude(np.array([80.0, 100.0]), np.array([0.0, 10.0])), ERROR, names=("lat|100",))
case("misc-surface-altitude-one-point", E, "static.surface_altitude of a single point (one latitude, one longitude)",
     lambda: xda.static.surface_altitude(np.array([45.0]), np.array([7.0])), lambda r: finite(np.asarray(r)), either=True, names=("point|2",))
case("misc-relief-std-lat-100", E, "static.relief_std with a latitude of 100", lambda: xda.static.relief_std(np.array([80.0, 100.0]),
     np.array([0.0, 10.0])), ERROR, names=("100|-90..90|swapped",))
case("misc-relief-std-flat-ocean", E, "static.relief_std over open ocean is 0 (no sub-grid relief)",
     lambda: xda.static.relief_std(np.array([-40.0, -35.0]), np.array([200.0, 205.0])),
     lambda r: (float(np.max(r)) == 0.0, f"max {float(np.max(r)):.3g} m"))
case("misc-relief-std-mountains", E, "static.relief_std in the Himalaya at 5 deg exceeds 1 km",
     lambda: xda.static.relief_std(np.array([27.5, 32.5]), np.array([85.0, 90.0])),
     lambda r: (float(np.max(r)) > 1000.0, f"max {float(np.max(r)):.3g} m"))
case("ds-like-regional-coarser", G, "like= a regional grid 2x coarser than the input: its cell means are the input's block means",
     lambda c: xda.downscale(c, method="lapse_rate", like=xda.coarsen(c.isel(lat=slice(0, 4), lon=slice(0, 4)), 2)),
     lambda r, c: close(r, xda.coarsen(c.isel(lat=slice(0, 4), lon=slice(0, 4)), 2), atol=2e-3), inputs=lambda: (coarse8(),),
     either=True, names=("coarser|coarsen",))
case("obs-error-field-other-grid", O, "an obs_error field for gridded observations on another grid", lambda b, o: xda.assimilate(
     b, o, method="oi", background_error=BZ, obs_error={"z500": xr.full_like(o, 10.0).isel(lat=slice(0, 10)).assign_attrs(units="m")}),
     ERROR, inputs=lambda: (z_bg(), z_obs()), names=("obs_error|error|grid|shape",), either=True)
case("time-bg-360day-feb30-real-reports", T, "360_day background on 30 February with real-calendar reports (no such date)",
     lambda b, o: oi_t(b, o, window="2h"), ERROR,
     inputs=lambda: (bg_tas().assign_coords(time=__import__("cftime").Datetime360Day(1995, 2, 30, 18)), _sao_with_distractors()),
     names=("window|time",))
case("param-B-length-text", P, "BackgroundError.constant(2, 'five hundred km')", lambda: BackgroundError.constant(2.0, "five hundred km"),
     ERROR, names=("length_scale",))
case("misc-surface-altitude-lon-negative", E, "static.surface_altitude in -180..180 equals 0..360",
     lambda: xda.static.surface_altitude(np.array([30.0, 40.0]), np.array([-100.0, -90.0])),
     lambda r: close(np.asarray(r), np.asarray(xda.static.surface_altitude(np.array([30.0, 40.0]), np.array([260.0, 270.0]))), atol=1e-6))
case("misc-divergence-mixed-wind-units", E, "divergence(u in m/s, v in knots) equals both in m/s",
     lambda u, v: xda.divergence(u, v), lambda r, u, v: close(r, xda.divergence(u, (v * 1852 / 3600).assign_attrs(units="m/s")), atol=1e-15),
     inputs=lambda: (smooth_field(units="m/s").rename("u") - 280, (smooth_field(units="knot", seed=1).rename("v") - 280).assign_attrs(units="knot")))
case("misc-vorticity-no-units-v", E, "vorticity with v without units", lambda u, v: xda.vorticity(u, v), ERROR,
     inputs=lambda: (winds(smooth_field())[0], winds(smooth_field())[1].drop_attrs()), names=("v",))
case("misc-geostrophic-geopotential", E, "geostrophic residual with geopotential (m2 s-2) equals height / g",
     lambda z, u, v: xda.geostrophic_residual(z, u, v)["v_ageostrophic"],
     lambda r, z, u, v: close(r, xda.geostrophic_residual((z / 9.80665).assign_attrs(units="m"), u, v)["v_ageostrophic"], atol=1e-9),
     inputs=lambda: ((smooth_field(units="m") * 9.80665).assign_attrs(units="m2 s-2"), *winds(smooth_field())))
case("misc-effective-diffusivity-dim-typo", E, "effective_diffusivity(dim='tim')", lambda c, u, v: xda.effective_diffusivity(c, u, v, dim="tim"),
     ERROR, inputs=lambda: (storm("t"), storm("u"), storm("v")), names=("tim",))
case("misc-train-pairs-without-truth", E, "xda.train(pairs without 'truth')",
     lambda p: xda.train(p, out=str(TMP / "ft"), minutes=0.001), ERROR, inputs=lambda: (xr.Dataset({"background": _pairs()[0]}),),
     names=("truth",))
case("misc-train-path-missing", E, "xda.train('missing.nc', out) (FileNotFoundError naming the file is right too)",
     lambda: xda.train(str(TMP / "missing.nc"), str(TMP / "o")), ERROR, names=("missing.nc",), accept=(FileNotFoundError,))


# ============================================================================ main


def _previous_sweep_cases(A) -> list[tuple[str, object, object]]:
    """The 50 probes of the previous version of this sweep (id, call, expected: an exception class or a check)."""
    from xda.errors import DataError, GridError, ModelError, NotFoundError, ObservationError, UnitsError

    st, tas, bg, obs, oi, coarse = A.stations, A.tas_bg, A.bg, A.obs, A.oi, A.coarse
    z = lambda: xda.datasets.open_dataset("ncep_z500_global")["z500"]  # noqa: E731
    storm = lambda: xda.datasets.open_dataset("storm1996_t")["t"]  # noqa: E731
    finite = lambda r: bool(np.isfinite(r).all())  # noqa: E731
    analysed = lambda n: (lambda r: r[list(r.data_vars)[0]].attrs["xda_n_obs"] == n)  # noqa: E731
    return [
        ("obs-error-negative", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=-1), ObservationError),
        ("obs-error-zero", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=0), ObservationError),
        ("obs-error-nan", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=float("nan")), ObservationError),
        ("obs-error-wrong-units", lambda: xda.assimilate(tas(), st(), method="oi", obs_error="1 m"), UnitsError),
        ("obs-error-degF-string", lambda: xda.assimilate(tas(), st(), method="oi", obs_error="1.8 degF"), analysed(40)),
        ("variables-typo", lambda: xda.assimilate(tas(), st(), variables={"tas": "tass"}), ModelError),
        ("window-negative", lambda: xda.assimilate(tas(), st(), method="oi", window="-1h"), ObservationError),
        ("window-text", lambda: xda.assimilate(tas(), st(), method="oi", window="abc"), ObservationError),
        ("window-zero", lambda: xda.assimilate(tas(), st(), method="oi", window=0), ObservationError),
        ("background-int", lambda: oi(bg().astype(int)), lambda r: finite(r["z500"])),
        ("background-float16", lambda: oi(bg().astype(np.float16)), lambda r: finite(r["z500"])),
        ("background-dask", lambda: oi(bg().chunk()), lambda r: finite(r["z500"])),
        ("obs-lon-minus-180", lambda: xda.assimilate(tas(), st().assign_coords(lon=st().lon - 360), method="oi"), analysed(40)),
        ("obs-all-outside-grid", lambda: xda.assimilate(tas(), st().assign_coords(lat=st().lat - 80), method="oi"), ObservationError),
        ("obs-empty", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 0)), method="oi"), ObservationError),
        ("obs-one", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 1)), method="oi"), analysed(1)),
        ("obs-two-learned", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 2))), analysed(2)),
        ("obs-inf-one", lambda: xda.assimilate(tas(), st().assign(tas=st().tas.where(st().obs != 3, np.inf)), method="oi"), analysed(39)),
        ("obs-lat-95", lambda: xda.assimilate(tas(), st().assign_coords(lat=st().lat.where(st().obs != 3, 95.0)), method="oi"), ObservationError),
        ("obs-error-column-nan", lambda: xda.assimilate(tas(), st().assign(tas_error=("obs", np.r_[np.nan, np.ones(39)])), method="oi"), ObservationError),
        ("obs-boolean", lambda: xda.assimilate(tas(), st().assign(tas=st().tas > 280), method="oi"), ObservationError),
        ("table-numbers-as-text", lambda: xda.assimilate(tas(), A._table(tas=[str(v) for v in st().tas.values]), method="oi"), analysed(40)),
        ("qc-true", lambda: oi(qc=True), XdaError),
        ("members-true", lambda: xda.assimilate(bg(), obs(), members=True), XdaError),
        ("members-numpy-int", lambda: xda.assimilate(bg(), obs(), members=np.int64(2), steps=2), lambda r: r.sizes["member"] == 2),
        ("background-time-dim-obs-untimed", lambda: xda.assimilate(tas().expand_dims(time=pd.to_datetime(["2005-03-16", "2005-03-17"])), st(), method="oi"),
         lambda r: r.sizes["time"] == 2),
        ("noleap-window", lambda: xda.assimilate(tas().assign_coords(time=__import__("cftime").DatetimeNoLeap(2005, 3, 1)),
                                                 st().assign_coords(time=("obs", [__import__("cftime").DatetimeNoLeap(2005, 2, 28, 23)] * 40)), method="oi"), analysed(40)),
        ("tz-aware-obs-times", lambda: xda.assimilate(tas().assign_coords(time=np.datetime64("2005-03-16T12:00")),
                                                      st().assign_coords(time=("obs", pd.date_range("2005-03-16T12:00", periods=40, freq="1min", tz="UTC").to_pydatetime())),
                                                      method="oi"), analysed(40)),
        ("obs-other-time", lambda: z().isel(time=0).phyda.assimilate(z().isel(time=1).where(np.random.default_rng(0).random((73, 144)) < .05), method="oi"),
         ObservationError),
        ("storm-laplacian-nan-corners", lambda: xda.laplacian(storm().isel(time=0)), lambda r: np.isfinite(r).sum() > 0.5 * r.size),
        ("zonal-spectrum-nan-row", lambda: xda.power_spectrum(z().isel(time=0).where(z().lat != 0)), lambda r: np.isfinite(r).sum() == 72 * r.sizes["freq_lon"] if "freq_lon" in r.dims else True),
        ("rmse-units-dam", lambda: xda.metrics.rmse(z().isel(time=0), (z().isel(time=0) / 10).assign_attrs(units="dam")), lambda r: float(r) < 1e-2),  # float32 rounding
        ("scorecard-no-common-variable", lambda: xda.metrics.scorecard(z().isel(time=0).to_dataset(name="a"), z().isel(time=1).to_dataset(name="b")), NotFoundError),
        ("effective-diffusivity-one-time", lambda: xda.effective_diffusivity(storm().isel(time=[0]), storm().isel(time=[0]) * 0 + 5, storm().isel(time=[0]) * 0), GridError),
        ("residual-winds-without-units", lambda: xda.advection_diffusion_residual(storm(), storm().drop_attrs() * 0, storm().drop_attrs() * 0), UnitsError),
        ("load-model-unknown", lambda: xda.load_model("nope"), ModelError),
        ("load-model-directory", lambda: xda.load_model(str(ROOT / "xda")), ModelError),
        ("open-dataset-unknown", lambda: xda.datasets.open_dataset("nope"), NotFoundError),
        ("downscale-a-height", lambda: z().isel(time=0).phyda.downscale(4), UnitsError),
        ("from-pairs-one-sample", lambda: xda.BackgroundError.from_pairs(z().isel(time=[0]), z().isel(time=[0])), DataError),
        ("from-pairs-units", lambda: xda.BackgroundError.from_pairs(z().isel(time=slice(0, 3)), z().isel(time=slice(0, 3)).assign_attrs(units="K")), UnitsError),
        ("downscale-time-batch-members", lambda: xda.downscale(coarse().expand_dims(time=2).copy(), 4, members=2, steps=2, seed=0),
         lambda r: r.sizes["member"] == 2 and r.sizes["time"] == 2),
        ("downscale-winds-nan", lambda: xda.downscale(xr.Dataset({"tas": coarse(), "uas": (coarse() * 0 + 3).assign_attrs(units="m/s", standard_name="eastward_wind").where(coarse().lat < 30),
                                                                  "vas": (coarse() * 0).assign_attrs(units="m/s", standard_name="northward_wind")}), 4, method="regression"), DataError),
        ("downscale-like-outside", lambda: xda.downscale(coarse(), like=xr.DataArray(np.zeros((5, 5)), coords={"lat": np.linspace(-10, 0, 5), "lon": np.linspace(0, 10, 5)},
                                                                                     dims=("lat", "lon"))), GridError),
        ("downscale-lapse-rate-factor-5", lambda: xda.downscale(coarse(), 5, method="lapse_rate"), lambda r: r.shape == (20, 40)),
        ("downscale-one-wind-dataarray", lambda: xda.downscale(coarse(), 4, u=coarse() * 0), NotFoundError),
        ("downscale-variable-typo", lambda: xda.downscale(coarse().to_dataset(name="tas"), 4, variable="tass"), NotFoundError),
        ("downscale-degF", lambda: xda.downscale((coarse() * 1.8 - 459.67).assign_attrs(units="degF"), 4, method="bicubic"),
         lambda r: float(abs(xda.coarsen((r + 459.67) / 1.8, 4) - coarse()).max()) < 1e-3),
        ("downscale-lapse-rate-nan", lambda: xda.downscale(coarse(), 4, method="lapse_rate", lapse_rate=float("nan")), XdaError),
        ("coarsen-dataset-with-bounds", lambda: xda.coarsen(xda.datasets.open_dataset("esm_tas").isel(time=0), 2), lambda r: r["tas"].shape == (48, 96)),
    ]


def test_module_cases() -> None:
    """The parametrized cases of ``tests/test_bad_input*.py`` (prefixed ``tests:``) and the previous sweep's 50 probes
    (``prev:``) as sweep cases (``--with-tests``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_bad_input as tA
    import test_bad_input_diagnostics as tD

    def params(test):
        return list(test.pytestmark[0].args[1])

    for mod, tag in ((tA, "tests/test_bad_input"), (tD, "tests/test_bad_input_diagnostics")):
        pre = "tests:" if mod is tA else "tests:diag:"
        for p in params(mod.test_refused):
            call, err, match = p.values
            case(f"{pre}{p.id}", tag, f"expects {err.__name__}", call, ERROR, names=(match,), signature=err is TypeError)
        for p in params(mod.test_warned):
            call, warning, match = p.values
            case(f"{pre}{p.id}", tag, f"expects {warning.__name__}", call, lambda r: True, warn=match)
        for p in params(mod.test_right_result_and_inputs_unchanged):
            inputs, call, check = p.values
            chk = check if mod is tA else (lambda r, *_, c=check: c(r))
            case(f"{pre}{p.id}", tag, "expects the right result, inputs unchanged", call, chk, inputs=inputs)
    for cid, call, expected in _previous_sweep_cases(tA):
        is_error = isinstance(expected, type) and issubclass(expected, BaseException)
        case(f"prev:{cid}", "previous sweep", f"expects {expected.__name__}" if is_error else "expects the checked result", call,
             ERROR if is_error else expected)
    for p in params(tD.test_numerics_refuse_with_plain_value_error):
        case(f"tests:diag:{p.id}", "tests/test_bad_input_diagnostics", "numerics layer: a plain ValueError", p.values[0], ERROR,
             names=(p.values[1],), accept=(ValueError,))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--with-tests", action="store_true",
                    help="also run the cases of tests/test_bad_input*.py and the previous sweep's 50 probes")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bad_input_sweep.md"))
    ap.add_argument("--only", default=None, help="run only the cases whose id contains this")
    args = ap.parse_args()
    if args.with_tests:
        test_module_cases()
    np.random.seed(0)
    rows, t0 = [], time.perf_counter()
    cases = [c for c in CASES if args.only is None or args.only in c.id]
    for c in cases:
        outcome, note, sec = run_case(c)
        rows.append((c.id, c.category, c.desc, outcome, note.replace("|", "/"), sec))
        print(f"{outcome:14s} {sec:6.2f}s {c.id:42s} {_short(note, 110)}", flush=True)
    total = time.perf_counter() - t0
    order = ["clear-error", "correct", "silent-wrong", "warned-wrong", "obscure-crash", "refused-valid", "mutated", "sweep-bug"]
    groups = {"new probes": [r for r in rows if not r[0].startswith(("tests:", "prev:"))],
              "test modules + previous sweep (--with-tests)": [r for r in rows if r[0].startswith(("tests:", "prev:"))]}
    groups = {k: v for k, v in groups.items() if v}
    vague = {k: sum(1 for r in v if r[3] == "clear-error" and r[4].startswith("[vague")) for k, v in groups.items()}
    by = {k: pd.Series([r[3] for r in v]).value_counts() for k, v in groups.items()}
    lines = [f"# Bad-input sweep (benchmarks/bad_input_sweep.py): {len(rows)} classes in {total:.0f} s", "",
             f"`python benchmarks/bad_input_sweep.py{' --with-tests' if args.with_tests else ''}`: bad input, faults and misuse "
             "against the public API, on the bundled real data (small slices) and small synthetic arrays; every case's inputs "
             "are deep-copied before the call and checked to be unchanged after it.", "",
             "| outcome | " + " | ".join(f"{k} ({len(v)})" for k, v in groups.items()) + " |", "|---|" + "---|" * len(groups),
             *[f"| {o} | " + " | ".join(str(int(by[k].get(o, 0))) for k in groups) + " |" for o in order
               if any(by[k].get(o, 0) for k in groups) or o in order[:7]],
             "| (clear errors whose message does not name the variable/value/cause) | " + " | ".join(str(vague[k]) for k in groups) + " |",
             "", "| id | category | outcome | message or note |", "|---|---|---|---|",
             *[f"| {i} | {cat} | {o} | {_short(n, 120).replace('|', '/')} |" for i, cat, _, o, n, _ in rows], "",
             "## Cases", "", "| id | what | seconds |", "|---|---|---|",
             *[f"| {i} | {d.replace('|', '/')} | {s:.2f} |" for i, _, d, _, _, s in rows]]
    if args.only is None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    print()
    print(f"{len(rows)} classes in {total:.0f} s")
    for g, v in groups.items():
        print(f"{g}: {len(v)}")
        for k in order:
            if by[g].get(k, 0):
                print(f"  {k:14s} {int(by[g][k])}")
        print(f"  (vague clear errors: {vague[g]})")
    bad = [r for r in rows if r[3] not in ("clear-error", "correct")]
    if bad:
        print("\nto look at:")
        for i, cat, d, o, n, _ in bad:
            print(f"  {o:14s} {i}: {d}\n                 {_short(n, 300)}")
    if args.only is None:
        print(f"wrote {args.out}")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
