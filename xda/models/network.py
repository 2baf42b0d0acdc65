"""A small conditional U-Net denoiser backbone, periodic in longitude when the grid wraps.

Fully convolutional, so one set of weights runs on global and regional grids of any
size (inputs are padded to a multiple of 8 and cropped back). Noise level and
variable are injected by FiLM (scale and shift of each residual block's features).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _pad(x: torch.Tensor, periodic: bool) -> torch.Tensor:
    """Pad by one cell for a 3x3 conv: circular in longitude if periodic, else replicate; replicate in latitude.

    One padded copy, the wrapped columns written into it (half the time of a circular pad followed by a
    replicate pad, the same values and gradients)."""
    y = F.pad(x, (1, 1, 1, 1), mode="replicate")
    if periodic:  # the replicated rows' last and first columns are the wrapped ones, corners included
        y[..., 0] = y[..., -2]
        y[..., -1] = y[..., 1]
    return y


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= 8 that divides ``channels`` (8 for the shipped widths;
    any width, e.g. 4 or 12, builds)."""
    return nn.GroupNorm(max(g for g in range(1, 9) if channels % g == 0), channels)


class Conv3(nn.Conv2d):
    def __init__(self, cin, cout):
        super().__init__(cin, cout, 3, padding=0)

    def forward(self, x, periodic: bool):  # type: ignore[override]
        return super().forward(_pad(x, periodic))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.n1 = group_norm(cin)
        self.c1 = Conv3(cin, cout)
        self.film = nn.Linear(emb, 2 * cout)
        self.n2 = group_norm(cout)
        self.c2 = Conv3(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e, periodic):
        h = self.c1(F.silu(self.n1(x)), periodic)
        if e is None:  # no conditioning vector (autoencoder blocks)
            h = F.silu(self.n2(h))
        else:
            scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
            h = F.silu(self.n2(h) * (1 + scale) + shift)
        return self.skip(x) + self.c2(h, periodic)


class UNet(nn.Module):
    """U-Net ``F(x_in, c_noise, variable) -> output`` with 3 down/up levels.

    Parameters
    ----------
    in_channels, out_channels : int
    channels : tuple of int
        Width at each resolution level.
    n_variables : int
        Number of variables for the learned variable embedding.
    """

    def __init__(self, in_channels: int, out_channels: int = 1, channels=(32, 64, 96, 128), n_variables: int = 2, emb: int = 128):
        super().__init__()
        self.emb_dim = emb
        self.var_emb = nn.Embedding(n_variables, emb)
        self.noise_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = Conv3(in_channels, channels[0])
        self.down = nn.ModuleList()
        c = channels[0]
        skips = []
        for k, ch in enumerate(channels):
            self.down.append(ResBlock(c, ch, emb))
            c = ch
            skips.append(c)
        self.mid = ResBlock(c, c, emb)
        self.up = nn.ModuleList()
        for ch in reversed(channels):
            self.up.append(ResBlock(c + skips.pop(), ch, emb))
            c = ch
        self.out_norm = group_norm(c)
        self.out = Conv3(c, out_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, c_noise: torch.Tensor, variable: torch.Tensor) -> torch.Tensor:
        half = self.emb_dim // 2
        freqs = torch.exp(-math.log(1e4) * torch.arange(half, device=c_noise.device) / half)
        ang = c_noise[:, None] * 100 * freqs[None]  # c_noise is ln(sigma)/4, O(1)
        f = torch.cat([ang.cos(), ang.sin()], dim=1)
        return F.silu(self.noise_mlp(f) + self.var_emb(variable))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, variable: torch.Tensor, periodic: bool) -> torch.Tensor:
        ny, nx = x.shape[-2:]
        py, px = (-ny) % 8, (-nx) % 8
        if py or px:
            x = F.pad(x, (0, px, 0, py), mode="replicate")
        e = self.embed(c_noise, variable)
        per = periodic and not px
        h = self.inp(x, per)
        hs = []
        for k, blk in enumerate(self.down):
            h = blk(h, e, per)
            hs.append(h)
            if k < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        h = self.mid(h, e, per)
        for k, blk in enumerate(self.up):
            skip = hs.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = blk(torch.cat([h, skip], dim=1), e, per)
        h = self.out(F.silu(self.out_norm(h)), per)
        return h[..., :ny, :nx]
