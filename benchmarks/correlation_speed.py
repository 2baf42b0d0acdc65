"""Speed of the correlation kernels (:mod:`xda.numerics.correlations`) against the whole-array form, in one run.

    python benchmarks/correlation_speed.py [--grid 64 128] [--obs 828] [--repeat 7]

The two places the OI and the search for ``B`` evaluate correlation functions:

* a grid's correlations with every observation (64 x 128 points, 10 % observed: 8192 x 828),
  once per analysis: from the distances, and from the positions (:func:`correlation_between`, which
  computes the distances in the same pass, against ``chordal_distance`` then the correlations);
* ``K = S rho S + R`` of 800 observations and its derivative in ``log L``, once per
  likelihood evaluation of the B search (81 of them in a 10 % analysis).

Reference, measured in the same run: :mod:`xda.numerics.reference` (numpy, in place, the
implementation before the kernels) followed by the scaling by ``s`` and the diagonal ``R``.
A Cholesky factor of the same ``K`` (LAPACK) is timed for scale. Prints milliseconds (minimum
of ``--repeat``) and speed-ups; writes benchmarks/results/correlation_speed.txt.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import scipy.linalg

from xda.numerics import correlations, oi, reference

RESULTS = Path(__file__).resolve().parent / "results" / "correlation_speed.txt"


def best(fn, repeat: int) -> float:
    fn()  # compiled or cached kernels, warm caches
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * min(ts)


def reference_k(dist, length, kind, s, e, derivative=False):
    rho = (reference.correlation_dlogl if derivative else reference.correlation)(dist, length, kind)
    return oi.covariance_of(rho, s, np.zeros_like(e) if derivative else e)


def rows(a) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(-87.9, 87.9, a.grid[0]), np.arange(a.grid[1]) * 360.0 / a.grid[1]
    gxyz = oi.unit_vectors(*np.meshgrid(lat, lon, indexing="ij"))
    oxyz = gxyz[rng.choice(len(gxyz), a.obs, replace=False)]
    d_go, d_oo = oi.chordal_distance(gxyz, oxyz), oi.chordal_distance(oxyz[:800], oxyz[:800])
    s, e = rng.uniform(10, 40, len(d_oo)), np.full(len(d_oo), 10.0)
    out = []
    for kind in correlations.KINDS:
        out.append((f"grid x obs correlations ({d_go.shape[0]} x {d_go.shape[1]}), {kind}",
                    best(lambda: correlations.correlation(d_go, 1e6, kind), a.repeat),
                    best(lambda: reference.correlation(d_go, 1e6, kind), a.repeat)))
    for kind in correlations.KINDS:
        out.append((f"the same from positions (+ distances), {kind}",
                    best(lambda: correlations.correlation_between(gxyz, oxyz, 1e6, kind), a.repeat),
                    best(lambda: reference.correlation(oi.chordal_distance(gxyz, oxyz), 1e6, kind), a.repeat)))
    for kind in correlations.KINDS:
        out.append((f"K = S rho S + R ({len(d_oo)}), {kind}",
                    best(lambda: correlations.covariance_matrix(d_oo, 1e6, kind, s, e), a.repeat),
                    best(lambda: reference_k(d_oo, 1e6, kind, s, e), a.repeat)))
        out.append((f"dK / d log L ({len(d_oo)}), {kind}",
                    best(lambda: correlations.covariance_matrix(d_oo, 1e6, kind, s, derivative=True), a.repeat),
                    best(lambda: reference_k(d_oo, 1e6, kind, s, e, derivative=True), a.repeat)))
    k = correlations.covariance_matrix(d_oo, 1e6, "soar", s, e)
    out.append((f"for scale: Cholesky of K ({len(d_oo)})", best(lambda: scipy.linalg.cho_factor(k, lower=True), a.repeat),
                float("nan")))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, nargs=2, default=[64, 128])
    p.add_argument("--obs", type=int, default=828)
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()
    from xda.numerics import threads

    lines = [f"correlation kernels vs the whole-array numpy form, {datetime.date.today()}, {threads.describe()}",
             f"| {'what':52s} | xda (ms) | numpy (ms) | speed-up |", f"|{'-' * 54}|----------|------------|----------|"]
    for what, ours, ref in rows(a):
        lines.append(f"| {what:52s} | {ours:8.2f} | {ref:10.2f} | {ref / ours:8.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
