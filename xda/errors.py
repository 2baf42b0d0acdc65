"""Exceptions raised by xda. Each message names the variable and the fix."""


class XdaError(Exception):
    """Base class for xda errors."""


class UnitsError(XdaError, ValueError):
    """A variable has no units, or units that cannot be converted."""


class CoordinateError(XdaError, KeyError):
    """A coordinate (latitude, longitude, time) cannot be found or is unusable."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class GridError(XdaError, ValueError):
    """Grids do not match, or a grid is not regular where it must be."""


class ObservationError(XdaError, ValueError):
    """Observations are malformed: no values, no location, no error, ..."""


class ModelError(XdaError, ValueError):
    """The requested model does not exist or does not know a variable."""


class DataError(XdaError, ValueError):
    """Values are unusable: NaN or inf where a value is needed, too few samples to estimate something."""


class NotFoundError(XdaError, KeyError):
    """A named variable or data set is not there, or several match (the message lists what there is)."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ParameterError(XdaError, ValueError):
    """A keyword argument has a value outside its domain (``steps=0``, ``kappa<0``, a typo in a choice)."""


class WeightsError(ModelError):
    """A weight file or its model card is missing, malformed or does not match its manifest hash."""


class ResourceError(XdaError, MemoryError):
    """The request would need more memory (or members, or time) than can be allocated; refused before allocating."""


class XdaWarning(UserWarning):
    """Base class for xda warnings: the input is legal but suspicious."""


class PlausibilityWarning(XdaWarning):
    """Values are outside the physically plausible range for their units (e.g. degC numbers labelled K)."""


def check_choice(name: str, value, choices, fix: str = "") -> None:
    """Raise :class:`ParameterError` unless ``value`` is one of ``choices`` (message lists them, a close match and
    ``fix``)."""
    if not (isinstance(value, (str, int, float, type(None))) and value in choices):
        import difflib

        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ParameterError(f"{name}={value!r} is not one of {sorted(map(str, choices))}{hint}" + (f"; {fix}" if fix else ""))


def check_number(name: str, value, *, minimum=None, maximum=None, inclusive: bool = True, integer: bool = False,
                 fix: str = "") -> float:
    """Return ``value`` as a float (or int) after checking it is finite and in range; else :class:`ParameterError`."""
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and integer:
        ok = float(value) == int(value)
    if ok and minimum is not None:
        ok = value >= minimum if inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        lo = "" if minimum is None else (f">= {minimum}" if inclusive else f"> {minimum}")
        hi = "" if maximum is None else f"<= {maximum}"
        want = " and ".join(p for p in (lo, hi) if p) or "finite"
        kind = "an integer" if integer else "a finite number"
        raise ParameterError(f"{name}={value!r} must be {kind} {want}".rstrip() + (f"; {fix}" if fix else ""))
    return int(value) if integer else float(value)
