"""Every model of the workflow schema rejects a key it does not know (a typo must be an
error, never silently ignored). The models are found by walking the schema from
WorkflowFile, so a model added later is tested without anyone listing it here."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError

from rillet.streaming.handler import handler_names, resolve
from rillet.workflow.schema import WorkflowFile

UNKNOWN = "surely_not_a_key"


def schema_models(root: type[BaseModel]) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}

    def visit(annotation: typing.Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in found:
                return
            found[annotation] = None
            for field in annotation.model_fields.values():
                visit(field.annotation)
            for sub in annotation.__subclasses__():  # a base stands for its step types
                visit(sub)
            return
        for arg in typing.get_args(annotation):  # list[...], X | None, Annotated, unions
            visit(arg)

    visit(root)
    return list(found)


MODELS = schema_models(WorkflowFile)


def test_the_walk_finds_the_step_and_option_models():
    names = {model.__name__ for model in MODELS}
    assert {"Workflow", "Defaults", "ClaudeStep", "GeminiStep", "ClaudeOptions",
            "TokenBudget", "FilePart"} <= names


def test_the_walk_finds_the_container_steps_and_their_parts():
    names = {model.__name__ for model in MODELS}
    assert {"ParallelStep", "ParallelClaudeStep", "ParallelClaudeTask", "ForLoopStep",
            "WhileLoopStep", "SwitchStep", "PipelineStep", "PipelineConfig",
            "OutputMapping"} <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_schema_model_rejects_an_unknown_key(model):
    with pytest.raises(ValidationError) as info:
        model.model_validate({UNKNOWN: 1})
    rejected = [e for e in info.value.errors() if e["type"] == "extra_forbidden"]
    assert [e["loc"][-1] for e in rejected] == [UNKNOWN], info.value.errors()


@pytest.mark.parametrize("name", handler_names())
def test_every_built_in_handlers_options_reject_an_unknown_key(name):
    with pytest.raises(ValidationError) as info:
        resolve(name).options.model_validate({UNKNOWN: 1})
    assert any(e["type"] == "extra_forbidden" for e in info.value.errors())
