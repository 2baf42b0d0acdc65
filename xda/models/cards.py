"""Model cards and where weight files live (no torch: OI and ``available_models`` need no torch).

A model is two files in ``xda/weights`` (or in ``$XDA_WEIGHTS_DIR``):
``<name>.safetensors`` (tensors only, never pickle) and ``<name>.json``, the model
card: variables with units and CF standard names, normalisation, background-error
statistics of the training data, grid, training data and command, and the sha256 of
the weight file, checked at load.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ModelError

DEFAULT_MODEL = "hs-t42-v2"
DEFAULT_DOWNSCALING_MODEL = "hs-t63-ds-v1"


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


def find(name: str) -> Path:
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


def load_card(name: str = DEFAULT_MODEL) -> dict:
    """The model card (a dict) of a model."""
    return json.loads(find(name).with_suffix(".json").read_text())
