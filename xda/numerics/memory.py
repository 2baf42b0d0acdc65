"""Memory the process can still allocate, and refusal before an allocation that cannot fit.

A request that needs more than the memory available (``MemAvailable`` of
``/proc/meminfo``, capped by a cgroup v2/v1 memory limit; ``XDA_MEMORY_LIMIT`` in bytes
overrides both) is refused with :class:`~xda.errors.ResourceError` *before* anything is
allocated, instead of dying in numpy, scipy or the kernel's OOM killer.
"""

from __future__ import annotations

import os

from ..errors import ResourceError

ENV = "XDA_MEMORY_LIMIT"


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> int:
    """Bytes this process can allocate now: ``$XDA_MEMORY_LIMIT``, else the smaller of the system's
    available memory and the cgroup's remaining limit (unknown parts are ignored; 8 GiB if nothing is known)."""
    if os.environ.get(ENV):
        return int(float(os.environ[ENV]))
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


def require(nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`ResourceError` if ``nbytes`` exceed :func:`available_bytes` (message: what, sizes, fix)."""
    have = available_bytes()
    if nbytes > have:
        raise ResourceError(f"{what} needs about {nbytes / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB can be "
                            f"allocated; {fix} (or set ${ENV} in bytes if this estimate is wrong)")
