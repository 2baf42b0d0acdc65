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
