"""A plausible object that fits a JSON Schema, for the simulator and the mock provider.

The same schema and seed always give the same object, so simulated structured replies are
as repeatable as simulated text. It covers what model output schemas use: object, array,
string (enum, const, format date / date-time / email / uri, length), number / integer
(bounds), boolean, null, `$ref` into `$defs`, `anyOf` / `oneOf` / `allOf`, and `default`.
"""

from __future__ import annotations

import random
from typing import Any

_WORDS = ("clear", "steady", "careful", "simple", "minor", "solid", "useful", "brief",
          "focused", "sound")
_NOUNS = ("change", "review", "result", "detail", "step", "finding", "summary", "note")


def sample(schema: dict[str, Any], seed: int = 0) -> Any:
    """An instance of `schema` (deterministic for a given seed)."""
    return _Sampler(schema, random.Random(seed)).value(schema, "value", 0)


class _Sampler:
    def __init__(self, root: dict[str, Any], rng: random.Random):
        self.root = root
        self.rng = rng

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict) or depth > 8:
            return None
        if "$ref" in schema:
            return self.value(self._ref(schema["$ref"]), name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema and schema["enum"]:
            return self.rng.choice(schema["enum"])
        if "default" in schema:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            options = [s for s in schema.get(key) or () if s.get("type") != "null"]
            if options:
                return self.value(options[0], name, depth + 1)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._ref(part["$ref"]) if "$ref" in part else part)
            return self.value(merged, name, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, name, depth)

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        return {key: self.value(sub, key, depth + 1)
                for key, sub in (schema.get("properties") or {}).items()}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        low = int(schema.get("minItems", 2 if depth < 2 else 1))
        high = int(schema.get("maxItems", max(low, 3)))
        count = max(low, min(high, self.rng.randint(low, max(low, 3))))
        item = schema.get("items") or {"type": "string"}
        return [self.value(item, name, depth + 1) for _ in range(count)]

    def _string(self, schema: dict[str, Any], name: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return "2026-01-15"
        if fmt == "date-time":
            return "2026-01-15T09:30:00Z"
        if fmt == "email":
            return "someone@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com/" + name
        text = f"{self.rng.choice(_WORDS)} {self.rng.choice(_NOUNS)} for {name.replace('_', ' ')}"
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += " " + self.rng.choice(_NOUNS)
        return text[:int(high)] if high is not None else text

    def _number(self, schema: dict[str, Any], name: str, depth: int) -> float:
        low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0)))
        high = float(schema.get("maximum", schema.get("exclusiveMaximum", low + 10)))
        return round(low + (high - low) * (0.25 + 0.5 * self.rng.random()), 2)

    def _integer(self, schema: dict[str, Any], name: str, depth: int) -> int:
        low = int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
        high = int(schema.get("maximum", schema.get("exclusiveMaximum", low + 11) - 1))
        return self.rng.randint(low, max(low, high))

    def _boolean(self, schema: dict[str, Any], name: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: dict[str, Any], name: str, depth: int) -> None:
        return None

    def _ref(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
