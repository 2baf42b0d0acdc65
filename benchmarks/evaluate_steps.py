"""Fewer sampler steps at equal CRPS and spread-skill: the members of 16 Heun steps (31 denoiser evaluations)
against fewer, on real cases, in one run.

    python benchmarks/evaluate_steps.py [--steps 16 6 4] [--members 8]

Assimilation: the blizzard surface temperature with its 24-h-old background, 2 % and 10 % observed
(``evaluate_spread.py``'s cases: 20 analyses each, scored at the withheld points). Downscaling: the
MPI-ESM European crop and the blizzard's surface temperature, x2 and x4 (``evaluate_downscaling.py``'s
cases). Members recentred on the estimate (the default), scored with the recentred estimators. Writes
benchmarks/results/steps.md with each row's CRPS and spread-skill and their ratio to the first
``--steps`` value's.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_downscaling import blizzard_case, esm_cases, run_case  # noqa: E402
from evaluate_spread import score_members  # noqa: E402

warnings.filterwarnings("ignore")


def assimilation_rows(steps: int, members: int) -> list:
    out = []
    for density in (0.02, 0.10):
        rows, attrs, _, _ = score_members(density, members, 20, steps)
        out.append((f"assimilate, blizzard T, {density:.0%} observed", float(rows[0][2]), float(rows[0][1])))
    return out


def downscaling_rows(steps: int, members: int) -> list:
    cases = {"MPI-ESM tas, Europe": esm_cases()["MPI-ESM tas, Europe"], "blizzard surface T": blizzard_case()}
    out = []
    for label, data in cases.items():
        for factor in (2, 4):
            rows: list = []
            run_case(label, data, factor, members, steps, rows, classical=False)
            ens = next(r for r in rows if r["method"].startswith("xda, mean of"))
            out.append((f"downscale, {label}, x{factor}", ens["crps"], ens["spread_skill"]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[16, 6, 4])
    p.add_argument("--members", type=int, default=8)
    a = p.parse_args()
    t0 = time.perf_counter()
    runs = {s: assimilation_rows(s, a.members) + downscaling_rows(s, a.members) for s in a.steps}
    ref = runs[a.steps[0]]
    head = " | ".join(f"{s} steps ({2 * s - 1} evals): CRPS, ratio, spread-skill" for s in a.steps)
    lines = ["# Sampler steps at equal skill", "",
             f"`python benchmarks/evaluate_steps.py --steps {' '.join(map(str, a.steps))} --members {a.members}` "
             f"({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s, 2 CPU cores). CRPS in K (recentred "
             f"estimators), its ratio to {a.steps[0]} steps', and spread-skill.", "",
             f"| case | {head} |", "|---|" + "---|" * len(a.steps)]
    for i, (name, *_rest) in enumerate(ref):
        cells = [f"{runs[s][i][1]:.3f}, {runs[s][i][1] / ref[i][1]:.3f}, {runs[s][i][2]:.2f}" for s in a.steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "results" / "steps.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
