#!/usr/bin/env bash
# From simulation to the shipped downscaling weights (xda/weights/hs-t63-ds-v1.* and hs-t63-ds-v2.*), on CPU.
# Budget on 2 CPU cores: ~25 + 15 min of simulation (T63; seed 0: 60 + 100 days, seed 1: 40 + 80),
# 12 min regressor + 14 min denoiser, then the ablation denoiser (same steps) without the
# physics loss (about 80 min in all). Needs the simulation extra: pip install -e ".[simulate]"
set -euo pipefail
C=${XDA_CACHE:-$HOME/.cache/xda}
mkdir -p "$C"
for seed in 0 1; do
  f="$C/hs_t63_ls_s$seed.nc"
  days=$((seed == 0 ? 100 : 80)); spin=$((seed == 0 ? 60 : 40))
  [ -f "$f" ] || python -m xda.simulate --kind downscaling --days $days --spinup-days $spin --seed "$seed" --out "$f"
done
python -m xda.training.downscaling "$C/hs_t63_ls_s0.nc" "$C/hs_t63_ls_s1.nc" --name hs-t63-ds-v1 \
  --minutes-regressor 12 --minutes-denoiser 14 --pde-weight 1.0 --seed 0 --out xda/weights
# the ablation: the same regression, a denoiser trained without the physics loss
python -m xda.training.downscaling "$C/hs_t63_ls_s0.nc" "$C/hs_t63_ls_s1.nc" --name hs-t63-ds-v1-nopde \
  --stages denoiser --minutes-denoiser 30 --max-steps 1346 --pde-weight 0 --seed 0 \
  --init xda/weights/hs-t63-ds-v1.safetensors \
  --out "$C/weights"
# hs-t63-ds-v2 (the default since issue 24, item 5): v1's two networks plus a mean head, the sampler's own mean
# distilled (stage mean_head: half the budget drawing batches of seed 0's first 60 days and their members' mean,
# half fitting the head). ~9 min of simulation and 40 min of training on 2 CPU cores.
C60="$C/s0_60d"
mkdir -p "$C60"
[ -f "$C60/hs_t63_ls_s0.nc" ] || python -m xda.simulate --kind downscaling --days 60 --spinup-days 60 --seed 0 --out "$C60/hs_t63_ls_s0.nc"
python -m xda.training.downscaling "$C60/hs_t63_ls_s0.nc" --name hs-t63-ds-v2 --stages mean_head \
  --minutes-mean-head 40 --mean-head-members 4 --seed 1 --init xda/weights/hs-t63-ds-v1.safetensors --out xda/weights
