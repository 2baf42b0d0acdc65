"""Held-Suarez OSSE data: truth trajectories and realistic 24 h forecast backgrounds.

This module needs the optional ``simulate`` extra (``jax`` and ``dinosaur``); nothing
else in xda imports it. Run it as a script::

    python -m xda.simulate --out ~/.cache/xda/hs_t42.nc --days 200 --seed 0

What it does
------------
1. Spins up the Held & Suarez (1994) dry primitive-equation benchmark with Google's
   ``dinosaur`` spectral dynamical core (T42, 12 equidistant sigma levels, no
   orography) from an isothermal rest state with small random noise.
2. Integrates a *truth* trajectory and keeps the state every ``--interval`` hours.
3. For every kept time ``t`` (after the first day) it builds a *background*: the truth
   at ``t - 24 h`` is perturbed by ``alpha * (x(t1) - x(t2))``, the scaled difference
   of two random truth states from the same data split (a balanced, climatologically
   structured "NMC-like" perturbation; never white noise), and integrated 24 h forward
   with the same model. The background error therefore has the spatial structure and
   flow dependence of a real short-range forecast error.
4. Writes ``z500`` (500 hPa geopotential height, m) and ``tas`` (air temperature on
   the lowest model level, sigma = 0.958, K) for truth and background on the 64 x 128
   Gaussian grid, with a ``split`` label per time (train / validation / test, disjoint
   in time, separated by 5-day gaps).

References
----------
Held, I. M. and Suarez, M. J. (1994): A proposal for the intercomparison of the
dynamical cores of atmospheric general circulation models. BAMS 75, 1825-1830.
"""

from __future__ import annotations

import logging
import sys
import time as _time
from pathlib import Path

from typing import NamedTuple

import numpy as np

from ..errors import ParameterError

log = logging.getLogger(__name__)

SPLITS = {"train": 0.70, "validation": 0.10, "test": 0.20}
GAP_DAYS = 5


def _gaussian_grid(truncation: int):
    """dinosaur's triangular-truncation Gaussian grid T42 (64 x 128), T63 (96 x 192) or T85."""
    from dinosaur import spherical_harmonic

    return spherical_harmonic.Grid.construct(
        max_wavenumber=truncation, gaussian_nodes={42: 32, 63: 48, 85: 64}[truncation]
    )


def _build_model(layers: int = 12, dt_minutes: float = 20.0, truncation: int = 42, surface_height=None,
                 land_sea: dict | None = None, forcing: dict | None = None):
    """dinosaur Held-Suarez model; ``surface_height`` (m, nodal (lon, lat)) adds orography.

    ``land_sea`` (keys ``land`` (nodal (lon, lat), 0..1), ``amplitude`` (K), ``period_days``)
    adds a seasonal land-sea contrast to the forcing (:func:`_land_sea_forcing`); ``forcing``
    changes Held & Suarez's parameters (:data:`FORCING_UNITS`; :class:`World`).

    Returns a dict: ``coords``, ``specs``, ``init_fn``, ``advance(hours)`` (a jitted
    stepper), ``diagnostics`` (``OSSE_VARIABLES``), ``surface`` (tas, uas, vas) and ``orography`` (m).
    """
    import jax
    from dinosaur import coordinate_systems, scales, sigma_coordinates
    from dinosaur import primitive_equations

    coords = coordinate_systems.CoordinateSystem(
        horizontal=_gaussian_grid(truncation),
        vertical=sigma_coordinates.SigmaCoordinates.equidistant(layers),
    )
    specs = primitive_equations.PrimitiveEquationsSpecs.from_si()
    init_fn, ref_temps, orography = _rest_state(coords, specs, surface_height)
    if land_sea is not None:  # the season lives in the state's clock
        import dataclasses

        init_fn = (lambda f: lambda **kw: dataclasses.replace(f(**kw), sim_time=0.0))(init_fn)
    diagnostics, surface = _diagnostic_fns(coords, specs, ref_temps, orography)
    return dict(
        coords=coords,
        specs=specs,
        init_fn=init_fn,
        advance=_stepper(coords, specs, ref_temps, orography, dt_minutes, land_sea, forcing),
        diagnostics=jax.jit(diagnostics),
        surface=jax.jit(surface),
        orography=specs.dimensionalize(np.asarray(coords.horizontal.to_nodal(orography)), scales.units.meter).magnitude,
    )


def _rest_state(coords, specs, surface_height):
    """Isothermal rest atmosphere (initial-state function, reference temperatures, modal orography)."""
    from dinosaur import filtering, primitive_equations, primitive_equations_states, scales, xarray_utils

    units = scales.units
    if surface_height is None:
        init_fn, aux = primitive_equations_states.isothermal_rest_atmosphere(
            coords, specs, p0=1e5 * units.pascal, p1=5e3 * units.pascal
        )
        orography = primitive_equations.truncated_modal_orography(aux[xarray_utils.OROGRAPHY], coords)
        return init_fn, aux[xarray_utils.REF_TEMP_KEY], orography
    # spectrally filtered as dinosaur's own orography loader does
    modal = primitive_equations.filtered_modal_orography(
        specs.nondimensionalize(np.asarray(surface_height) * units.meter),
        coords,
        filter_fns=[filtering.exponential_filter(coords.horizontal)],
    )
    filtered = np.asarray(coords.horizontal.to_nodal(modal))
    init_fn, aux = primitive_equations_states.isothermal_rest_atmosphere(
        coords, specs, p0=1e5 * units.pascal, p1=5e3 * units.pascal,
        surface_height=specs.dimensionalize(filtered, units.meter),
    )
    return init_fn, aux[xarray_utils.REF_TEMP_KEY], modal


def _stepper(coords, specs, ref_temps, orography, dt_minutes, land_sea=None, forcing=None):
    """``advance(hours)``: a jitted function integrating Held-Suarez ``hours`` forward (IMEX RK SIL3)."""
    import jax
    from dinosaur import held_suarez, primitive_equations, scales, time_integration

    eq = primitive_equations.PrimitiveEquations(ref_temps, orography, coords, specs)
    params = {k: v * scales.units(FORCING_UNITS[k]) for k, v in (forcing or {}).items()}
    if land_sea is None:
        hs = held_suarez.HeldSuarezForcing(coords, specs, ref_temps, **params)
    else:
        hs = _land_sea_forcing(coords, specs, ref_temps, **land_sea, params=params)
    forcing = time_integration.ExplicitODE.from_functions(hs.explicit_terms)
    full = time_integration.compose_equations([eq, forcing])
    dt = specs.nondimensionalize(dt_minutes * scales.units.minute)
    step = time_integration.imex_rk_sil3(full, dt)
    step = time_integration.step_with_filters(step, [time_integration.exponential_step_filter(coords.horizontal, dt)])
    steps_per_hour = int(round(60 / dt_minutes))
    return lambda hours: jax.jit(time_integration.repeated(step, hours * steps_per_hour))


def _land_sea_forcing(coords, specs, ref_temps, land, amplitude: float, period_days: float, params=None):
    """Held & Suarez (1994) forcing plus a seasonal land-sea contrast near the surface.

    The equilibrium temperature gains, below ``sigma_b = 0.7``,

    ``dTeq = A * b(sigma) * land(x) * sin(2 pi t / P) * tanh(lat / 20 deg)``,

    ``b = (sigma - sigma_b) / (1 - sigma_b)`` (Held-Suarez's boundary-layer weight), so
    land is warmer than the sea in one hemisphere's "summer" and colder in its "winter",
    with a period ``P`` short enough that a 150-day run sees both signs. Relaxed with
    Held-Suarez's own ``k_T`` and carried by the resolved winds, the contrast reaches
    the coasts the way real near-surface contrasts do (sharp on the lee side, advected
    inland on the windward), which is what a downscaling model must learn to place. The
    state's ``sim_time`` carries the season; ``params``, Held & Suarez's parameters (pint
    quantities) where they differ from the paper's.
    """
    import dataclasses

    import jax.numpy as jnp
    from dinosaur import held_suarez, scales

    units = scales.units
    a = specs.nondimensionalize(amplitude * units.degK)
    omega = 2 * np.pi / specs.nondimensionalize(period_days * units.day)

    class LandSeaHeldSuarez(held_suarez.HeldSuarezForcingSigma):
        def explicit_terms(self, state):
            tend = super().explicit_terms(state)
            bl = np.maximum(0.0, (self.sigma - self.sigma_b) / (1 - self.sigma_b))[:, None, None]
            pattern = a * bl * np.asarray(land)[None] * np.tanh(self.lat / np.radians(20.0))[None]
            extra = self.kt() * pattern * jnp.sin(omega * state.sim_time)
            return dataclasses.replace(
                tend, temperature_variation=tend.temperature_variation + self.coords.horizontal.to_modal(extra),
                sim_time=0.0)

    return LandSeaHeldSuarez(coords, specs, ref_temps, **(params or {}))


def _diagnostic_fns(coords, specs, ref_temps, orography):
    """The OSSE state (``OSSE_VARIABLES``) and near-surface (tas [K], uas, vas [m/s]) from one modal state."""
    from dinosaur import primitive_equations, scales, spherical_harmonic, vertical_interpolation

    units, grid = scales.units, coords.horizontal

    def diagnostics(state):
        """The OSSE state, in the order of ``OSSE_VARIABLES``: z500 [m], tas [K], t850 [K], u500, v500 [m s-1]."""
        import jax.numpy as jnp

        temperature = grid.to_nodal(state.temperature_variation) + ref_temps[:, None, None]
        ps = jnp.exp(grid.to_nodal(state.log_surface_pressure))  # (1, lon, lat), nondim
        phi = primitive_equations.get_geopotential_on_sigma(
            temperature, nodal_orography=grid.to_nodal(orography), sigma=coords.vertical,
            gravity_acceleration=specs.gravity_acceleration, ideal_gas_constant=specs.ideal_gas_constant,
        )
        u, v = spherical_harmonic.vor_div_to_uv_nodal(grid, state.vorticity, state.divergence)

        def at(hpa, f):
            """``f`` on the ``hpa`` surface; below the ground (orography) the lowest model level's value."""
            level = vertical_interpolation.PressureCoordinates(
                np.array([specs.nondimensionalize(hpa * 100 * units.pascal)]))
            value = vertical_interpolation.interp_sigma_to_pressure(f, level, coords.vertical, ps)[0]
            return jnp.where(jnp.isnan(value), f[-1], value)

        ms = units.meter / units.second
        z500 = specs.dimensionalize(at(500, phi) / specs.gravity_acceleration, units.meter).magnitude
        kelvin = lambda t: specs.dimensionalize(t, units.degK).magnitude  # noqa: E731
        return (z500, kelvin(temperature[-1]), kelvin(at(850, temperature)),
                specs.dimensionalize(at(500, u), ms).magnitude, specs.dimensionalize(at(500, v), ms).magnitude)

    def surface(state):
        """(T lowest level, u, v, T second level): K, m s-1."""
        t1, t2 = (grid.to_nodal(state.temperature_variation[k]) + ref_temps[k] for k in (-1, -2))
        u, v = spherical_harmonic.vor_div_to_uv_nodal(grid, state.vorticity[-1], state.divergence[-1])
        ms = units.meter / units.second
        k = lambda t: specs.dimensionalize(t, units.degK).magnitude  # noqa: E731
        return k(t1), specs.dimensionalize(u, ms).magnitude, specs.dimensionalize(v, ms).magnitude, k(t2)

    return diagnostics, surface


#: The OSSE state: name -> (CF standard_name, units, long_name), in the order of the diagnostics.
OSSE_VARIABLES = {
    "z500": ("geopotential_height", "m", "500 hPa geopotential height"),
    "tas": ("air_temperature", "K", "air temperature on the lowest model level (sigma=0.958)"),
    "t850": ("air_temperature", "K", "850 hPa air temperature"),
    "u500": ("eastward_wind", "m s-1", "500 hPa eastward wind"),
    "v500": ("northward_wind", "m s-1", "500 hPa northward wind"),
}


#: Units of the Held & Suarez (1994) forcing parameters a :class:`World` may change (dinosaur's names): the
#: equator-pole and vertical potential-temperature contrasts, and the friction and radiative relaxation rates.
FORCING_UNITS = {"dTy": "kelvin", "dThz": "kelvin", "kf": "1/day", "ka": "1/day", "ks": "1/day"}


class World(NamedTuple):
    """A simulated world of the OSSE: a model trained on several learns less of one world's statistics
    (issue 27, item 2; real climatological anomalies are 1.4-1.6x longer than the flat Held-Suarez world's,
    ``benchmarks/results/world_statistics.md``)."""

    forcing: dict  #: Held & Suarez parameters that differ from the paper's (:data:`FORCING_UNITS`), SI magnitudes
    orography: bool = False  #: ETOPO20 cell means, spectrally filtered (as in the downscaling simulation)
    land_sea: bool = False  #: the seasonal land-sea contrast of :data:`LAND_SEA` on the ETOPO20 land fraction
    about: str = ""


#: The OSSE's worlds (``xda simulate --world``); ``hs94`` is the one every shipped model was trained in.
WORLDS = {
    "hs94": World({}, about="Held & Suarez (1994) as published: flat, zonally symmetric forcing"),
    "earth": World({}, True, True, "ETOPO20 orography and a seasonal land-sea contrast: stationary waves, storm tracks"),
    "strong-gradient": World({"dTy": 80.0}, about="equator-pole contrast 80 K (60): a winter-like, more baroclinic jet"),
    "weak-gradient": World({"dTy": 40.0}, about="equator-pole contrast 40 K (60): a summer-like, weaker jet"),
    "stable": World({"dThz": 20.0}, about="static stability 20 K (10): a longer deformation radius, broader eddies"),
}


def _world(name: str) -> World:
    """The OSSE world ``name`` (:data:`WORLDS`); an unknown name is a :class:`~xda.errors.ParameterError` listing
    the worlds."""
    if name not in WORLDS:
        raise ParameterError(f"world={name!r} is not a simulated world; use one of {', '.join(WORLDS)} "
                             "(xda.simulate.core.WORLDS)")
    return WORLDS[name]


def _osse_model(w: World) -> dict:
    """The OSSE's T42 model (:func:`_build_model`) in the world ``w``."""
    if not (w.orography or w.land_sea):
        return _build_model(forcing=w.forcing)
    _, _, orog, land = _surface(42)
    return _build_model(surface_height=orog.T if w.orography else None,
                        land_sea=dict(LAND_SEA, land=land.T) if w.land_sea else None, forcing=w.forcing)


def _surface(truncation: int) -> tuple:
    """(lat, lon, ETOPO20 cell-mean altitude (m), land fraction), (lat, lon), on the T``truncation`` Gaussian grid."""
    from ..labeled.static import land_area_fraction, surface_altitude

    grid = _gaussian_grid(truncation)
    lat, lon = np.degrees(grid.latitudes), np.degrees(grid.longitudes)
    return lat, lon, surface_altitude(lat, lon), land_area_fraction(lat, lon)


def _split_labels(n: int, per_day: int) -> np.ndarray:
    """train / validation / test blocks in time order, with GAP_DAYS of 'gap' between."""
    labels = np.empty(n, dtype=object)
    gap = GAP_DAYS * per_day
    usable = n - 2 * gap
    edges = np.cumsum([0] + [int(round(f * usable)) for f in SPLITS.values()])
    edges[-1] = usable
    start = 0
    for k, name in enumerate(SPLITS):
        size = edges[k + 1] - edges[k]
        labels[start : start + size] = name
        start += size
        if k < len(SPLITS) - 1:
            labels[start : start + gap] = "gap"
            start += gap
    return labels


def _spin_up(m: dict, seed: int, days: int, t0: float, check: bool = False):
    """The model's rest state with seeded noise, integrated ``days`` (in 10-day jumps)."""
    import jax

    state = m["init_fn"](rng_key=jax.random.PRNGKey(seed))
    spin = m["advance"](24 * 10)
    for k in range(days // 10):
        state = spin(state)
        if check:
            t = np.asarray(m["surface"](state)[0])
            log.info(f"spin-up day {10 * (k + 1)}: tas {t.min():.1f}..{t.max():.1f} K, {_time.perf_counter() - t0:.0f} s")
            if not np.isfinite(t).all():
                raise FloatingPointError("the simulation blew up; lower dt_minutes")
    log.info(f"spin-up {days} d: {_time.perf_counter() - t0:.0f} s")
    return state


def _run(m: dict, state, n: int, interval_hours: int, keep, t0: float) -> list:
    """``keep(state)`` every ``interval_hours`` for ``n`` intervals."""
    from tqdm.auto import tqdm

    step, out = m["advance"](interval_hours), []
    for k in tqdm(range(n), desc="simulation", unit="interval", disable=None):  # off when not a TTY
        state = step(state)
        out.append(keep(state))
        if k % 100 == 0:
            log.info(f"interval {k}/{n}: {_time.perf_counter() - t0:.0f} s")
    return out


class ForecastPlan(NamedTuple):
    """How the backgrounds are made: the states' spacing (h), the leads to draw from (h), the perturbation size and
    how many forecasts go through ``vmap`` at once."""

    interval_hours: int
    leads: tuple
    alpha: float
    batch: int


def _forecast_backgrounds(m: dict, states: list, labels: np.ndarray, plan: ForecastPlan, rng, t0: float):
    """Backgrounds: forecasts of a random lead (hours, one of ``plan.leads``) from perturbed truth states.

    For each target time ``t`` the truth at ``t - lead`` is perturbed by
    ``alpha * (x(t1) - x(t2))`` with t1, t2 random times of the same split, then
    integrated ``lead`` hours forward (forecasts of one lead are batched with ``vmap``).
    Returns (targets, lead per target, truth, background), the last two tuples in the order of
    ``OSSE_VARIABLES``.
    """
    import dataclasses

    import jax

    interval_hours, leads, alpha, batch = plan
    stack = lambda xs: jax.tree.map(lambda *a: np.stack(a), *xs)  # noqa: E731
    diag = jax.jit(jax.vmap(m["diagnostics"]))
    if any(h <= 0 or h % interval_hours for h in leads):
        raise ParameterError(f"background leads {leads} h must be positive multiples of interval_hours={interval_hours}")
    steps = {h: h // interval_hours for h in leads}
    targets = np.arange(max(steps.values()), len(states))
    lead = rng.choice(np.asarray(leads), size=len(targets))
    background = np.empty(len(targets), object)
    for h in leads:
        forecast = jax.jit(jax.vmap(m["advance"](h)))
        idx = np.flatnonzero(lead == h)
        for k in range(0, len(idx), batch):
            starts = []
            for t in targets[idx[k : k + batch]]:
                i, j = rng.choice(np.flatnonzero(labels == labels[t]), size=2, replace=False)
                start = jax.tree.map(lambda a, b, c: a + alpha * (b - c), states[t - steps[h]], states[i], states[j])
                if getattr(start, "sim_time", None) is not None:  # the clock (a world's season) is not perturbed
                    start = dataclasses.replace(start, sim_time=states[t - steps[h]].sim_time)
                starts.append(start)
            fields = jax.device_get(diag(forecast(stack(starts))))
            for n, q in enumerate(idx[k : k + batch]):
                background[q] = tuple(f[n] for f in fields)
        log.info(f"forecasts of {h} h ({len(idx)}): {_time.perf_counter() - t0:.0f} s")
    truth = jax.device_get(diag(stack([states[t] for t in targets])))
    return targets, lead, truth, tuple(np.stack([b[v] for b in background]) for v in range(len(truth)))


def _coords(grid, hours: np.ndarray) -> dict:
    return {
        "time": ("time", hours.astype(np.float64), {"units": "hours since 0001-01-01", "calendar": "360_day"}),
        "lat": ("lat", np.degrees(grid.latitudes), {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", np.degrees(grid.longitudes), {"units": "degrees_east", "standard_name": "longitude"}),
    }


def _write(ds, out, t0: float) -> Path:
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    log.info(f"wrote {out} ({ds.sizes['time']} times): {_time.perf_counter() - t0:.0f} s")
    return out


def simulate(
    out: Path,
    days: int = 200,
    spinup_days: int = 120,
    interval_hours: int = 12,
    alpha: float = 0.2,
    seed: int = 0,
    batch: int = 8,
    leads: tuple = (24,),
    world: str = "hs94",
) -> Path:
    """Run the Held-Suarez OSSE simulation and write it to ``out`` (netCDF).

    ``world`` (:data:`WORLDS`): the forcing and surface (default Held & Suarez (1994), flat),
    recorded in the attributes ``world`` and ``world_about``. Truth every
    ``interval_hours`` after ``spinup_days``; backgrounds are forecasts of a
    random lead in ``leads`` (hours, multiples of ``interval_hours``) from perturbed truth
    states (:func:`_forecast_backgrounds`), the lead stored in ``lead_hours``; ``split`` labels by
    :func:`_split_labels`. Variables ``<v>_truth`` and ``<v>_background`` for each ``v`` of
    ``OSSE_VARIABLES`` (z500 m, tas K, t850 K, u500 and v500 m s-1), (time, lat, lon), latitude ascending.
    """
    w = _world(world)  # an unknown name fails before jax is imported
    import jax
    import xarray as xr

    t0 = _time.perf_counter()
    m = _osse_model(w)
    state = _spin_up(m, seed, spinup_days, t0, check=w.orography)
    per_day = 24 // interval_hours
    states = _run(m, state, days * per_day, interval_hours, jax.device_get, t0)
    labels = _split_labels(len(states), per_day)
    targets, lead, truth, background = _forecast_backgrounds(m, states, labels,
                                                             ForecastPlan(interval_hours, tuple(leads), alpha, batch),
                                                             np.random.default_rng(seed), t0)
    # dinosaur's nodal arrays are (lon, lat); store (time, lat, lon) with lat ascending
    tr = lambda a: (("time", "lat", "lon"), np.asarray(a, np.float32).transpose(0, 2, 1))  # noqa: E731
    fields = {f"{v}_{kind}": tr(a[k]) for k, v in enumerate(OSSE_VARIABLES) for kind, a in (("truth", truth), ("background", background))}
    ds = xr.Dataset(
        {**fields, "split": ("time", labels[targets].astype(str)),
         "lead_hours": ("time", lead.astype(np.int32), {"long_name": "forecast lead time of the background", "units": "hours"})},
        coords=_coords(m["coords"].horizontal, (targets + 1) * interval_hours),
        attrs={
            "title": "Held-Suarez OSSE: truth and forecast backgrounds of several leads (xda.simulate)",
            "model": "dinosaur primitive equations, T42 L12 sigma, dt 20 min, Held & Suarez (1994) forcing"
                     + "".join(f", {k}={v:g} {FORCING_UNITS[k]}" for k, v in w.forcing.items())
                     + (", ETOPO20 orography" if w.orography else "")
                     + (f", a seasonal land-sea contrast {LAND_SEA}" if w.land_sea else ""),
            "world": world, "world_about": w.about,
            "spinup_days": spinup_days,
            "seed": seed,
            "background": (f"forecast of lead L (lead_hours, random in {list(leads)} h) from truth(t-L) + {alpha} * "
                           "(x(t1) - x(t2)), t1,t2 random in the same split"),
        },
    )
    for v, (sn, u, ln) in OSSE_VARIABLES.items():
        for kind in ("truth", "background"):
            ds[f"{v}_{kind}"].attrs.update(standard_name=sn, units=u, long_name=f"{ln} ({kind})")
    return _write(ds, out, t0)


#: Seasonal land-sea contrast of the downscaling simulation: amplitude (K) and period (days).
LAND_SEA = {"amplitude": 16.0, "period_days": 60.0}
#: Height of the near-surface temperature above the ground, m.
SCREEN_HEIGHT = 2.0


def simulate_downscaling(
    out: Path,
    days: int = 150,
    spinup_days: int = 60,
    interval_hours: int = 6,
    truncation: int = 63,
    dt_minutes: float = 15.0,
    seed: int = 0,
) -> Path:
    """Held-Suarez with real orography and land-sea contrast: near-surface training fields.

    Writes, every ``interval_hours`` on the T``truncation`` Gaussian grid (T63: 96 x 192,
    the grid of the MPI-ESM sample), with train / validation / test labels disjoint in
    time (5-day gaps):

    * ``tas`` (K): air temperature 2 m above the model's ground (:func:`screen_temperature`),
    * ``uas``, ``vas`` (m s-1): winds on the lowest model level (sigma = 0.958),
    * ``orog`` (m): the ETOPO20 cell-mean surface altitude that users will pass,
      ``orog_model``: the spectrally filtered orography the model used,
    * ``sftlf`` (1): the ETOPO20 land area fraction, which carries the seasonal land-sea
      contrast of the forcing (:func:`_land_sea_forcing`, :data:`LAND_SEA`).
    """
    t0 = _time.perf_counter()
    lat, lon, orog, land = _surface(truncation)
    m = _build_model(truncation=truncation, dt_minutes=dt_minutes, surface_height=orog.T,
                     land_sea=dict(LAND_SEA, land=land.T))
    state = _spin_up(m, seed, spinup_days, t0, check=True)
    per_day = 24 // interval_hours
    keep = lambda st: [np.asarray(a, np.float32).T for a in m["surface"](st)]  # noqa: E731
    t1, uas, vas, t2 = (np.stack(f) for f in zip(*_run(m, state, days * per_day, interval_hours, keep, t0)))
    if not np.isfinite(t1).all():
        raise FloatingPointError("the simulation blew up; lower dt_minutes")
    orog_model = np.asarray(m["orography"], np.float32).T
    sigma = np.asarray(m["coords"].vertical.centers)
    tas = screen_temperature(t1, t2, sigma[-1], sigma[-2])
    labels = _split_labels(len(tas), per_day)
    ds = _downscaling_dataset(tas, uas, vas, orog, orog_model, land, labels,
                              _coords(m["coords"].horizontal, (np.arange(len(tas)) + 1) * interval_hours))
    ds.attrs.update(model=f"dinosaur primitive equations, T{truncation} L12 sigma, dt {dt_minutes} min, "
                          f"Held & Suarez (1994) forcing with a seasonal land-sea contrast {LAND_SEA}",
                    spinup_days=spinup_days, seed=seed)
    return _write(ds, out, t0)


def screen_temperature(t1, t2, sigma1: float, sigma2: float, height: float = SCREEN_HEIGHT,
                       bounds=(-9.8e-3, 1e-2)):
    """Temperature ``height`` above the model's ground from its two lowest levels.

    The lowest level sits ``z1 = R T1 / g ln(1/sigma1)`` above the ground (hypsometric,
    ~350 m), the second ``z2 = z1 + R (T1 + T2) / 2g ln(sigma1/sigma2)``; the
    simulation's own local lapse rate ``(T2 - T1) / (z2 - z1)`` (clipped to ``bounds``,
    K m-1: dry adiabatic to a strong inversion) carries ``T1`` down to ``height``. This
    is how models derive screen-level temperature when the surface layer is not
    resolved, and it gives the target a lapse rate that varies in space and time. The
    ground is the model's (spectrally filtered) orography, smoother than the ETOPO cell
    means the downscaling model is given, as the ground of every climate model or
    reanalysis a user downscales is: the network learns how much of the ETOPO detail
    such a field follows.

    Parameters
    ----------
    t1, t2 : ndarray (..., y, x), K
    sigma1, sigma2 : float
        Sigma of the lowest and second-lowest level.
    height : float
        Metres above the ground.

    Returns
    -------
    ndarray like ``t1``, K (float32).
    """
    from ..numerics.constants import GRAVITY as G, R_DRY

    z1 = R_DRY * t1 / G * np.log(1.0 / sigma1)
    z2 = z1 + R_DRY * 0.5 * (t1 + t2) / G * np.log(sigma1 / sigma2)
    gamma = np.clip((t2 - t1) / (z2 - z1), *bounds)
    return (t1 + gamma * (height - z1)).astype(np.float32)


def _downscaling_dataset(tas, uas, vas, orog, orog_model, land, labels, coords):
    import xarray as xr

    dims = ("time", "lat", "lon")
    level = "on the lowest model level (sigma=0.958)"
    return xr.Dataset(
        {
            "tas": (dims, tas, {"units": "K", "standard_name": "air_temperature",
                                "long_name": "air temperature 2 m above the model's ground (xda.simulate.core.screen_temperature)"}),
            "uas": (dims, uas, {"units": "m s-1", "standard_name": "eastward_wind", "long_name": f"eastward wind {level}"}),
            "vas": (dims, vas, {"units": "m s-1", "standard_name": "northward_wind", "long_name": f"northward wind {level}"}),
            "orog": (("lat", "lon"), orog.astype(np.float32), {"units": "m", "standard_name": "surface_altitude",
                     "long_name": "ETOPO20 cell-mean surface altitude (xda.static.surface_altitude)"}),
            "orog_model": (("lat", "lon"), orog_model, {"units": "m", "long_name": "spectrally filtered orography the model used"}),
            "sftlf": (("lat", "lon"), land.astype(np.float32), {"units": "1", "standard_name": "land_area_fraction",
                      "long_name": "ETOPO20 land area fraction (xda.static.land_area_fraction)"}),
            "split": ("time", labels.astype(str)),
        },
        coords=coords,
        attrs={"title": "Held-Suarez with ETOPO20 orography and a seasonal land-sea contrast: near-surface fields "
                        "for downscaling (xda.simulate)"},
    )


if __name__ == "__main__":  # python -m xda.simulate.core ...: the xda command's parser (xda simulate --help)
    from ..cli import main

    raise SystemExit(main(["simulate", *sys.argv[1:]]))
