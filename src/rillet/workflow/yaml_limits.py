"""Bounds on a workflow's YAML, checked on the parser's events before anything is built.

An alias bomb (a few hundred bytes whose `*aliases` expand to millions of values) or
thousands of nested brackets would otherwise take minutes and gigabytes, or overflow
Python's stack. The event stream is flat, so this pass is linear in the text: each anchor
remembers how many values it expands to, and an alias adds that many. Only what aliases
add is bounded: a long file written out (10,000 steps) costs time in proportion to its text.
"""

from __future__ import annotations

import yaml

from rillet.workflow.problems import Problems

MAX_VALUES = 100_000  # scalars and collections that aliases add beyond those written out
MAX_DEPTH = 100  # collections inside collections


def check_yaml(text: str, problems: Problems) -> bool:
    """Add a problem and return False when `text` is beyond the bounds (or holds a
    character YAML forbids); syntax errors are left to the parser that follows."""
    sizes: dict[str, int] = {}
    stack: list[list[object]] = []  # [anchor, values so far] per open collection
    total = 0
    written = 0  # values in the text itself: a file is allowed to be as big as it is
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                written += 1
                stack.append([event.anchor, 1])
                if len(stack) > MAX_DEPTH:
                    problems.add_raw(_line(event), f"the YAML nests more than {MAX_DEPTH} "
                                                   f"levels deep; flatten it")
                    return False
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, size = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
                written += 1
            elif isinstance(event, yaml.AliasEvent):
                anchor, size = None, sizes.get(event.anchor, 1)
                written += 1
            else:
                continue
            if anchor is not None:
                sizes[anchor] = size  # type: ignore[index]
            if stack:
                stack[-1][1] += size  # type: ignore[operator]
            total += size if not stack else 0
            expanded = total + sum(frame[1] for frame in stack)  # type: ignore[misc]
            if expanded - written > MAX_VALUES:
                problems.add_raw(_line(event), f"the YAML expands to more than {MAX_VALUES:,} "
                                               f"values through its aliases (*name); "
                                               f"write the values out or use fewer aliases")
                return False
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character
        name = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        problems.add_raw(line, f"invalid YAML: the character {name} is not allowed in YAML "
                               f"text (position {exc.position + 1}); remove it")
        return False
    except yaml.YAMLError:
        return True  # the parser that follows reports it with its line
    return True


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else None
