#!/usr/bin/env bash
# From simulation to the shipped assimilation weights (xda/weights/hs-t42-v2.*), on CPU.
# Budget on 2 CPU cores: 2 x 37 min of simulation, 4 + 38 min for stage 1, 8 + 40 min for
# stage 2 (about 3 h 20 min). Under `torchrun --nproc_per_node N` each training stage uses DDP.
# Needs the simulation extra: pip install -e ".[simulate]"
set -euo pipefail
C=${XDA_CACHE:-$HOME/.cache/xda}
mkdir -p "$C"
for seed in 0 1; do
  f="$C/hs_t42_leads_s$seed.nc"
  [ -f "$f" ] || python -m xda.simulate --out "$f" --days 120 --interval-hours 6 --leads 6,12,24,48,72 --seed "$seed"
done
# stage 1: one seed, from scratch
python -m xda.training "$C/hs_t42_leads_s0.nc" --minutes 38 --cases 2400 --batch 12 --seed 0 \
  --name hs-t42-v1 --out "$C/weights" --bank "$C/bank_v1.npz"
# stage 2: both seeds, continued from stage 1
python -m xda.training "$C/hs_t42_leads_s0.nc" "$C/hs_t42_leads_s1.nc" --minutes 40 --cases 4800 --batch 12 \
  --seed 1 --lr 2e-4 --init "$C/weights/hs-t42-v1.safetensors" --name hs-t42-v2 --out xda/weights --bank "$C/bank_v2.npz"
