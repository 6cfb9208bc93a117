"""Problems a person can act on: indentation explained in a sentence, and complete
"expected one of" lists."""

from __future__ import annotations

import textwrap

import pytest

from rillet.errors import WorkflowError
from rillet.workflow.compat import MOVED_FROM_CLAUDE_OPTIONS
from rillet.workflow.loader import loads_workflow


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        loads_workflow(textwrap.dedent(text), source="flow.yaml")
    return info.value.problems


@pytest.mark.parametrize("text, line", [
    ("""
     workflow:
       name: x
       steps:
         - name: a
           type: claude
          prompt: hi
     """, 7),
    ("""
     workflow:
       name: x
       steps:
         - name: a
           type: claude
             prompt: hi
     """, 7),
])
def test_an_indentation_mistake_is_explained_in_a_sentence(text, line):
    [problem] = problems_of(text)
    assert problem.startswith(f"flow.yaml:{line}: invalid YAML")
    assert f"Most likely line {line} is indented differently from the lines around it" \
        in problem


def test_a_tab_is_named_as_the_problem():
    [problem] = problems_of("workflow:\n\tname: x\n")
    assert "YAML does not allow tabs for indentation: indent with spaces" in problem


def test_claude_options_list_the_keys_moved_from_there_too():
    [problem] = problems_of("""
    workflow:
      name: x
      steps:
        - name: a
          type: claude
          prompt: hi
          claude_options:
            zzzz_unheard_of: 1
    """)
    assert "expected one of: " in problem
    listed = problem.split("expected one of: ")[1].split(", ")
    assert set(MOVED_FROM_CLAUDE_OPTIONS) <= set(listed)
    assert "max_turns" in listed
