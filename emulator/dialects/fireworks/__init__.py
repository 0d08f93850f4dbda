"""The Fireworks dialect: control plane + trainer gateway of the Fireworks training service."""

from .dialect import FireworksDialect

__all__ = ["FireworksDialect"]

DIALECT = FireworksDialect
