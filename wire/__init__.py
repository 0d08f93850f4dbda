"""drydock.wire: the wire formats of the services drydock emulates, shared by both sides.

Each service has one module here (`drydock.wire.fireworks`) holding its request bodies, state
names, id patterns and validation rules, so the emulator's dialect and the client SDK check a
request with the very same code and words. Depends on pydantic only: importing it never pulls
in a server, a trainer or any other part of drydock.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
