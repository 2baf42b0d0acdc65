"""Model cards, weight files and the cache of loaded models.

A model is two files in ``xda/weights`` (or in ``$XDA_WEIGHTS_DIR``):
``<name>.safetensors`` (tensors only, never pickle) and ``<name>.json``, the model
card: variables with units and CF standard names, normalisation, background-error
statistics of the training data, grid, training data and command, and the sha256 of
the weight file, checked at load. Loading needs no network.

Loaded models are cached per ``(name, device, dtype)``: repeated calls reuse the
module, which stays on the GPU when there is one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..errors import ModelError
from .diffusion import Denoiser

_CACHE: dict[tuple[str, str, torch.dtype], tuple[torch.nn.Module, dict]] = {}

DEFAULT_MODEL = "hs-t42-v0"
DEFAULT_DOWNSCALING_MODEL = "hs-t63-ds-v0"


def weights_dirs() -> list[Path]:
    """Where weight files are looked up: ``$XDA_WEIGHTS_DIR`` first, then the package."""
    dirs = []
    if os.environ.get("XDA_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["XDA_WEIGHTS_DIR"]).expanduser())
    dirs.append(Path(__file__).resolve().parent.parent / "weights")
    return dirs


def available_models() -> list[str]:
    """Names of the models whose card and weights can be found."""
    names = set()
    for d in weights_dirs():
        for card in d.glob("*.json"):
            if card.with_suffix(".safetensors").exists():
                names.add(card.stem)
    return sorted(names)


def _find(name: str) -> Path:
    for d in weights_dirs():
        if (d / f"{name}.json").exists() and (d / f"{name}.safetensors").exists():
            return d / name
    raise ModelError(
        f"no model named {name!r}; available: {available_models()}. "
        "Train one with `xda.train(...)` and put it in $XDA_WEIGHTS_DIR."
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_card(name: str = DEFAULT_MODEL) -> dict:
    """The model card (a dict) of a model."""
    return json.loads(_find(name).with_suffix(".json").read_text())


def load_model(name: str = DEFAULT_MODEL, device=None, dtype=torch.float32) -> tuple[torch.nn.Module, dict]:
    """Load (or fetch from the cache) a denoiser and its card.

    Parameters
    ----------
    name : str
        Model name (see :func:`available_models`).
    device : str or torch.device, optional
        Defaults to CUDA when available, else CPU.
    dtype : torch.dtype

    Returns
    -------
    (Module, dict)
        The module (a :class:`Denoiser` or, for ``kind: downscaling`` cards, a
        :class:`~xda.models.downscaling.Downscaler`) in eval mode on ``device`` and the model card.

    Raises
    ------
    ModelError
        If the model is unknown, its weight file does not match the card's sha256, or
        a CUDA device is requested where there is none.
    """
    from safetensors.torch import load_file

    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"device={str(device)!r} was requested but torch sees no CUDA GPU; leave `device` unset "
            "(CUDA when present, else CPU) or pass device='cpu'"
        )
    key = (name, str(device), dtype)
    if key in _CACHE:
        return _CACHE[key]
    base = _find(name)
    card = json.loads(base.with_suffix(".json").read_text())
    wfile = base.with_suffix(".safetensors")
    digest = sha256(wfile)
    if card.get("sha256") and card["sha256"] != digest:
        raise ModelError(f"weight file {wfile} does not match the sha256 in its card; reinstall or retrain {name!r}")
    model = _build(card)
    model.load_state_dict({k: v.float() for k, v in load_file(wfile).items()})
    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    _CACHE[key] = (model, card)
    return model, card


def _build(card: dict) -> torch.nn.Module:
    """An untrained module of the architecture a card describes."""
    if card.get("kind", "assimilation") == "downscaling":
        from .downscaling import Downscaler

        return Downscaler(**card["network"])
    return Denoiser(**card["network"])


def save_model(model: torch.nn.Module, card: dict, directory: Path, name: str, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``<name>.safetensors`` and its card ``<name>.json`` (with the sha256).

    ``dtype=torch.float16`` halves the file; weights are cast back at load.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wfile = directory / f"{name}.safetensors"
    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, wfile, metadata={"name": name, "format": "xda-denoiser-v0"})
    card = dict(card, name=name, network=model.config, sha256=sha256(wfile))
    (directory / f"{name}.json").write_text(json.dumps(card, indent=1))
    return wfile


def clear_cache() -> None:
    """Forget all loaded models."""
    _CACHE.clear()
