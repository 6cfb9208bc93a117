"""The price table: one YAML file per model family, validated once, looked up by model id.

Prices are kept per token (the files say per million) so pricing a Usage event is four
multiplications. A model the table does not know has no price: callers get None and
report the cost as unknown, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError, model_validator,
)

from rillet.errors import RilletError

PER_MILLION = 1_000_000


class PriceTableError(RilletError):
    """A pricing data file is broken; the message names the file and the entry."""


# --- the data files' schema ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierPrices(_Strict):
    above_prompt_tokens: int = Field(gt=0)
    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat | None = None  # None: not published, cost unknown
    cache_write: NonNegativeFloat | None = None


class ModelPrices(_Strict):
    aliases: list[str] = []
    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat | None = None
    cache_write: NonNegativeFloat | None = None
    tiers: list[TierPrices] = []

    @model_validator(mode="after")
    def _tiers_ascend(self) -> ModelPrices:
        limits = [t.above_prompt_tokens for t in self.tiers]
        if limits != sorted(set(limits)):
            raise ValueError("tiers must have distinct above_prompt_tokens in ascending order")
        return self


class PriceFile(_Strict):
    family: str
    source: str  # where the prices were published
    checked: date  # when they were last compared with that source
    models: dict[str, ModelPrices]


# --- the loaded table ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for one price band; None where no price is published."""

    input: float
    output: float
    cache_read: float | None
    cache_write: float | None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    id: str
    family: str
    base: Rates
    # (prompt tokens above which the band applies, its rates), highest threshold first
    tiers: tuple[tuple[int, Rates], ...] = ()

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
             cache_write_tokens: int = 0) -> float | None:
        """USD for one request's tokens; None when a token kind present has no price.

        The tier is chosen by the prompt size. A step of several turns (tool use) reports
        totals over all of them, which are priced here as one request: an estimate that
        can pick a higher tier than the turns did; the Claude CLI's own total replaces it."""
        rates = self.base
        if self.tiers:
            prompt = input_tokens + cache_read_tokens + cache_write_tokens
            for limit, band in self.tiers:
                if prompt > limit:
                    rates = band
                    break
        usd = input_tokens * rates.input + output_tokens * rates.output
        if cache_read_tokens:
            if rates.cache_read is None:
                return None
            usd += cache_read_tokens * rates.cache_read
        if cache_write_tokens:
            if rates.cache_write is None:
                return None
            usd += cache_write_tokens * rates.cache_write
        return usd


def _per_token(prices: ModelPrices | TierPrices) -> Rates:
    def scale(value: float | None) -> float | None:
        return None if value is None else value / PER_MILLION

    return Rates(prices.input / PER_MILLION, prices.output / PER_MILLION,
                 scale(prices.cache_read), scale(prices.cache_write))


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a price table must not hide one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode,
                       deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_mapping)


def parse_price_file(text: str, name: str) -> PriceFile:
    """Validate one data file; PriceTableError says which file and entry is wrong."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PriceTableError(f"pricing/{name}: not valid YAML: {exc}") from exc
    try:
        return PriceFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<file>'}: {err['msg']}"
            for err in exc.errors())
        raise PriceTableError(f"pricing/{name}: {problems}. Fix the data file "
                              f"(prices are USD per million tokens).") from exc


def build_index(files: dict[str, PriceFile]) -> dict[str, ModelPrice]:
    """Every id and alias -> its ModelPrice; an id claimed twice is an error."""
    index: dict[str, ModelPrice] = {}
    where: dict[str, str] = {}
    for name, price_file in sorted(files.items()):
        for model_id, prices in price_file.models.items():
            entry = ModelPrice(
                id=model_id, family=price_file.family, base=_per_token(prices),
                tiers=tuple((t.above_prompt_tokens, _per_token(t))
                            for t in reversed(prices.tiers)))
            for key in (model_id, *prices.aliases):
                key = key.lower()
                if key in index:
                    raise PriceTableError(
                        f"pricing/{name}: {key!r} is already priced in pricing/{where[key]}; "
                        f"a model id or alias may appear once")
                index[key] = entry
                where[key] = name
    return index


@cache
def price_table() -> dict[str, ModelPrice]:
    """The table from the package's data files, loaded and validated once."""
    files = {}
    for item in resources.files(__package__).iterdir():
        if item.name.endswith(".yaml"):
            files[item.name] = parse_price_file(item.read_text(encoding="utf-8"), item.name)
    if not files:
        raise PriceTableError("no pricing data files found in rillet/providers/pricing/; "
                              "reinstall rillet")
    return build_index(files)


# A suffix that names a release of a listed model: a date (-20250929, @20250929), a
# version (-001, -v1:0), "-latest", or a context-window tag such as "[1m]".
_RELEASE_SUFFIX = re.compile(r"(?:[-@](?:\d{8}|\d{3}|v\d+(?::\d+)?|latest))+$")
_CONTEXT_TAG = re.compile(r"\[[^\]]*\]$")


@lru_cache(maxsize=256)
def find_price(model: str | None) -> ModelPrice | None:
    """The prices for a model id: exact id or alias, then with its release suffix removed
    (claude-sonnet-4-5-20250929 -> claude-sonnet-4-5). Unknown -> None."""
    if not model:
        return None
    table = price_table()
    key = model.strip().lower()
    key = key.removeprefix("models/")  # how the Gemini API names models
    key = _CONTEXT_TAG.sub("", key)
    entry = table.get(key)
    if entry is not None:
        return entry
    bare = _RELEASE_SUFFIX.sub("", key)
    return table.get(bare) if bare != key else None


def price_usd(model: str | None, input_tokens: int, output_tokens: int,
              cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """What these tokens cost on this model, in USD; None for a model the table does not
    know (or a token kind it has no published price for)."""
    from rillet.providers.pricing.overrides import price_for  # the workflow's prices first

    entry = price_for(model)
    if entry is None:
        return None
    return entry.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
