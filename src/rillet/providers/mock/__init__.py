"""The mock provider: every provider kind's stream, in-process, with no network."""

from rillet.providers.mock.provider import MockProvider

__all__ = ["MockProvider"]
