#!/usr/bin/env bash
# Issue 27, items 2 and 5: the anchored assimilation model trained on several simulated worlds, sized for a GPU.
#
# Every OSSE world of `xda simulate --world` (xda.simulate.core.WORLDS) x 2 seeds, 120 days each, their
# background-error statistics next to the real archives' (benchmarks/world_statistics.py), then hs-t42-v2
# continued on all of them with the cases users meet (misspecified B, windowed climatologies), then the real-data
# check of its full-weight correction (benchmarks/evaluate_misspecified.py).
#
# Budget on 2 CPU cores: ~37 min per simulation (10 runs, ~6 h), ~25 min for the bank, MINUTES of training.
# On a GPU (`device`), dinosaur and the training run there; nothing else changes. A 40-day CPU pilot of this chain
# (3 worlds, 35 minutes) is in benchmarks/results/world_statistics.md and misspecified_worlds.md.
# Needs the simulation extra: pip install -e ".[simulate]"
set -euo pipefail
C=${XDA_CACHE:-$HOME/.cache/xda}
MINUTES=${MINUTES:-60}
DAYS=${DAYS:-120}
mkdir -p "$C/weights"
files=()
seed=10
for world in hs94 earth strong-gradient weak-gradient stable; do
  for k in 0 1; do
    f="$C/hs_t42_${world}_s$seed.nc"
    [ -f "$f" ] || python -m xda.simulate --world "$world" --seed "$seed" --out "$f" --days "$DAYS" \
      --spinup-days 120 --interval-hours 6 --leads 6,12,24,48,72
    files+=("$f")
    seed=$((seed + 1))
  done
done
python benchmarks/world_statistics.py "${files[@]}"
python -m xda.training "${files[@]}" --init xda/weights/hs-t42-v2.safetensors --minutes "$MINUTES" --cases 24000 \
  --batch 32 --lr 1e-4 --seed 5 --misspecified 0.5 --climatology-days all,30,10 --name hs-t42-worlds \
  --out "$C/weights" --bank "$C/bank_worlds.npz"
python benchmarks/evaluate_misspecified.py --candidate "$C/weights/hs-t42-worlds.safetensors" \
  --out benchmarks/results/misspecified_worlds.md
