"""A local stand-in for the Anthropic and Gemini streaming APIs, driven by a script.

`script` (rules and replies) and the two protocol generators are light; `server` imports
aiohttp, so it is not imported here.
"""

from rillet.sim.script import Fault, Reply, Rule, Script, Timing, ToolCall, count_tokens, tokenize

__all__ = ["Fault", "Reply", "Rule", "Script", "Timing", "ToolCall", "count_tokens", "tokenize"]
