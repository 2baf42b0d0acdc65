"""Memory the process can still allocate, and refusal before an allocation that cannot fit.

A request that needs more than the memory available (``MemAvailable`` of
``/proc/meminfo``, capped by a cgroup v2/v1 memory limit; ``XDA_MEMORY_LIMIT`` in
bytes, or with a unit such as ``8GB`` or ``8GiB``, overrides both) is refused with
:class:`~xda.errors.ResourceError` *before* anything is allocated, instead of dying in
numpy, scipy or the kernel's OOM killer. A ``XDA_MEMORY_LIMIT`` that is not a positive
size is a :class:`~xda.errors.ParameterError` naming it.
"""

from __future__ import annotations

import os
import re

from ..errors import ParameterError, ResourceError

ENV = "XDA_MEMORY_LIMIT"
#: Size suffixes accepted in ``$XDA_MEMORY_LIMIT`` (decimal ``GB``, binary ``GiB``; a bare letter is binary, as in docker).
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def parse_limit(text: str) -> int:
    """Bytes of a ``$XDA_MEMORY_LIMIT`` value: a positive number of bytes (``8e9``) or with a unit (``8GB``,
    ``8 GiB``, ``512M``); else :class:`~xda.errors.ParameterError` naming the setting and an example."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", str(text), re.IGNORECASE)
    unit = match.group(2).lower() if match else None
    try:
        value = float(match.group(1)) * _UNITS[unit] if match else float("nan")
    except (ValueError, KeyError):
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ParameterError(f"{ENV}={text!r} is not a positive memory size; set bytes or a size with a unit, "
                             f"e.g. {ENV}=8e9 or {ENV}=8GB (or unset it to use the memory the system reports)")
    return int(value)


def available_bytes() -> int:
    """Bytes this process can allocate now: ``$XDA_MEMORY_LIMIT``, else the smaller of the system's
    available memory and the cgroup's remaining limit (unknown parts are ignored; 8 GiB if nothing is known)."""
    if os.environ.get(ENV):
        return parse_limit(os.environ[ENV])
    candidates = []
    try:
        with open("/proc/meminfo") as f:
            candidates += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except OSError:
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, use = _read_int(limit), _read_int(usage)
        if lim is not None and use is not None and lim < 1 << 60:
            candidates.append(max(lim - use, 0))
    return min(candidates) if candidates else 8 << 30


#: Requests below this many bytes are not checked against the system (reading it costs about a millisecond, which
#: the local OI would pay for each of its tiles); ``$XDA_MEMORY_LIMIT`` is still applied to them.
UNCHECKED_BYTES = 64 * 2**20


def require(nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`ResourceError` if ``nbytes`` exceed :func:`available_bytes` (message: what, sizes, fix)."""
    if nbytes < UNCHECKED_BYTES and not os.environ.get(ENV):
        return
    have = available_bytes()
    if nbytes > have:
        raise ResourceError(f"{what} needs about {nbytes / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB can be "
                            f"allocated; {fix} (or set ${ENV} in bytes if this estimate is wrong)")
