"""The workflow file as typed models. Every model forbids unknown keys.

These models check shapes and types; the loader (rillet.workflow.loader) adds what needs
the whole file: line numbers, cross-step references, templates, conditions, handler
options, and applies `defaults`. The same models give `rillet schema` its JSON Schema.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
    field_validator, model_validator,
)
from typing_extensions import TypeAliasType

from rillet.providers.pricing.overrides import Prices


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- prompt parts -------------------------------------------------------------------------------


class StaticPart(_Model):
    """Literal text (templates allowed)."""

    type: Literal["static"]
    content: str


class FilePart(_Model):
    """The contents of a file, relative to the workflow file's folder."""

    type: Literal["file"]
    path: str


class PreviousResponsePart(_Model):
    """The text of an earlier step, or (with `extract`) a dot path into its JSON output."""

    type: Literal["previous_response"]
    step: str
    extract: str | None = None
    extract_with: Literal["content_extractor"] | None = Field(
        default=None, description="pipeline_ex's way to ask for the step's text rather than "
        "its whole result as JSON; rillet's previous_response is the text already.")


class SessionContextPart(_Model):
    """The last turns of a named session (claude_session), as text."""

    type: Literal["session_context"]
    session_id: str = Field(description="The session's name (session_config.session_name).")
    include_last_n: int = Field(default=5, ge=1)


class ClaudeContinuePart(_Model):
    """Continue a named session: the step resumes its conversation; `new_prompt` is text."""

    type: Literal["claude_continue"]
    session_id: str = Field(description="The session's name (session_config.session_name).")
    new_prompt: str | None = None


PART_TYPES = ("static", "file", "previous_response", "session_context", "claude_continue")

PromptPart = Annotated[Union[StaticPart, FilePart, PreviousResponsePart, SessionContextPart,
                             ClaudeContinuePart],
                       Field(discriminator="type")]


def _prompt_parts(value: Any) -> Any:
    """A plain string is one static part; so is a plain string inside the list."""
    if isinstance(value, str):
        return [{"type": "static", "content": value}]
    if isinstance(value, list):
        return [{"type": "static", "content": item} if isinstance(item, str) else item
                for item in value]
    return value


Prompt = Annotated[list[PromptPart], BeforeValidator(
    _prompt_parts, json_schema_input_type=Union[str, list[Union[str, PromptPart]]])]


def _names(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


HandlerNames = Annotated[list[str], BeforeValidator(
    _names, json_schema_input_type=Union[str, list[str]])]


# --- model options -------------------------------------------------------------------------------


class Thinking(_Model):
    """Extended thinking: `adaptive`, `enabled` (with budget_tokens) or `disabled`."""

    type: Literal["adaptive", "enabled", "disabled"]
    budget_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _budget_when_enabled(self) -> Thinking:
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("type: enabled needs budget_tokens (or use type: adaptive)")
        return self


class AgentSpec(_Model):
    """A subagent the Claude agent can hand work to (the SDK's AgentDefinition)."""

    description: str
    prompt: str
    tools: list[str] | None = None
    model: str | None = None


def _hook_names(value: Any) -> Any:
    if isinstance(value, list):
        from rillet.providers.claude_agent.hooks import normalize_name

        return [normalize_name(v) if isinstance(v, str) else v for v in value]
    return value


class HookRule(_Model):
    """Built-in hooks run on the calls of the tools `matcher` names."""

    matcher: str | None = Field(default=None, description="A tool name, names joined by | "
                                "or a regular expression; '*' or none: every tool.")
    hooks: Annotated[list[str], BeforeValidator(_hook_names)] = Field(
        min_length=1, description="validate_bash, log_tool_use, audit_tool.")

    @field_validator("hooks")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from rillet.providers.claude_agent.hooks import HOOK_NAMES

        for name in value:
            if name not in HOOK_NAMES:
                raise ValueError(f"unknown hook '{name}': rillet's hooks are built in "
                                 f"({', '.join(HOOK_NAMES)}), and no other code runs as a "
                                 f"hook (see docs/migration-from-pipeline-ex.md)")
        return value


class ToolHooks(_Model):
    """`hooks`: built-in hooks on tool calls, by hook event (the Agent SDK's hooks)."""

    PreToolUse: list[HookRule] | None = None  # noqa: N815 - the SDK's event names
    PostToolUse: list[HookRule] | None = None  # noqa: N815

    @model_validator(mode="after")
    def _pre_only(self) -> ToolHooks:
        from rillet.providers.claude_agent.hooks import PRE_ONLY

        for rule in self.PostToolUse or ():
            for name in rule.hooks:
                if name in PRE_ONLY:
                    raise ValueError(f"{name} can only stop a call before it runs: put it "
                                     f"under PreToolUse")
        return self


# The Claude CLI clamps a smaller auto-compact window up to this (CLAUDE_CODE_AUTO_COMPACT_WINDOW).
CLI_MIN_COMPACT_WINDOW = 100_000


class MemoryConfig(_Model):
    """`memory_config`: the Claude CLI's automatic compaction of a long conversation."""

    max_context_length: int | None = Field(
        default=None, ge=CLI_MIN_COMPACT_WINDOW, description="The context window compaction "
        "works in, in tokens (at most the model's own; the CLI takes no less than 100000).")
    auto_compact: bool | None = Field(default=None, description="false: never compact "
                                      "automatically; true: the CLI's default.")
    compact_threshold: int | None = Field(
        default=None, ge=1, description="Compact once the conversation reaches this many "
        "tokens (needs max_context_length).")

    @model_validator(mode="after")
    def _consistent(self) -> MemoryConfig:
        if self.compact_threshold is None:
            return self
        if self.auto_compact is False:
            raise ValueError("compact_threshold says when to compact, but auto_compact: "
                             "false never does; keep one")
        if self.max_context_length is None:
            raise ValueError("compact_threshold needs max_context_length: the Claude CLI "
                             "takes the threshold as a share of that window")
        if self.compact_threshold >= self.max_context_length:
            raise ValueError("compact_threshold must be below max_context_length")
        return self


class ClaudeOptions(_Model):
    """Options of a `type: claude` step with `provider: claude_agent` (the Claude Agent SDK).
    Each maps to one ClaudeAgentOptions field (rillet.providers.claude_agent.options)."""

    max_turns: int | None = Field(default=None, ge=1)
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    tools: list[str] | Literal["claude_code", "default"] | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    model: str | None = None
    fallback_model: str | None = None
    cwd: str | None = None
    permission_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk",
                             "auto"] | None = None
    mcp_servers: dict[str, dict[str, Any]] | str | None = None
    strict_mcp_config: bool | None = None
    session_id: str | None = None
    resume: str | None = None
    fork_session: bool | None = None
    continue_conversation: bool | None = None
    add_dirs: list[str] | None = None
    max_budget_usd: float | None = Field(default=None, gt=0)
    max_thinking_tokens: int | None = Field(default=None, ge=1)
    thinking: Thinking | None = None
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    env: dict[str, str | int | float | bool] | None = None
    settings: dict[str, Any] | str | None = None
    setting_sources: list[Literal["user", "project", "local"]] | None = None
    betas: list[str] | None = None
    agents: dict[str, AgentSpec] | None = None
    hooks: ToolHooks | None = None
    memory_config: MemoryConfig | None = None


class _Sampling(_Model):
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    stop_sequences: list[str] | None = None


class AnthropicOptions(_Sampling):
    """Options of a `type: claude` step with `provider: anthropic_api` (the Messages API)."""

    model: str | None = None
    system_prompt: str | None = None
    # As the provider takes it: a mapping, a token budget, or true (adaptive) / false.
    thinking: Thinking | bool | int | None = None


OPTIONS_OF_PROVIDER: dict[str, type[_Model]] = {
    "claude_agent": ClaudeOptions, "anthropic_api": AnthropicOptions}


class DefaultClaudeOptions(ClaudeOptions, _Sampling):
    """`defaults.claude_options`: the keys of both Claude providers. Each claude step gets
    the keys its provider takes."""


class TokenBudget(_Model):
    """Generation settings of a `type: gemini` step."""

    max_input_tokens: int | None = Field(
        default=None, ge=1, description="The step fails before sending when its prompt is "
        "longer (Gemini's countTokens; an estimate in mock mode).")
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    thinking_budget: int | None = Field(default=None, ge=-1)


# --- conditions -----------------------------------------------------------------------------------


class AllOf(_Model):
    """`and:` — true when every condition in the list is (pipeline_ex's form)."""

    all_of: list[ConditionSpec] = Field(alias="and", min_length=1)


class AnyOf(_Model):
    """`or:` — true when at least one condition in the list is."""

    any_of: list[ConditionSpec] = Field(alias="or", min_length=1)


class NoneOf(_Model):
    """`not:` — true when the condition is false."""

    negated: ConditionSpec = Field(alias="not")


# A condition: an expression string, an and/or/not mapping, or a list (all must hold).
ConditionSpec = TypeAliasType(  # type: ignore[misc]
    "ConditionSpec", Union[str, AllOf, AnyOf, NoneOf, list["ConditionSpec"]])


def _bool_condition(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return [_bool_condition(item) for item in value]
    if isinstance(value, dict):
        return {key: _bool_condition(item) for key, item in value.items()}
    return value


# --- steps ----------------------------------------------------------------------------------------


class StepBase(_Model):
    name: str = Field(description="Unique; later steps use it in templates and conditions.")
    condition: ConditionSpec | None = Field(default=None,
                                            description="Run the step only when true.")

    @field_validator("condition", mode="before")
    @classmethod
    def _bool_condition(cls, value: Any) -> Any:
        return _bool_condition(value)


OutputFormat = Literal["text", "json", "stream-json", "stream_json"]


class ModelStepBase(StepBase):
    """What every step that calls a model has: the prompt and the streaming options."""

    mode: Literal["mock", "sim", "live"] | None = Field(
        default=None, description="Force this step's backend in a mixed run.")
    prompt: Prompt
    output_to_file: str | None = Field(
        default=None, description="Write the text here (inside the output directory) "
                                  "as it arrives.")
    async_streaming: bool = Field(default=True, description="Stream deltas to the handlers "
                                  "as they arrive; false delivers the text once, at the end.")
    stream_handler: HandlerNames | None = None
    stream_handler_opts: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per handler name (only listed handlers).")
    stream_buffer_size: int | None = Field(default=None, ge=1)
    collect_stream: bool = Field(default=True, description="Always true: rillet always keeps "
                                 "the step's text.")
    timeout_s: float | None = Field(default=None, gt=0)
    role: Literal["brain", "muscle"] | None = Field(
        default=None, description="pipeline_ex's label for people: brain (plans) or muscle "
                                  "(does); shown in results, changes nothing else.")
    verbose: bool | None = Field(
        default=None, description="The console shows tool calls and thinking (true) or the "
                                  "text only (false).")
    output_format: OutputFormat | None = Field(
        default=None, description="pipeline_ex's CLI output format; every value keeps the "
                                  "whole result (see the migration guide).")
    mock: dict[str, Any] | str | None = Field(
        default=None, description="The reply in mock mode (a reply text, or a reply with "
                                  "text, timing, fault, ...).")
    output_schema: dict[str, Any] | str | None = Field(
        default=None, description="Ask for a JSON object that fits this schema: a JSON "
        "Schema inline, a .json / .yaml file beside the workflow, or a pydantic model "
        "(package.module:Model). The result's `output` holds the object.")

    @field_validator("output_schema")
    @classmethod
    def _schema_checks(cls, value: Any) -> Any:
        # Inline schemas are checked here (so `rillet validate` names the line); files and
        # models are read when the step runs: importing a model runs its module.
        if isinstance(value, dict):
            from rillet.structured.schema import check_inline

            check_inline(value)
        return value

    @field_validator("mock")
    @classmethod
    def _mock_text(cls, value: Any) -> Any:
        # Stored as a plain dict: a bare string is the reply text.
        return {"text": value} if isinstance(value, str) else value

    def handler_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """(handler name, its options) for each handler the step streams to."""
        return [(name, self.stream_handler_opts.get(name, {}))
                for name in self.stream_handler or ()]


class ClaudeStep(ModelStepBase):
    """`type: claude` through the Claude Agent SDK (the default provider)."""

    type: Literal["claude"]
    provider: Literal["claude_agent"] = "claude_agent"
    model: str | None = None
    claude_options: ClaudeOptions = Field(default_factory=ClaudeOptions)


class ClaudeApiStep(ClaudeStep):
    """`type: claude` with `provider: anthropic_api`: the Anthropic Messages API."""

    provider: Literal["anthropic_api"]  # type: ignore[assignment]
    claude_options: AnthropicOptions = Field(  # type: ignore[assignment]
        default_factory=AnthropicOptions)


ClaudePreset = Literal["development", "production", "analysis", "chat", "test"]


class ClaudeSmartStep(ClaudeStep):
    """`type: claude_smart`: a claude step whose options start from a preset."""

    type: Literal["claude_smart"]  # type: ignore[assignment]
    preset: ClaudePreset | None = Field(
        default=None, description="development, production, analysis, chat or test; none: "
                                  "defaults.claude_preset, else development.")
    environment_aware: bool | None = Field(
        default=None, description="With no preset and no defaults.claude_preset: the preset "
                                  "is workflow.environment.mode (development, production or "
                                  "test).")


# pipeline_ex's post_processing operations: the lists the model extracts
# (rillet.steps.claude_extract.LISTS), then two that shape the text.
# `trim` and `validate` pipeline_ex did not know (it logged them and went on); their
# meaning is plain: trim strips the whitespace around the content, and validate is what
# rillet always does (the object is validated against its schema).
POST_PROCESSING = ("extract_code_blocks", "extract_recommendations", "extract_links",
                   "extract_key_points", "format_markdown", "generate_summary", "trim",
                   "validate")
PostProcessing = Literal["extract_code_blocks", "extract_recommendations", "extract_links",
                         "extract_key_points", "format_markdown", "generate_summary", "trim",
                         "validate"]


class ExtractionConfig(_Model):
    """How a claude_extract step shapes what it extracted."""

    format: Literal["text", "json", "structured", "markdown", "summary"] = "text"
    post_processing: list[PostProcessing] = Field(
        default_factory=list, description="In order: extract_* add a list to the object and "
        "a section to the text; format_markdown puts a '# Content' heading over a text with "
        "none; generate_summary adds a '## Generated Summary' section (the content's first "
        "three sentences, at most 200 characters); trim strips the whitespace around the "
        "content; validate is always met (the object is validated against its schema).")
    max_summary_length: int = Field(default=500, ge=10, description="format: summary.")
    include_metadata: bool = Field(default=False, description="Add extraction_metadata to "
                                                              "the object.")
    use_content_extractor: bool | None = Field(
        default=None, description="Accepted, true or false: pipeline_ex's extractor took the "
                                  "text out of the SDK's messages; rillet's text is already "
                                  "the model's own text.")
    content_schema: dict[str, Any] | None = Field(
        default=None, description="The content is an object of this JSON Schema rather than "
        "text (a step's pipeline_ex `schema:` sketch becomes it); the text is its JSON.")

    @field_validator("content_schema")
    @classmethod
    def _inline_schema(cls, value: Any) -> Any:
        if value is not None:
            from rillet.structured.schema import check_inline

            check_inline(value)
        return value

    @field_validator("post_processing", mode="before")
    @classmethod
    def _known_operations(cls, value: Any) -> Any:
        unknown = [item for item in value if isinstance(item, str)
                   and item not in POST_PROCESSING] if isinstance(value, list) else []
        if unknown:
            names = ", ".join(f"'{item}'" for item in unknown)
            one = len(unknown) == 1
            raise ValueError(
                f"post_processing {names} {'is' if one else 'are'} not supported: pipeline_ex "
                f"knew no such operation (it logged 'Unknown post-processing operation' and "
                f"left the text as it was); remove {'it' if one else 'them'} (operations: "
                f"{', '.join(POST_PROCESSING)})")
        return value

    @model_validator(mode="after")
    def _markdown_is_text(self) -> ExtractionConfig:
        if self.format == "json" and "format_markdown" in self.post_processing:
            raise ValueError("format_markdown shapes markdown text, and format: json keeps "
                             "the object as JSON; use format: markdown or drop it")
        return self


class ClaudeExtractStep(ClaudeSmartStep):
    """`type: claude_extract`: extraction as a structured object, shaped into text."""

    type: Literal["claude_extract"]  # type: ignore[assignment]
    extraction_config: ExtractionConfig = Field(default_factory=ExtractionConfig)

    @model_validator(mode="after")
    def _own_schema(self) -> ClaudeExtractStep:
        if self.output_schema is not None:
            raise ValueError("claude_extract asks for its own object (content and the "
                             "post_processing lists); for a schema of your own use "
                             "type: claude with output_schema")
        return self


class SessionConfig(_Model):
    """A claude_session step's conversation."""

    session_name: str | None = Field(default=None, description="none: the step's name.")
    persist: bool = Field(default=False, description="Later runs continue it; false: each "
                                                     "run starts it afresh.")
    fork: bool = Field(default=False, description="Continue from a copy (the Agent SDK's "
                                                  "fork_session), leaving the saved one as "
                                                  "it was.")
    description: str | None = None
    checkpoint_frequency: int | None = Field(
        default=None, ge=1, description="Save every N turns: met for any N, the session is "
                                        "saved after every turn.")
    continue_on_restart: bool | None = Field(
        default=None, description="Refused: `persist: true` is what continues a session in a "
                                  "later run.")

    # pipeline_ex read none of these three; each has an evident meaning that rillet meets.
    session_id: str | None = Field(default=None, description="The session's name: the same "
                                   "as session_name (give one, or both alike).")
    checkpoint_interval: int | None = Field(
        default=None, ge=1, description="The same as checkpoint_frequency: met for any N, "
                                        "the session is saved after every turn.")
    max_session_turns: int | None = Field(
        default=None, ge=1, description="The most turns the session may hold: a longer "
        "conversation is refused, and a turn that would go past it fails.")

    @field_validator("continue_on_restart")
    @classmethod
    def _refused(cls, value: Any) -> Any:
        if value is None:
            return value
        raise ValueError("continue_on_restart is not supported: use persist: true to "
                         "continue it in later runs")

    @model_validator(mode="after")
    def _one_name(self) -> SessionConfig:
        if self.session_id is not None:
            if self.session_name not in (None, self.session_id):
                raise ValueError("session_id and session_name both name the session; keep "
                                 "one")
            self.session_name = self.session_id
        return self


class ConversationTurn(_Model):
    """One turn of a claude_session step's `conversation`, sent in the step's session."""

    turn: int | None = Field(default=None, ge=1, description="Its number (1, 2, ...); the "
                             "turns are sent in the list's order, so it must match it.")
    prompt: Prompt
    claude_options: ClaudeOptions = Field(
        default_factory=ClaudeOptions, description="This turn's options, over the step's.")
    verbose: bool | None = None
    output_format: OutputFormat | None = None
    mock: dict[str, Any] | str | None = Field(
        default=None, description="This turn's reply in mock mode (as a step's mock).")

    @field_validator("mock")
    @classmethod
    def _mock_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class ClaudeSessionStep(ClaudeSmartStep):
    """`type: claude_session`: one turn of a named conversation that later steps and runs
    continue."""

    type: Literal["claude_session"]  # type: ignore[assignment]
    session_config: SessionConfig = Field(default_factory=SessionConfig)
    prompt: Prompt = Field(default_factory=list, description="The turn to send; none when "
                           "`conversation` lists the turns.")
    conversation: list[ConversationTurn] | None = Field(
        default=None, json_schema_extra={"minItems": 1}, description="Turns sent one after "
        "another in the step's session, each streamed under NAME[i]; the step's result "
        "holds every answer.")

    @model_validator(mode="after")
    def _prompt_or_conversation(self) -> ClaudeSessionStep:
        if self.conversation is None:
            if not self.prompt:
                raise ValueError("a claude_session step needs a prompt (or a conversation: "
                                 "list of turns)")
            return self
        if self.prompt:
            raise ValueError("give either prompt (one turn) or conversation (a list of "
                             "turns), not both")
        if not self.conversation:
            raise ValueError("conversation needs at least one turn")
        for index, turn in enumerate(self.conversation):
            if turn.turn is not None and turn.turn != index + 1:
                raise ValueError(f"conversation[{index}] says turn: {turn.turn}, but the "
                                 f"turns are sent in the list's order (it is turn "
                                 f"{index + 1})")
        limit = self.session_config.max_session_turns
        if limit is not None and len(self.conversation) > limit:
            raise ValueError(f"the conversation has {len(self.conversation)} turns, more "
                             f"than session_config.max_session_turns ({limit})")
        return self


# What each of pipeline_ex's fallback_actions becomes. Its canned texts are not copied:
# a step that failed is recorded as degraded (its error and the text so far kept) and the
# run goes on, which is what those actions were for. pipeline_ex read `cached_response` as
# graceful_degradation (its name for the cache was use_cached_response).
DEGRADING_FALLBACK_ACTIONS = ("graceful_degradation", "emergency_response", "cached_response")
_REFUSED_FALLBACK_ACTIONS = {
    "use_cached_response": "pipeline_ex kept no cache: outside its mock mode the step "
                           "failed with 'No cached response available'",
}
FALLBACK_ACTIONS = (*DEGRADING_FALLBACK_ACTIONS, "simplified_prompt")
RetryCondition = Literal["timeout", "api_error", "rate_limit", "overloaded", "network",
                         "temporary_error", "parsing_error", "max_turns"]


class RetryConfig(_Model):
    """How a claude_robust step tries again."""

    max_retries: int = Field(default=2, ge=0, le=10, description="Attempts after the first.")
    backoff_strategy: Literal["exponential", "linear", "fixed"] = "exponential"
    base_delay_ms: int = Field(default=1000, ge=0, description="The first wait.")
    max_delay_ms: int = Field(default=30_000, ge=0, description="No wait is longer.")
    retry_conditions: list[RetryCondition] | None = Field(
        default=None, description="Which failures are retried; none: the transient ones.")
    fallback_action: str | None = Field(
        default=None, description="When every attempt and fallback failed: "
        "graceful_degradation (also emergency_response, cached_response) records the step "
        "as degraded and the run goes on; simplified_prompt asks 'Provide a brief, simple "
        "response for: <step name>' and records that answer as degraded; none: the step "
        "fails the run.")

    @field_validator("fallback_action")
    @classmethod
    def _known_fallback_action(cls, value: Any) -> Any:
        if value is None or value in FALLBACK_ACTIONS:
            return value
        why = _REFUSED_FALLBACK_ACTIONS.get(value, f"it is not one pipeline_ex knew "
                                                   f"({', '.join(FALLBACK_ACTIONS)})")
        raise ValueError(f"fallback_action '{value}' is not supported: {why}. Use "
                         f"graceful_degradation to let the run go on with the step marked "
                         f"degraded, or list `fallbacks` (another model or provider)")


class AttemptRetryConfig(_Model):
    """`claude_options.retry_config` of a claude_robust step: pipeline_ex's provider retried
    each attempt of the step's own retry_config so, `max_retries` tries in all."""

    max_retries: int = Field(default=0, ge=0, le=10, description="Tries of each attempt in "
                             "all (as pipeline_ex's provider counted); 0 or 1: one try.")
    backoff_strategy: Literal["exponential", "linear", "fixed"] = "exponential"
    retry_on: list[RetryCondition] = Field(default_factory=list, description="Which failures "
                                           "are tried again; none: no failure is.")


class RobustClaudeOptions(ClaudeOptions):
    """A claude_robust step's claude_options: the Agent SDK's, and pipeline_ex's retry_config."""

    retry_config: AttemptRetryConfig | None = None


class Fallback(_Model):
    """Where a claude_robust step turns when its retries are used up."""

    provider: Literal["claude_agent", "anthropic_api"] | None = Field(
        default=None, description="none: the step's own provider.")
    model: str | None = None

    @model_validator(mode="after")
    def _names_something(self) -> Fallback:
        if self.provider is None and self.model is None:
            raise ValueError("a fallback names a model, a provider or both")
        return self


class ClaudeRobustStep(ClaudeSmartStep):
    """`type: claude_robust`: a claude step that retries with backoff, then falls back. Its
    options start from a preset like claude_smart's (`production` unless one is named)."""

    type: Literal["claude_robust"]  # type: ignore[assignment]
    claude_options: RobustClaudeOptions = Field(  # type: ignore[assignment]
        default_factory=RobustClaudeOptions)
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    fallbacks: list[Fallback] = Field(default_factory=list, description="Tried in order, "
                                      "once each, after the retries.")


class GeminiStep(ModelStepBase):
    """`type: gemini`: Google's Gemini models."""

    type: Literal["gemini"]
    model: str | None = None
    system_instruction: str | None = None
    token_budget: TokenBudget | None = None
    functions: list[str] | None = Field(
        default=None, description="Names of workflow.gemini_functions the model may call.")
    max_function_rounds: int = Field(
        default=5, ge=1, description="Rounds of function calls (functions run, results "
        "sent back) the step may take; a model still calling after them fails the step.")

    @model_validator(mode="after")
    def _rounds_need_functions(self) -> GeminiStep:
        if "max_function_rounds" in self.model_fields_set and not self.functions:
            raise ValueError("max_function_rounds bounds the rounds of function calls, and "
                             "this step lists no functions")
        return self


class GeminiInstructorStep(GeminiStep):
    """`type: gemini_instructor`: pipeline_ex's name for a gemini step that answers with
    structured data (output_schema, functions)."""

    type: Literal["gemini_instructor"]  # type: ignore[assignment]


class GeminiFunction(_Model):
    """A function a gemini step may call: its calls stream as ToolUse events; with an
    implementation it is run and its result (a ToolResult) goes back to the model."""

    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"},
                                       description="A JSON Schema of its arguments.")
    implementation: str | None = Field(default=None, description=(
        "A Python function by dotted path (package.module:function), called with the "
        "arguments as keywords; without one a call ends the step, its arguments the output."))

    @field_validator("implementation")
    @classmethod
    def _names_code(cls, value: str | None) -> str | None:
        # Checked by reading the source, never imported: the step imports it when it runs.
        from rillet import user_code

        if value is not None:
            try:
                user_code.check_reference(value)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ValueError(f"cannot find '{value}': {exc}") from None
        return value

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: Any) -> Any:
        from rillet.structured.schema import check_inline

        check_inline(value)
        return value


class Enabled(_Model):
    """pipeline_ex's `{enabled: true}` switches (`lazy`, `streaming`)."""

    enabled: bool = False


class SetVariableStep(StepBase):
    """`type: set_variable`: compute values (templates keep their type) for later steps."""

    type: Literal["set_variable"]
    variables: dict[str, Any]
    scope: Literal["state", "global"] = "state"
    streaming: Enabled | None = Field(default=None, description="enabled: true also streams "
                                      "the values, as JSON, to a file in the run folder.")


class EchoStep(StepBase):
    """`type: echo` (pipeline_ex's `test_echo`): the result is `value`, templates filled in
    (a value that is exactly one `{{ ... }}` keeps its type). Fixed data for later steps,
    fixtures and tests; `fail: true` makes the step fail, to test error handling."""

    type: Literal["echo", "test_echo"]
    value: Any
    fail: bool = False
    error_message: str | None = Field(default=None, description="The error of a failing "
                                      "step (default: 'echo step failed on purpose').")


# --- data_transform ------------------------------------------------------------------------------


class FilterOp(_Model):
    """Keep the items for which `condition` holds (bare names are keys of the item)."""

    operation: Literal["filter"]
    field: str | None = None
    condition: str


class MapOp(_Model):
    """Replace `field` through `mapping` (value -> new value), or upper/lower-case it."""

    operation: Literal["map"]
    field: str | None = None
    mapping: dict[str, Any] | None = None
    expression: Literal["uppercase", "lowercase"] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> MapOp:
        if (self.mapping is None) == (self.expression is None):
            raise ValueError("map needs either mapping or expression (uppercase, lowercase)")
        if self.expression is not None and self.field is None:
            raise ValueError("map with expression needs a field")
        return self


AGGREGATES = ("sum", "average", "count", "max", "min", "first", "last", "unique")


class AggregateOp(_Model):
    """One value from the list (of `field` when given)."""

    operation: Literal["aggregate"]
    field: str | None = None
    function: Literal["sum", "average", "count", "max", "min", "first", "last",
                      "unique"] = "sum"


class JoinOp(_Model):
    """Merge into each item the first item of `right_source` whose `join_key` equals the
    item's `left_field` (default: `join_key`)."""

    operation: Literal["join"]
    left_field: str | None = None
    right_source: str
    join_key: str


class GroupByOp(_Model):
    """A mapping of each value of `field` to the items that have it."""

    operation: Literal["group_by"]
    field: str


class SortOp(_Model):
    operation: Literal["sort"]
    field: str
    order: Literal["asc", "desc"] = "asc"


class SelectOp(_Model):
    """Keep only these fields of each item."""

    operation: Literal["select"]
    fields: list[str] = Field(min_length=1)


TransformOp = Annotated[Union[FilterOp, MapOp, AggregateOp, JoinOp, GroupByOp, SortOp,
                              SelectOp], Field(discriminator="operation")]


class DataTransformStep(StepBase):
    """`type: data_transform`: pipeline_ex's operations on JSON data, in order, no eval."""

    type: Literal["data_transform"]
    input_source: str = Field(description="previous_response:STEP, previous_response:STEP:"
                              "path (or STEP.path), a variable's name, or a template.")
    operations: list[TransformOp] = Field(min_length=1)
    output_field: str | None = Field(default=None, description="Also keep the result as "
                                     "this state variable.")
    lazy: Enabled | None = Field(default=None, description="enabled: true evaluates a list "
                                 "as a chain of generators (the same result, no lists "
                                 "in between).")


# --- file_ops ------------------------------------------------------------------------------------


class FileCheck(_Model):
    """One file `file_ops: validate` checks."""

    path: str
    must_exist: bool = True
    must_be_file: bool = False
    must_be_dir: bool = False
    min_size: int | None = Field(default=None, ge=0)
    max_size: int | None = Field(default=None, ge=0)


CONVERSIONS = ("csv_to_json", "json_to_csv", "yaml_to_json", "json_to_yaml", "csv_to_yaml",
               "yaml_to_csv")

_FILE_OP_KEYS = {"copy": ("source", "destination"), "move": ("source", "destination"),
                 "delete": ("path",), "list": ("path",), "validate": ("files",),
                 "convert": ("source", "destination", "format"),
                 "stream_copy": ("source", "destination"), "stream_process": ("source", "processor")}
# What a stream_process does to each line, as pipeline_ex's processors did.
LINE_PROCESSORS = ("identity", "uppercase", "lowercase", "trim", "replace")


class FileOpsStep(StepBase):
    """`type: file_ops`: file operations inside the workspace directory (paths relative to
    it; nothing outside it, also through a symlink, is touched)."""

    type: Literal["file_ops"]
    operation: Literal["copy", "move", "delete", "list", "validate", "convert", "stream_copy",
                       "stream_process"]
    source: str | None = None
    destination: str | None = None
    path: str | None = None
    pattern: str | None = Field(default=None, description="list: a glob, e.g. *.md; "
                                "stream_process with processor replace: the text replaced.")
    processor: Literal["identity", "uppercase", "lowercase", "trim", "replace"] | None = Field(
        default=None, description="stream_process: what is done to each line of source "
                                  "(the file is rewritten in place).")
    replacement: str | None = Field(default=None, description="stream_process with processor "
                                    "replace: what replaces pattern.")
    files: list[FileCheck] | None = None
    format: Literal["csv_to_json", "json_to_csv", "yaml_to_json", "json_to_yaml",
                    "csv_to_yaml", "yaml_to_csv"] | None = None

    @model_validator(mode="after")
    def _keys_of_the_operation(self) -> FileOpsStep:
        needed = _FILE_OP_KEYS[self.operation]
        missing = [key for key in needed if getattr(self, key) is None]
        if missing:
            raise ValueError(f"operation {self.operation} needs {' and '.join(needed)} "
                             f"(missing: {', '.join(missing)})")
        replacing = self.operation == "stream_process" and self.processor == "replace"
        if replacing and (not self.pattern or self.replacement is None):
            raise ValueError("processor replace needs pattern (the text to replace, not empty) "
                             "and replacement")
        extra = [key for key in ("source", "destination", "path", "pattern", "files", "format",
                                 "processor", "replacement")
                 if key not in needed and getattr(self, key) is not None
                 and not (key == "pattern" and (self.operation == "list" or replacing))
                 and not (key == "replacement" and replacing)]
        if extra:
            raise ValueError(f"operation {self.operation} does not take "
                             f"{', '.join(extra)}; it takes {', '.join(needed)}")
        return self


def _step_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing: the tag of the step's class
        if isinstance(value, EchoStep):
            return "echo"  # also when written as test_echo
        return "claude_api" if isinstance(value, ClaudeApiStep) else getattr(value, "type", None)
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind == "claude" and value.get("provider") == "anthropic_api":
        return "claude_api"
    if kind == "test_echo":
        return "echo"
    return kind if isinstance(kind, str) else None


# --- container steps (their children run through the same engine) -------------------------------


class ContainerBase(StepBase):
    """A step that runs child steps. `child_lists` names each list of children;
    `map_children` gives a copy with every child replaced (defaults are applied so)."""

    def child_lists(self) -> list[tuple[tuple[Any, ...], list[Any]]]:
        return [(("steps",), self.steps)]  # type: ignore[attr-defined]

    def map_children(self, fn: Any) -> Any:
        return self.model_copy(update={"steps": [fn(s) for s in self.steps]})  # type: ignore


class ParallelStep(ContainerBase):
    """`type: parallel`: its steps run at the same time, each a branch with its own result."""

    type: Literal["parallel"]
    steps: list[Step] = Field(json_schema_extra={"minItems": 1})
    max_parallel: int | None = Field(default=None, ge=1, description="Branches running at "
                                     "once (default: all of them).")
    continue_on_error: bool = Field(default=False, description="Let the other branches "
                                    "finish when one fails (default: cancel them).")


class ParallelClaudeTask(_Model):
    """One task of `parallel_claude`: a claude step named by `id`."""

    id: str
    prompt: Prompt
    provider: Literal["claude_agent", "anthropic_api"] = "claude_agent"
    model: str | None = None
    claude_options: dict[str, Any] = Field(default_factory=dict)
    output_to_file: str | None = None
    mode: Literal["mock", "sim", "live"] | None = None
    mock: dict[str, Any] | str | None = None
    stream_handler: HandlerNames | None = None
    stream_handler_opts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    async_streaming: bool = True
    stream_buffer_size: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    role: Literal["brain", "muscle"] | None = None
    verbose: bool | None = None
    output_format: OutputFormat | None = None

    def as_step(self) -> Any:
        data = self.model_dump(exclude_unset=True, exclude={"id"})
        data["prompt"] = [part.model_dump() for part in self.prompt]
        return _STEP_ADAPTER().validate_python({"name": self.id, "type": "claude", **data})


class ParallelClaudeStep(ContainerBase):
    """`type: parallel_claude` (pipeline_ex's form): claude tasks run at the same time."""

    type: Literal["parallel_claude"]
    parallel_tasks: list[ParallelClaudeTask] = Field(json_schema_extra={"minItems": 1})
    max_parallel: int | None = Field(default=None, ge=1)
    continue_on_error: bool = False
    _branches: list[Any] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _as_steps(self) -> ParallelClaudeStep:
        from pydantic import ValidationError

        branches, problems = [], []
        for index, task in enumerate(self.parallel_tasks):
            try:
                branches.append(task.as_step())
            except ValidationError as exc:  # said where it is, as a claude step's would be
                problems += [f"parallel_tasks[{index}]."
                             + ".".join(str(p) for p in e["loc"][1:]) + f": {e['msg']}"
                             for e in exc.errors()]
        if problems:
            raise ValueError("; ".join(problems))
        self._branches = branches
        return self

    @property
    def steps(self) -> list[Any]:
        return self._branches

    def map_children(self, fn: Any) -> Any:
        copy = self.model_copy()
        copy._branches = [fn(s) for s in self._branches]
        return copy


class ForLoopStep(ContainerBase):
    """`type: for_loop`: its steps run once per item of `data_source`."""

    type: Literal["for_loop"]
    iterator: str = Field(default="item", description="The item's name: {{ loop.<iterator> }} "
                          "(and {{ loop.item }}).")
    data_source: str | list[Any] = Field(description="A list, a template giving one, or "
                                         "pipeline_ex's `steps.NAME.field`, `NAME.field`, "
                                         "`previous_response:NAME[:field]`.")
    steps: list[Step] = Field(json_schema_extra={"minItems": 1})
    parallel: bool = False
    max_parallel: int | None = Field(default=None, ge=1, description="Iterations at once "
                                     "with parallel: true (default 5).")
    max_iterations: int | None = Field(default=None, ge=1, description="Fail rather than run "
                                       "a longer list.")
    batch_size: int | None = Field(default=None, ge=1, description="Run the iterations in "
                                   "groups of this many, each after the one before finished.")
    break_on_error: bool = Field(default=True, description="A failed iteration fails the "
                                 "loop; false: keep it as failed and go on.")
    break_condition: ConditionSpec | None = Field(default=None, description="Checked after "
                                                  "each iteration; true ends the loop.")
    continue_condition: ConditionSpec | None = Field(default=None, description="Checked "
                                                     "before each iteration; true skips it.")

    @field_validator("break_condition", "continue_condition", mode="before")
    @classmethod
    def _bool_conditions(cls, value: Any) -> Any:
        return _bool_condition(value)

    @field_validator("iterator")
    @classmethod
    def _free_name(cls, value: str) -> str:
        reserved = ("index", "total", "length", "first", "last", "is_first", "is_last",
                    "level", "parent", "iteration", "count")
        if value in reserved:
            raise ValueError(f"'{value}' is a loop variable of its own (loop.{value}); "
                             f"name the item something else")
        if not value.isidentifier():
            raise ValueError(f"'{value}' cannot be read as loop.{value}; use letters, "
                             f"digits and _")
        return value


class WhileLoopStep(ContainerBase):
    """`type: while_loop`: its steps run again while `condition` holds, at most
    `max_iterations` times."""

    type: Literal["while_loop"]
    condition: ConditionSpec = Field(  # type: ignore[assignment]
        description="Checked before each iteration.")
    max_iterations: int = Field(default=100, ge=1, le=100_000)
    timeout_seconds: float | None = Field(default=None, gt=0)
    break_on_error: bool = True
    steps: list[Step] = Field(json_schema_extra={"minItems": 1})


class SwitchStep(ContainerBase):
    """`type: switch`: the steps of the case whose key equals `expression`'s value."""

    type: Literal["switch"]
    expression: str
    cases: dict[str, list[Step]]
    default: list[Step] | None = None

    def child_lists(self) -> list[tuple[tuple[Any, ...], list[Any]]]:
        found = [(("cases", key), steps) for key, steps in self.cases.items()]
        return found + ([(("default",), self.default)] if self.default else [])

    def map_children(self, fn: Any) -> Any:
        return self.model_copy(update={
            "cases": {k: [fn(s) for s in v] for k, v in self.cases.items()},
            "default": [fn(s) for s in self.default] if self.default is not None else None})


class OutputMapping(_Model):
    path: str = Field(description="A step of the nested pipeline, then keys of its JSON.")
    as_: str | None = Field(default=None, alias="as")


class PipelineConfig(_Model):
    inherit_context: bool = Field(default=False, description="The nested pipeline sees the "
                                  "parent's global_vars (and its inputs, when none are given).")
    max_depth: int = Field(default=10, ge=1)


class PipelineStep(ContainerBase):
    """`type: pipeline`: another workflow (a file or inline) run as one step."""

    type: Literal["pipeline"]
    pipeline_file: str | None = None
    pipeline: dict[str, Any] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str | OutputMapping] | None = None
    config: PipelineConfig = Field(default_factory=PipelineConfig)

    @model_validator(mode="after")
    def _one_source(self) -> PipelineStep:
        if (self.pipeline_file is None) == (self.pipeline is None):
            raise ValueError("give exactly one of pipeline_file and pipeline")
        return self

    def child_lists(self) -> list[tuple[tuple[Any, ...], list[Any]]]:
        return []  # checked when it is loaded: it is a workflow of its own

    def map_children(self, fn: Any) -> Any:
        return self


class BatchConfig(_Model):
    """How a claude_batch runs its tasks (pipeline_ex's batch_config)."""

    max_parallel: int = Field(default=3, ge=1, description="Tasks streaming at once.")
    timeout_per_task: int = Field(default=60_000, gt=0, description="Milliseconds each task "
                                  "may take.")
    consolidate_results: bool = Field(default=True, description="The step's text: every "
                                      "task's text as one JSON list; false: left empty (read "
                                      "each task as steps.NAME[i]).")


class BatchTask(_Model):
    """One task of a claude_batch: its own prompt, a file to read first, or both."""

    task_id: str | None = Field(default=None, description="A name for the task (default "
                                "task_<i>); its result is steps.NAME[i].")
    prompt: Prompt | None = None
    file: str | None = Field(default=None, description="A file read as the first prompt part.")
    claude_options: dict[str, Any] | None = Field(
        default=None, description="This task's options, over the batch's claude_options.")
    verbose: bool | None = None
    output_format: OutputFormat | None = None

    @model_validator(mode="after")
    def _something_to_ask(self) -> BatchTask:
        if self.prompt is None and self.file is None:
            raise ValueError("a task needs a prompt, a file or both")
        return self


class ClaudeBatchStep(ContainerBase):
    """`type: claude_batch` (pipeline_ex's form): one claude step per task, run at the same
    time, each streamed under NAME[i] with its own result."""

    type: Literal["claude_batch"]
    tasks: list[BatchTask] = Field(min_length=1)
    prompt: Prompt | None = Field(default=None, description="Added after each task's own "
                                  "prompt.")
    batch_config: BatchConfig = Field(default_factory=BatchConfig)
    preset: ClaudePreset | None = Field(default=None, description="Each task is a claude_smart "
                                        "step with this preset.")
    provider: Literal["claude_agent", "anthropic_api"] = "claude_agent"
    model: str | None = None
    claude_options: dict[str, Any] = Field(default_factory=dict)
    mode: Literal["mock", "sim", "live"] | None = None
    mock: dict[str, Any] | str | None = None
    stream_handler: HandlerNames | None = None
    stream_handler_opts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    async_streaming: bool = True
    role: Literal["brain", "muscle"] | None = None
    verbose: bool | None = None
    output_format: OutputFormat | None = None
    continue_on_error: bool = Field(default=True, description="A failed task is kept as "
                                    "failed and the others go on (pipeline_ex's way); false: "
                                    "the first failure cancels the rest.")
    timeout_s: float | None = Field(default=None, gt=0, description="Seconds each task's "
                                    "model call may take, when shorter than "
                                    "timeout_per_task (pipeline_ex's claude_options."
                                    "timeout_ms, which its provider applied to each call).")
    _tasks: list[Any] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _as_steps(self) -> ClaudeBatchStep:
        from pydantic import ValidationError

        from rillet.workflow.problems import unknown_key_message, walk

        shared = self.model_dump(exclude_unset=True, include={
            "provider", "model", "claude_options", "mode", "mock", "stream_handler",
            "stream_handler_opts", "async_streaming", "preset", "role", "verbose",
            "output_format"})
        kind = "claude_smart" if self.preset is not None else "claude"
        steps: list[Any] = []
        problems: dict[str, str] = {}
        for index, task in enumerate(self.tasks):
            parts = [{"type": "file", "path": task.file}] if task.file else []
            parts += [p.model_dump() for p in (task.prompt or [])]
            parts += [p.model_dump() for p in (self.prompt or [])]
            own = task.model_dump(exclude_unset=True,
                                  include={"claude_options", "verbose", "output_format"})
            if "claude_options" in own:  # the task's options over the batch's
                own["claude_options"] = {**shared.get("claude_options", {}),
                                         **own["claude_options"]}
            try:
                steps.append(_STEP_ADAPTER().validate_python({
                    "name": task.task_id or f"task_{index}", "type": kind, "prompt": parts,
                    "timeout_s": min(self.batch_config.timeout_per_task / 1000,
                                     self.timeout_s or float("inf")),
                    **shared, **own}))
            except ValidationError as exc:
                for e in exc.errors():  # a shared key's problem is told once, as the step's
                    loc, holder, _ = walk(Step, tuple(e["loc"]))
                    where = ".".join(str(p) for p in loc)
                    mine = loc[:1] and (loc[0] not in shared or loc[0] in own)
                    problems.setdefault(
                        f"tasks[{index}].{where}" if mine else where,
                        unknown_key_message(str(loc[-1]), holder)
                        if e["type"] == "extra_forbidden" else e["msg"])
        if problems:
            raise ValueError("; ".join(f"{where}: {msg}" for where, msg in problems.items()))
        self._tasks = steps
        return self

    @property
    def steps(self) -> list[Any]:
        return self._tasks

    def map_children(self, fn: Any) -> Any:
        copy = self.model_copy()
        copy._tasks = [fn(s) for s in self._tasks]
        return copy


STEP_TYPES = ("claude", "claude_extract", "claude_robust", "claude_session", "claude_smart",
              "gemini", "gemini_instructor", "set_variable", "echo", "test_echo",
              "data_transform", "file_ops", "parallel", "parallel_claude", "for_loop",
              "while_loop", "switch", "pipeline", "claude_batch")

Step = Annotated[
    Union[Annotated[ClaudeStep, Tag("claude")], Annotated[ClaudeApiStep, Tag("claude_api")],
          Annotated[GeminiStep, Tag("gemini")], Annotated[SetVariableStep, Tag("set_variable")],
          Annotated[ClaudeSmartStep, Tag("claude_smart")],
          Annotated[ClaudeRobustStep, Tag("claude_robust")],
          Annotated[ClaudeExtractStep, Tag("claude_extract")],
          Annotated[ClaudeSessionStep, Tag("claude_session")],
          Annotated[GeminiInstructorStep, Tag("gemini_instructor")],
          Annotated[EchoStep, Tag("echo")],
          Annotated[DataTransformStep, Tag("data_transform")],
          Annotated[FileOpsStep, Tag("file_ops")],
          Annotated[ParallelStep, Tag("parallel")],
          Annotated[ParallelClaudeStep, Tag("parallel_claude")],
          Annotated[ForLoopStep, Tag("for_loop")], Annotated[WhileLoopStep, Tag("while_loop")],
          Annotated[SwitchStep, Tag("switch")], Annotated[PipelineStep, Tag("pipeline")],
          Annotated[ClaudeBatchStep, Tag("claude_batch")]],
    Discriminator(_step_tag),
]

for _container in (ParallelStep, ForLoopStep, WhileLoopStep, SwitchStep):
    _container.model_rebuild()


@lru_cache(maxsize=1)
def _STEP_ADAPTER() -> Any:  # noqa: N802 - built once, on first use
    from pydantic import TypeAdapter

    return TypeAdapter(Step)


# --- the workflow ------------------------------------------------------------------------------


class Defaults(_Model):
    """Values every step gets unless it sets its own."""

    output_dir: str = Field(default="outputs", description="Where output files and results "
                            "go (taken from where the run starts).")
    claude_options: DefaultClaudeOptions = Field(
        default_factory=DefaultClaudeOptions,
        description="Merged under each claude step's claude_options (the step wins; env and "
                    "mcp_servers merge key by key).")
    claude_preset: ClaudePreset | None = Field(
        default=None, description="The preset of claude_smart steps that name none.")
    gemini_model: str | None = Field(default=None,
                                     description="The model of gemini steps that name none.")
    gemini_token_budget: TokenBudget | None = Field(
        default=None, description="Merged under each gemini step's token_budget.")
    mode: Literal["mock", "sim", "live"] | None = None
    async_streaming: bool | None = None
    stream_handler: HandlerNames | None = None
    stream_handler_opts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    stream_buffer_size: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    verbose: bool | None = None
    output_format: OutputFormat | None = None


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else value


class Environment(_Model):
    """`workflow.environment`: which environment the run is for."""

    mode: Literal["development", "production", "test"] = Field(
        description="Read by templates and conditions as workflow.environment.")
    debug_level: Literal["basic", "detailed", "performance"] | None = Field(
        default=None, description="The console's detail for steps that do not set verbose: "
        "basic (text), detailed (also tool calls and thinking), performance (detailed, and "
        "each step's figures at the end of the run).")


class Workflow(_Model):
    name: str
    description: str | None = None
    metadata: dict[str, Any] | None = Field(default=None,
                                            description="Free-form notes for people.")
    version: Annotated[str | None, BeforeValidator(_text)] = None
    workspace_dir: str = "./workspace"
    checkpoint_enabled: bool = False
    checkpoint_dir: str = "./checkpoints"
    global_vars: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict, description=(
        "The state the run starts with ({{ state.x }}), as if a first set_variable step "
        "had set it; set_variable steps change it."))
    inputs: dict[str, Any] = Field(default_factory=dict,
                                   description="Defaults for {{ inputs.x }}; `--input` overrides.")
    max_cost_usd: float | None = Field(default=None, gt=0)
    read_paths: list[str] = Field(default_factory=list, description=(
        "Folders, besides the workflow's own, that prompt files may be read from."))
    pricing: dict[str, Prices] = Field(default_factory=dict, description=(
        "Prices (USD per million tokens) for models rillet has none for, or to replace its "
        "own: {model: {input: 3.0, output: 15.0}}."))
    telemetry: bool | None = None
    gemini_functions: dict[str, GeminiFunction] = Field(
        default_factory=dict, description="Functions gemini steps may call, by name.")
    environment: Environment | None = None
    enable_skills: bool = Field(default=False, description="Claude steps with an "
                                "allowed_tools list may also use the Skill tool.")
    enable_context_management: bool | None = Field(
        default=None, description="true: Claude steps read CLAUDE.md (setting_sources "
        "includes project; [project] when none is given); false: they read no settings "
        "files, so no CLAUDE.md.")
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(json_schema_extra={"minItems": 1})

    def undeclared_functions(self, steps: list[Any]) -> list[tuple[int, str]]:
        """(step index, problem) for each step function gemini_functions does not declare."""
        found = []
        known = ", ".join(self.gemini_functions) or "none are declared"
        for index, top in enumerate(steps):
            for step in _with_children(top):  # a gemini step inside a container too
                for name in getattr(step, "functions", None) or ():
                    if name not in self.gemini_functions:
                        where = "" if step is top else f"step '{step.name}': "
                        found.append((index, f"{where}function '{name}' is not in "
                                             f"gemini_functions ({known})"))
        return found

    def idle_function_rounds(self, steps: list[Any]) -> list[tuple[int, str]]:
        """(step index, problem) for each step with max_function_rounds whose functions
        have no implementation: no function runs, so there are no rounds to bound."""
        found = []
        for index, top in enumerate(steps):
            for step in _with_children(top):
                if step is None or "max_function_rounds" not in getattr(
                        step, "model_fields_set", ()) or not getattr(step, "functions", None):
                    continue
                declared = [self.gemini_functions.get(name) for name in step.functions]
                if not any(f is not None and f.implementation for f in declared):
                    where = "" if step is top else f"step '{step.name}': "
                    found.append((index, f"{where}max_function_rounds bounds the rounds of "
                                         f"functions rillet runs, and none of this step's "
                                         f"functions has an implementation"))
        return found

    # Set by the loader (never from YAML): relative prompt files are read from its folder.
    _source_path: str | None = PrivateAttr(default=None)
    # Set by the loader: keys accepted although they change nothing, each with why.
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def source_path(self) -> str | None:
        return self._source_path

    @property
    def notes(self) -> list[str]:
        return self._notes


def _with_children(step: Any) -> list[Any]:
    found = [step]
    if isinstance(step, ContainerBase):
        for _, children in step.child_lists():
            for child in children:
                found += _with_children(child)
    return found


class WorkflowFile(_Model):
    """The whole file: one top-level key, `workflow`."""

    workflow: Workflow
