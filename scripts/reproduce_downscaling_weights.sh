#!/usr/bin/env bash
# From simulation to the shipped downscaling weights (xda/weights/hs-t63-ds-v1.*), on CPU.
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
