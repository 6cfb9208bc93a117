"""The Gemini provider and its chunk translator."""

from rillet.providers.gemini.events import GeminiChunkTranslator
from rillet.providers.gemini.provider import (
    DEFAULT_MODEL, OPTION_KEYS, SDK_ATTEMPTS, STREAM_RETRIES, GeminiProvider,
)

__all__ = ["DEFAULT_MODEL", "OPTION_KEYS", "SDK_ATTEMPTS", "STREAM_RETRIES",
           "GeminiChunkTranslator", "GeminiProvider"]
