#!/usr/bin/env bash
# From simulation to the multivariate assimilation weights of issue 11 (xda/weights/hs-t42-mv-*), on CPU.
# Budget on 2 CPU cores: ~25 min of simulation, ~8 min of training cases (shared by the variants),
# then 10 min per variant (15 for the latent one). Needs the simulation extra: pip install -e ".[simulate]"
set -euo pipefail
C=${XDA_CACHE:-$HOME/.cache/xda}
OUT=${XDA_OUT:-xda/weights}
mkdir -p "$C"
f="$C/hs_t42_mv_s0.nc"
[ -f "$f" ] || python -m xda.simulate --out "$f" --days 120 --interval-hours 6 --leads 6,12,24 --seed 0
common=(--minutes 10 --cases 1200 --batch 12 --seed 0 --out "$OUT" --bank "$C/bank_mv.npz")
python -m xda.training.joint "$f" "${common[@]}" --name hs-t42-mv-v1                       # analytic encoder
python -m xda.training.joint "$f" "${common[@]}" --name hs-t42-mv-prdo-v1 --physics-weight 0.5  # + PRDO
python -m xda.training.joint "$f" "${common[@]}" --name hs-t42-mv-vre-v1 --encoder vre        # VRE encoder
python -m xda.training.latent "$f" --out "$OUT" --bank "$C/bank_mv.npz" --cases 1200 --name hs-t42-mv-latent-v1 \
  --ae-minutes 5 --minutes 10                                                                  # latent + LO-SDA
python benchmarks/evaluate_joint.py --sim "$f" --model hs-t42-mv-v1 --model hs-t42-mv-prdo-v1 --model hs-t42-mv-vre-v1 \
  --model hs-t42-mv-latent-v1 --n-times 6 --members 4                                          # ~21 min
