"""Errors a user can act on.

Anything raised as `OlistError` is printed by the CLI as one line (no traceback unless
`HYDRA_FULL_ERROR=1`) and turns into a non-zero exit code.
"""


class OlistError(Exception):
    """Base class for problems caused by input or configuration, not by a bug."""


class ConfigError(OlistError):
    """The composed configuration is invalid (unknown key, wrong type, bad value)."""


class DataError(OlistError):
    """The input data is missing, unreadable or does not match the expected schema."""


class ServiceError(OlistError):
    """A service the stack needs (store, tracking server) is unreachable."""


class ReproductionError(OlistError):
    """A model version cannot be re-run from its record (dirty or unknown commit, changed data or
    libraries), or its re-run did not reproduce it."""
