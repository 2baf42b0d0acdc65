"""Model cards, where weight files live, and the manifest that ties a card to its weights (no torch).

OI and :func:`available_models` need no torch, so neither does this module.

A model is two files side by side: ``<name>.safetensors`` (tensors only, never
pickle) and ``<name>.json``, the model card: variables with units and CF standard
names, normalisation, background-error statistics of the training data, grid,
training data and command, and two hashes:

* ``sha256``: the sha256 of the weight file;
* ``manifest_sha256``: the sha256 of the card's canonical JSON *without* the
  ``manifest_sha256`` key (``json.dumps(card, sort_keys=True, separators=(",", ":"))``)
  followed by the weight file's hex sha256 (:func:`manifest_sha256`).

Both are checked whenever a card is read (:func:`load_card`,
:func:`xda.models.registry.load_model`): an edited card (a normalisation constant, a
background-error profile) or weight file, or a card without the hashes, raises
:class:`~xda.errors.WeightsError` instead of silently shifting the analysis. The
hashes detect corruption and accidental edits; they are not a signature.
:func:`xda.models.registry.save_model` writes both; :func:`seal_card` re-hashes a card
that was edited on purpose. The weight file's hash is cached per file (path, inode,
size, mtime, ctime): re-reading an unchanged model costs a ``stat`` and a parse of
the card, which is always re-read and re-hashed.

A model is named either by its name, looked up in ``$XDA_WEIGHTS_DIR`` (which must
then exist) first and in the package's ``xda/weights`` second, or by a path: to the
card, to the weight file, or to either without its suffix (``directory/name``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from ..errors import ModelError, WeightsError, check_choice

DEFAULT_MODEL = "hs-t42-v2"
DEFAULT_DOWNSCALING_MODEL = "hs-t63-ds-v2"
ENV = "XDA_WEIGHTS_DIR"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "weights"
CARD_SUFFIX, WEIGHTS_SUFFIX = ".json", ".safetensors"
#: card keys every model of a kind needs (besides the two hashes)
REQUIRED = {"assimilation": ("network", "variables"), "downscaling": ("network",)}
#: the task that uses each kind of model
TASKS = {"assimilation": "assimilate", "downscaling": "downscale"}
FIX = ("restore both files from the xda package (reinstall xda) or re-save the model with "
       "`xda.models.registry.save_model` (it writes both hashes); if you edited the card on purpose, "
       "re-hash it with `xda.models.cards.seal_card(path)`")
_DIGESTS: dict[str, tuple[tuple, str]] = {}  # resolved weight path -> (stat signature, sha256)


class ModelFiles(NamedTuple):
    """A verified model: its card, the two files (absolute paths) and the manifest hash."""

    card: "ModelCard"
    card_path: Path
    weights_path: Path
    manifest: str


def weights_dirs() -> list[Path]:
    """Where models are looked up by name: ``$XDA_WEIGHTS_DIR`` first, then the package.

    Returns
    -------
    list of Path

    Raises
    ------
    WeightsError
        If ``$XDA_WEIGHTS_DIR`` is set (non-empty) but is not an existing directory.
        An existing, empty directory is fine.
    """
    dirs = []
    value = os.environ.get(ENV)
    if value:
        d = Path(value).expanduser()
        if not d.is_dir():
            what = "is not a directory" if d.exists() else "does not exist"
            raise WeightsError(
                f"{ENV}={value!r} {what}; create it (`mkdir -p {value}`) and put models (<name>.json + "
                f"<name>.safetensors) there, or unset {ENV} to use the models shipped with xda")
        dirs.append(d)
    dirs.append(PACKAGE_DIR)
    return dirs


def output_dir() -> Path:
    """Where training writes models: ``$XDA_WEIGHTS_DIR`` (created if missing), else ``~/.cache/xda/weights``."""
    value = os.environ.get(ENV)
    out = Path(value).expanduser() if value else Path("~/.cache/xda/weights").expanduser()
    out.mkdir(parents=True, exist_ok=True)
    return out


def available_models() -> list[str]:
    """Names of the models whose card and weight file are both in :func:`weights_dirs`.

    Cards are not verified here (:func:`load_card` does that).

    Returns
    -------
    list of str
        Sorted names.

    Raises
    ------
    WeightsError
        If ``$XDA_WEIGHTS_DIR`` is set but does not exist (as :func:`weights_dirs`).
    """
    names = set()
    for d in weights_dirs():
        for card in d.glob("*" + CARD_SUFFIX):
            if _pair(card.with_name(card.name[: -len(CARD_SUFFIX)]))[1].exists():
                names.add(card.name[: -len(CARD_SUFFIX)])
    return sorted(names)


def _pair(base: Path) -> tuple[Path, Path]:
    """(card, weight file) of ``base`` = ``directory/name`` (names may contain dots)."""
    return base.with_name(base.name + CARD_SUFFIX), base.with_name(base.name + WEIGHTS_SUFFIX)


def _is_path(name) -> bool:
    """Whether ``name`` names files (a PathLike, a separator or a model file suffix) rather than a model."""
    if isinstance(name, os.PathLike):
        return True
    return "/" in name or os.sep in name or name.endswith((CARD_SUFFIX, WEIGHTS_SUFFIX))


def _find_path(name) -> Path:
    """``directory/name`` of a model given by a path to its card, its weights or their common stem."""
    p = Path(name).expanduser()
    if p.is_dir():
        inside = sorted(c.name[: -len(CARD_SUFFIX)] for c in p.glob("*" + CARD_SUFFIX))
        raise WeightsError(f"{str(name)!r} is a directory; pass the path of a model in it, "
                           f"e.g. {str(p / inside[0]) if inside else str(p / '<name>')!r} (cards there: {inside})")
    for suffix in (CARD_SUFFIX, WEIGHTS_SUFFIX):
        if p.name.endswith(suffix):
            p = p.with_name(p.name[: -len(suffix)])
    missing = [str(f) for f in _pair(p) if not f.exists()]
    if missing:
        hint = ""
        if not isinstance(name, os.PathLike) and "/" not in name and os.sep not in name:
            hint = f"; to load a model by name, leave out the suffix: {p.name!r}"
        raise WeightsError(f"model {str(name)!r}: {' and '.join(missing)} not found (relative to {os.getcwd()}); "
                           f"a model is a card <name>{CARD_SUFFIX} and weights <name>{WEIGHTS_SUFFIX} side by side{hint}")
    return p


def find(name=DEFAULT_MODEL) -> Path:
    """``directory/name`` (no suffix) of a model: append ``.json`` or ``.safetensors`` for its files.

    Parameters
    ----------
    name : str or os.PathLike
        A model name (looked up in :func:`weights_dirs`, first match wins) or a path
        to its card, its weight file, or either without the suffix.

    Returns
    -------
    Path

    Raises
    ------
    ModelError
        If no model of that name exists.
    WeightsError
        If only one of the two files exists, a path does not exist, or
        ``$XDA_WEIGHTS_DIR`` does not exist.
    """
    if not isinstance(name, (str, os.PathLike)) or not str(name):
        raise ModelError(f"model={name!r}: pass a model name (one of {available_models()}) or a path to a model file")
    if _is_path(name):
        return _find_path(name)
    for d in weights_dirs():
        card, weights = _pair(d / name)
        if card.exists() or weights.exists():
            if not (card.exists() and weights.exists()):
                present, absent = (card, weights) if card.exists() else (weights, card)
                raise WeightsError(f"model {name!r}: {present} exists but {absent.name} does not; copy the missing "
                                   f"file next to it, or remove {present.name}")
            return d / name
    raise ModelError(
        f"no model named {name!r}; available: {available_models()}. "
        f"Train one with `xda.train(...)` and put it in ${ENV}, or pass the path of its .safetensors file."
    )


def sha256(path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_sha256(path) -> str:
    """:func:`sha256` of a file, recomputed only when its inode, size, mtime or ctime changed.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        64 hex digits.
    """
    path = Path(path).resolve()
    st = path.stat()
    signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    hit = _DIGESTS.get(str(path))
    if hit is not None and hit[0] == signature:
        return hit[1]
    digest = sha256(path)
    _DIGESTS[str(path)] = (signature, digest)
    return digest


def canonical_json(card: dict) -> str:
    """The card as compact JSON with sorted keys: the text the manifest hash covers.

    Parameters
    ----------
    card : dict
        A JSON-compatible card (as read from a ``.json`` file).

    Returns
    -------
    str
    """
    return json.dumps(card, sort_keys=True, separators=(",", ":"))


def manifest_sha256(card: dict, weights_sha256: str) -> str:
    """The manifest hash of a card and its weight file.

    Parameters
    ----------
    card : dict
        The card; a ``manifest_sha256`` key in it is ignored.
    weights_sha256 : str
        Hex sha256 of the weight file.

    Returns
    -------
    str
        ``sha256(canonical_json(card without manifest_sha256) + weights_sha256)``, hex.
    """
    body = {k: v for k, v in card.items() if k != "manifest_sha256"}
    return hashlib.sha256((canonical_json(body) + weights_sha256).encode("utf-8")).hexdigest()


def read_card(path) -> dict:
    """Parse a card file (no verification; see :func:`load_card`).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict

    Raises
    ------
    WeightsError
        If the file is not valid UTF-8 JSON or not a JSON object.
    """
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise WeightsError(f"model card {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}; "
                           + FIX) from e
    except UnicodeDecodeError as e:
        raise WeightsError(f"model card {path} is not UTF-8 text ({e.reason} at byte {e.start}); " + FIX) from e
    if not isinstance(card, dict):
        raise WeightsError(f"model card {path} holds a JSON {type(card).__name__}, not an object; " + FIX)
    return card


def check_card(card: dict, path) -> None:
    """Check a card's kind and that it has the keys :data:`REQUIRED` for that kind.

    Parameters
    ----------
    card : dict
    path : str or os.PathLike
        The card's file, for the message.

    Raises
    ------
    WeightsError
        If the kind is unknown or a required key is missing or ``network`` is not an object.
    """
    kind = card.get("kind", "assimilation")
    if kind not in REQUIRED:
        raise WeightsError(f"model card {path} has kind={kind!r}; xda knows {sorted(REQUIRED)}; " + FIX)
    missing = [k for k in REQUIRED[kind] if k not in card]
    if missing:
        raise WeightsError(f"model card {path} ({kind}) has no {', '.join(map(repr, missing))}; " + FIX)
    if not isinstance(card["network"], dict):
        raise WeightsError(f"model card {path}: 'network' must be an object of constructor arguments; " + FIX)


def verify_card(card: dict, card_path, weights_path) -> str:
    """Check a card's ``sha256`` against its weight file and its ``manifest_sha256`` against both.

    Parameters
    ----------
    card : dict
    card_path, weights_path : str or os.PathLike

    Returns
    -------
    str
        The manifest hash.

    Raises
    ------
    WeightsError
        If a hash is missing (the message says how to write them) or does not match,
        naming the file that differs.
    """
    missing = [k for k in ("sha256", "manifest_sha256") if not card.get(k)]
    if missing:
        raise WeightsError(
            f"model card {card_path} has no {' and no '.join(missing)}, so it and {Path(weights_path).name} cannot be "
            "verified; re-save the model with `xda.models.registry.save_model` (it writes both hashes) or, if both "
            f"files are as you intend, hash them with `xda.models.cards.seal_card({str(card_path)!r})`")
    digest = cached_sha256(weights_path)
    if card["sha256"] != digest:
        raise WeightsError(
            f"weight file {weights_path} does not match the sha256 in its card {card_path} (card {str(card['sha256'])[:12]}..., "
            f"file {digest[:12]}...): the weight file is corrupt, truncated or replaced; " + FIX)
    manifest = manifest_sha256(card, digest)
    if card["manifest_sha256"] != manifest:
        raise WeightsError(
            f"model card {card_path} does not match its manifest_sha256: its content (normalisation, background "
            f"error, grid, network, ...) changed after it was saved with {Path(weights_path).name}; " + FIX)
    return manifest


def open_model(name=DEFAULT_MODEL) -> ModelFiles:
    """Find, parse, check and verify a model's card (the weight file is hashed, not loaded).

    Parameters
    ----------
    name : str or os.PathLike
        A model name or a path (see :func:`find`).

    Returns
    -------
    ModelFiles

    Raises
    ------
    ModelError
        If no model has that name.
    WeightsError
        If a file is missing or malformed, a required key is missing, or a hash is
        missing or does not match.
    """
    card_path, weights_path = (f.resolve() for f in _pair(find(name)))
    card = read_card(card_path)
    check_card(card, card_path)
    manifest = verify_card(card, card_path, weights_path)
    return ModelFiles(ModelCard.from_dict(card, card_path), card_path, weights_path, manifest)


def load_card(name=DEFAULT_MODEL) -> "ModelCard":
    """The verified model card (freshly parsed, read-only: :class:`ModelCard`) of a model.

    Parameters
    ----------
    name : str or os.PathLike
        A model name or a path to its card or weight file (see :func:`find`).

    Returns
    -------
    ModelCard

    Raises
    ------
    ModelError
        If no model has that name.
    WeightsError
        As :func:`open_model`.
    """
    return open_model(name).card


def seal_card(name) -> Path:
    """(Re)write the ``sha256`` and ``manifest_sha256`` of a card to match the files as they are now.

    For a card edited on purpose, or one written before cards carried a manifest. Key
    order and formatting (``indent=1``) are kept; a new key is appended.

    Parameters
    ----------
    name : str or os.PathLike
        A model name or a path (see :func:`find`).

    Returns
    -------
    Path
        The card's file.

    Raises
    ------
    ModelError, WeightsError
        If the model cannot be found or its card is not a JSON object.
    """
    card_path, weights_path = _pair(find(name))
    card = read_card(card_path)
    card["sha256"] = digest = sha256(weights_path)
    card["manifest_sha256"] = manifest_sha256(card, digest)
    card_path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    return card_path


#: The version of the card schema this xda writes. 1: the cards written before it was recorded (the architecture
#: implied by ``kind``/``joint``/``latent`` flags); 2: ``schema_version`` and ``architecture`` recorded.
SCHEMA_VERSION = 2


class _Array(tuple):
    """A read-only JSON array: a tuple that equals the list it was read from."""

    def __eq__(self, other):
        return tuple.__eq__(self, tuple(other)) if isinstance(other, (list, tuple)) else NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:  # as in the JSON (and in messages): [2, 3, 4]
        return repr(list(self))


def _frozen(value):
    """A JSON value made read-only, deeply: objects as mappings that refuse writes, arrays as tuples (equal to
    the lists they were), so that a card equals its JSON."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return _Array(_frozen(v) for v in value)
    return value


def _thawed(value):
    """The JSON value of a :func:`_frozen` one (a deep, mutable copy)."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class ModelCard(Mapping):
    """A verified model card, read-only and typed: what every model has as attributes, and each section of
    the card (``variables``, ``grid``, ``training``, ...) by key, as a read-only mapping.

    Built from a card's JSON by :meth:`from_dict` (which upgrades older schemas), given by
    :func:`load_card` and :func:`xda.models.registry.load_model`; :meth:`to_dict` gives a
    mutable copy to derive a new card from (fine-tuning). Its ``architecture`` (a key of
    :data:`ARCHITECTURES`) is what code dispatches on, never the flags of schema 1.

    A card equals its JSON object (``load_card(name) == json.load(card_file)``).

    Attributes
    ----------
    name : str
    kind : {"assimilation", "downscaling"}
    architecture : str
    anchor : str or None
        The classical method the model is anchored on (``"oi"``, ``"lapse_rate"``).
    network : Mapping
        The architecture's constructor keywords.
    schema_version : int
        The schema the card was written in (:data:`SCHEMA_VERSION` for new cards).
    sections : Mapping
        The whole card as stored, read-only (also reached as ``card[key]``).
    """

    name: str
    kind: str
    architecture: str
    anchor: str | None
    network: Mapping
    schema_version: int
    sections: Mapping

    @classmethod
    def from_dict(cls, card: Mapping, path="the card") -> "ModelCard":
        """The typed card of a card's JSON object (schema 1 upgraded: its architecture inferred from its flags).

        Raises
        ------
        WeightsError
            A schema newer than this xda reads, an unknown kind or architecture.
        """
        version = card.get("schema_version", 1)
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise WeightsError(f"model card {path} has schema_version={version!r}; this xda reads versions 1 to "
                               f"{SCHEMA_VERSION}: upgrade xda (`pip install -U` the package) or use a model saved by it")
        kind = card.get("kind", "assimilation")
        if kind not in REQUIRED:
            raise WeightsError(f"model card {path} has kind={kind!r}; xda knows {sorted(REQUIRED)}; " + FIX)
        arch = card["architecture"] if "architecture" in card else _implied_architecture(card)
        if arch not in ARCHITECTURES:
            raise WeightsError(f"model card {path} names architecture {arch!r}; xda knows {sorted(ARCHITECTURES)}; " + FIX)
        frozen = _frozen(card)
        return cls(str(card.get("name", "")), kind, arch, card.get("anchor"), frozen.get("network", _frozen({})),
                   version, frozen)

    def to_dict(self) -> dict:
        """The card as a mutable JSON object (a deep copy), e.g. to derive a fine-tuned model's card."""
        return _thawed(self.sections)

    def __getitem__(self, key):
        return self.sections[key]

    def __iter__(self):
        return iter(self.sections)

    def __len__(self) -> int:
        return len(self.sections)

    def __repr__(self) -> str:
        return f"ModelCard(name={self.name!r}, kind={self.kind!r}, architecture={self.architecture!r}, schema_version={self.schema_version})"


def _implied_architecture(card: Mapping) -> str:
    """The architecture a schema-1 card implies by its ``kind``, ``joint`` and ``latent`` entries."""
    if card.get("kind", "assimilation") == "downscaling":
        return "downscaling"
    return "latent" if card.get("latent") else "joint" if card.get("joint") else "anchored"


#: The network architectures a card can name (``card["architecture"]``): ``module:class`` built with the card's
#: ``network`` keywords (:func:`xda.models.registry.load_model`). A new architecture is one line here.
ARCHITECTURES = {
    "anchored": "xda.models.anchored:AnchoredDenoiser",
    "joint": "xda.models.joint:JointDenoiser",
    "latent": "xda.models.latent:LatentJointDenoiser",
    "downscaling": "xda.models.downscaling:AnchoredDownscaler",
}


#: Heun steps of the sampler when the caller gives none, per architecture (``2 * steps - 1`` denoiser
#: evaluations per member). 6 (11 evaluations) where the members are recentred on the posterior-mean head: on
#: real cases their CRPS and spread-skill at 6 steps equal those at 16 (31 evaluations) to 1.5 %
#: (``benchmarks/results/steps.md``); 16 for the joint and latent models, not measured at fewer.
DEFAULT_STEPS = {"anchored": 6, "downscaling": 6, "joint": 16, "latent": 16}


def architecture(card: Mapping) -> str:
    """The card's architecture (a key of :data:`ARCHITECTURES`): a :class:`ModelCard`'s, or for a card's JSON
    object its ``architecture`` entry, else what a schema-1 card's ``kind``/``joint``/``latent`` imply."""
    if isinstance(card, ModelCard):
        return card.architecture
    if "architecture" in card:
        check_choice("architecture", card["architecture"], tuple(ARCHITECTURES))
        return card["architecture"]
    return _implied_architecture(card)


def describe_kind(card: Mapping) -> str:
    """What a card's model is, with its article: ``"a downscaling model"``, ``"a joint assimilation model"``, ...

    Parameters
    ----------
    card : ModelCard or dict

    Returns
    -------
    str
    """
    kind, arch = card.get("kind", "assimilation"), architecture(card)
    flavour = "latent joint " if arch == "latent" else "joint " if arch == "joint" else ""
    words = f"{flavour}{kind} model"
    return ("an " if words[0] in "aeiou" else "a ") + words


def models_of_kind(kind: str, anchor: str | None = None) -> list[str]:
    """Available models of a kind (and anchor), skipping those whose card does not verify.

    Parameters
    ----------
    kind : {"assimilation", "downscaling"}
    anchor : str, optional
        Keep only cards with this ``anchor`` (e.g. ``"oi"``).

    Returns
    -------
    list of str
    """
    names = []
    for m in available_models():
        try:
            card = load_card(m)
        except ModelError:
            continue
        if card.get("kind", "assimilation") == kind and (anchor is None or card.get("anchor") == anchor):
            names.append(m)
    return names


def require_kind(card: dict, kind: str, name, anchor: str | None = None) -> None:
    """Refuse a model of the wrong kind for a task, listing the models of the right one.

    Parameters
    ----------
    card : dict
        The model's card.
    kind : {"assimilation", "downscaling"}
        The kind the task needs (cards without ``kind`` are assimilation models).
    name : str or os.PathLike
        The model as the user named it, for the message.
    anchor : str, optional
        Also require this ``anchor`` (e.g. ``"oi"``).

    Raises
    ------
    ModelError
        E.g. "model 'hs-t63-ds-v1' is a downscaling model; assimilate needs an
        assimilation model: one of [...]".
    ParameterError
        If ``kind`` is not one xda knows.
    """
    check_choice("kind", kind, TASKS)
    actual = card.get("kind", "assimilation")
    if actual == kind and (anchor is None or card.get("anchor") == anchor):
        return
    task = TASKS[kind]
    want = ("an " if kind[0] in "aeiou" else "a ") + f"{kind} model"
    what = describe_kind(card)
    if actual == kind:
        what, want = f"{what} anchored on {card.get('anchor')!r}", f"{want} anchored on {anchor!r}"
    raise ModelError(f"model {str(name)!r} is {what}; {task} needs {want}: one of {models_of_kind(kind, anchor)}")
