"""drydock.testing: what users put in their own test suites (virtual time, fixtures, strategies).

Kept import-light: the 1.2.9 client environment imports it without torch or the server.
"""

from .virtual_time import (
    DEFAULT_IGNORE,
    VirtualTime,
    VirtualTimeError,
    keep_patched,
    remote_virtual_time,
    virtual_time,
)

__all__ = [
    "virtual_time",
    "remote_virtual_time",
    "keep_patched",
    "VirtualTime",
    "VirtualTimeError",
    "DEFAULT_IGNORE",
]
