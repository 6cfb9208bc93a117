"""The Claude Agent SDK provider: the provider, its message translator, options and mock."""

from rillet.providers.claude_agent.messages import ClaudeMessageTranslator
from rillet.providers.claude_agent.mock import mock_sdk_messages
from rillet.providers.claude_agent.options import MAPPED_KEYS, build_options
from rillet.providers.claude_agent.provider import ClaudeAgentProvider

__all__ = ["MAPPED_KEYS", "ClaudeAgentProvider", "ClaudeMessageTranslator", "build_options",
           "mock_sdk_messages"]
