"""pipeline_ex's step `schema:` sketch, as the JSON Schema rillet's structured output takes.

Its genesis files sketch the object they want: a mapping of field names to type names
(`name: string`), nested mappings for objects, and a list with one example item for a
list of such items. pipeline_ex read none of it (its model answered in prose); rillet asks
for an object of that shape. Every field sketched is required.
"""

from __future__ import annotations

from typing import Any

TYPE_NAMES = {"string": "string", "integer": "integer", "number": "number",
              "boolean": "boolean", "array": "array", "object": "object"}


class SketchError(ValueError):
    """A part of the sketch that names no type: `where` is its path inside `schema`."""

    def __init__(self, where: tuple[Any, ...], message: str):
        self.where = where
        super().__init__(message)


def sketch_to_json_schema(sketch: Any, where: tuple[Any, ...] = ()) -> dict[str, Any]:
    if isinstance(sketch, dict):
        if not sketch:
            return {"type": "object"}
        properties = {str(key): sketch_to_json_schema(value, where + (key,))
                      for key, value in sketch.items()}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if isinstance(sketch, list):
        if not sketch:
            return {"type": "array"}
        if len(sketch) > 1:
            raise SketchError(where, "a list in a schema sketch shows one example item (the "
                                     f"shape of every item); this one has {len(sketch)}")
        return {"type": "array", "items": sketch_to_json_schema(sketch[0], where + (0,))}
    if isinstance(sketch, str) and sketch.strip().lower() in TYPE_NAMES:
        return {"type": TYPE_NAMES[sketch.strip().lower()]}
    raise SketchError(where, f"{sketch!r} is not a type name a sketch may use "
                             f"({', '.join(TYPE_NAMES)}), a mapping or a one-item list")
