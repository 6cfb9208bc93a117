"""The Anthropic Messages API provider and its raw-event translator."""

from rillet.providers.anthropic_api.events import AnthropicEventTranslator
from rillet.providers.anthropic_api.provider import (
    DEFAULT_MAX_TOKENS, DEFAULT_MODEL, OPTION_KEYS, SDK_MAX_RETRIES, STREAM_RETRIES,
    AnthropicAPIProvider,
)

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "OPTION_KEYS", "SDK_MAX_RETRIES",
           "STREAM_RETRIES", "AnthropicAPIProvider", "AnthropicEventTranslator"]
