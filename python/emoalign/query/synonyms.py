"""LLM-assisted synonym grouping for open-vocabulary emotion labels, as MER2024 evaluates them.

MER2024 (MERTools, ``main-ov.py``) takes, for each sample, the lower-cased union of the ground
truth words and the predicted words, asks GPT at temperature 0 to group the words that share a
meaning, and then maps every word of a group to the group's first word before computing set
precision and recall. ``group_synonyms`` does the same through the query layer's providers,
with schema-constrained JSON instead of a free-text Python list, local validation (only input
words, each at most once; unmentioned words become groups of their own, which is what MER's
mapping does with them), and the reply cache, so a grouping is reproduced from the cache for free.

The result maps each sample to its groups, the ``synonyms=`` format of
``emoalign.metrics.openset_scores``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl
from tqdm.auto import tqdm

from emoalign.query.cost import Usage
from emoalign.query.engine import Engine, QueryOptions
from emoalign.query.providers import Provider, make_provider
from emoalign.query.request import Request, Text, Turn
from emoalign.query.run import CacheSpec, open_cache
from emoalign.query.tasks import InvalidReply, parse_json_reply

log = logging.getLogger("emoalign.query")

PathLike = str | os.PathLike[str]
Labels = Mapping[str, Iterable[str]] | PathLike

SYNONYM_TEMPLATE = (
    "You are an expert on emotions. Below is a set of emotion words. Group the words so that "
    "each group holds words with the same meaning; a word without a synonym in the set forms a "
    "group of its own. Use every word exactly once, spelled exactly as given. Reply with a JSON "
    'object {{"groups": [[word, ...], ...]}}.\n\n'
    'Example. Words: ["cheerful", "tense", "glad", "calm", "nervous", "happy"] '
    'Reply: {{"groups": [["cheerful", "glad", "happy"], ["tense", "nervous"], ["calm"]]}}\n\n'
    "Words: {words}"
)

SYNONYM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "groups": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
    },
    "required": ["groups"],
    "additionalProperties": False,
}


class SynonymGroupingError(RuntimeError):
    """Some samples got no valid grouping; ``failed`` says why, ``groups`` holds the rest."""

    def __init__(self, failed: dict[str, str], groups: dict[str, list[list[str]]]) -> None:
        shown = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        super().__init__(
            f"{len(failed)} sample(s) got no valid synonym grouping ({shown}); re-run (finished "
            "samples come from the cache) or pass on_failure='singletons'"
        )
        self.failed = failed
        self.groups = groups


def normalise(word: str) -> str:
    """MER2024 lower-cases the words; surrounding and repeated whitespace is dropped too."""
    return " ".join(word.split()).lower()


def read_openset_csv(path: PathLike, *, argument: str) -> dict[str, list[str]]:
    """An OV-MERD style CSV: columns ``name`` and ``openset`` (a list written like "['a', 'b']")."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{argument}={str(p)!r} is not a file; pass a CSV with name,openset")
    df = pl.read_csv(p, schema_overrides={"name": pl.String, "openset": pl.String})
    if not {"name", "openset"} <= set(df.columns):
        raise ValueError(
            f"{argument}: {p.name} needs the columns 'name' and 'openset', has {df.columns}"
        )
    out: dict[str, list[str]] = {}
    for row, (name, cell) in enumerate(zip(df["name"], df["openset"], strict=True), start=2):
        if name in out:
            raise ValueError(f"{argument}: {p.name} line {row}: sample {name!r} appears twice")
        if cell is None or not cell.strip():
            out[name] = []
            continue
        try:
            value = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            raise ValueError(
                f"{argument}: {p.name} line {row}: cannot parse openset {cell!r}; write a list "
                "like \"['happy', 'relaxed']\""
            ) from None
        if not isinstance(value, (list, tuple)) or not all(isinstance(w, str) for w in value):
            raise ValueError(f"{argument}: {p.name} line {row}: openset must be a list of strings")
        out[name] = list(value)
    return out


def _labels(labels: Labels, argument: str) -> dict[str, list[str]]:
    if isinstance(labels, (str, os.PathLike)):
        return read_openset_csv(labels, argument=argument)
    if not isinstance(labels, Mapping):
        raise TypeError(f"{argument} must be a mapping of sample to words or a CSV path")
    out = {}
    for name, words in labels.items():
        if isinstance(words, str):
            raise TypeError(
                f"{argument}[{name!r}] is a string; pass a list of words (e.g. ['happy'])"
            )
        out[str(name)] = list(words)
    return out


def merged_words(*lists: Iterable[str]) -> list[str]:
    """Normalised words of all lists, first occurrence first (deterministic prompts)."""
    out: list[str] = []
    for words in lists:
        for w in words:
            n = normalise(w)
            if n and n not in out:
                out.append(n)
    return out


def parse_groups(text: str, words: list[str]) -> list[list[str]]:
    """Validate a grouping against the words that were asked about."""
    data = parse_json_reply(text)
    groups = data.get("groups") if isinstance(data, dict) else data  # MER's bare list form too
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise InvalidReply('expected {"groups": [[word, ...], ...]}')
    allowed = set(words)
    seen: set[str] = set()
    out: list[list[str]] = []
    for group in groups:
        clean: list[str] = []
        for w in group:
            if not isinstance(w, str):
                raise InvalidReply(f"every word must be a string, got {w!r}")
            n = normalise(w)
            if n not in allowed:
                raise InvalidReply(f"{w!r} is not one of the given words")
            if n in seen:
                raise InvalidReply(f"{w!r} appears in more than one place; use each word once")
            seen.add(n)
            clean.append(n)
        if clean:
            out.append(clean)
    out.extend([w] for w in words if w not in seen)
    return out


def synonym_request(words: list[str], options: QueryOptions) -> Request:
    prompt = SYNONYM_TEMPLATE.format(words=json.dumps(words, ensure_ascii=False))
    return Request(
        turns=(Turn("user", (Text(prompt),)),),
        schema=SYNONYM_SCHEMA,
        schema_name="synonym_groups",
        temperature=options.temperature,
        max_tokens=options.max_tokens,
    )


def _word_sets(
    samples: Labels | None, ground_truth: Labels | None, predictions: Labels | None
) -> dict[str, list[str]]:
    if samples is not None:
        if ground_truth is not None or predictions is not None:
            raise ValueError("pass either samples or ground_truth with predictions, not both")
        return {k: merged_words(v) for k, v in _labels(samples, "samples").items()}
    if ground_truth is None or predictions is None:
        raise ValueError("pass samples, or both ground_truth and predictions")
    gt = _labels(ground_truth, "ground_truth")
    pred = _labels(predictions, "predictions")
    # As in MER2024: one grouping per ground-truth sample (scoring skips samples without one).
    return {k: merged_words(words, pred.get(k, [])) for k, words in gt.items()}


async def agroup_synonyms(
    samples: Labels | None = None,
    *,
    ground_truth: Labels | None = None,
    predictions: Labels | None = None,
    provider: str | Provider,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache: CacheSpec = None,
    options: QueryOptions | None = None,
    on_failure: Literal["raise", "singletons"] = "raise",
    usage: Usage | None = None,
) -> dict[str, list[list[str]]]:
    """Group same-meaning emotion words per sample with an LLM, as MER2024 scores (asynchronous).

    MER2024 merges each sample's ground-truth and predicted words (lowercased), asks GPT at
    temperature 0 to group the words that share a meaning, and maps every word to its group's
    first word before computing set precision and recall (``emoalign.metrics.openset_scores``).
    This does the same through the query layer's providers, with schema-constrained JSON,
    local validation (only input words, each at most once; unmentioned words become groups of
    their own) and the reply cache.

    Parameters
    ----------
    samples : mapping or path, optional
        Sample id -> words. Give either this or ``ground_truth`` and ``predictions``.
    ground_truth, predictions : mapping or path, optional
        Mappings of sample id -> words, or OV-MERD CSV paths with columns ``name`` and
        ``openset``; their words are merged per sample as MER2024 does.
    provider, model, base_url, api_key_env
        As for ``emoalign.query.aquery``.
    cache : path, Cache or False, optional
        As for ``aquery``; a grouping is reproduced from the cache for free.
    options : QueryOptions, optional
        As for ``aquery`` (temperature 0 by default, as MER2024 asks GPT).
    on_failure : {"raise", "singletons"}, default "raise"
        What to do when a sample ends without a valid grouping after retries: raise
        ``SynonymGroupingError`` (finished samples stay cached), or give it one group per word.
    usage : Usage, optional
        Filled with tokens, requests and cost.

    Returns
    -------
    dict of str to list of list of str
        Sample id -> groups, in input order; the ``synonyms=`` argument of
        ``emoalign.metrics.openset_scores``. Samples with fewer than two words need no call.

    Raises
    ------
    SynonymGroupingError
        With ``on_failure="raise"``, if a sample has no valid grouping; it carries the
        failures and the groupings that succeeded.
    ValueError
        If the inputs are missing or malformed, or ``on_failure`` is unknown.

    References
    ----------
    Lian, Z. et al. (2024). MER 2024: semi-supervised learning, noise robustness, and
    open-vocabulary multimodal emotion recognition. *MRAC '24 (ACM Multimedia workshop)*.
    MERTools ``MER2024/main-ov.py``.
    """
    if on_failure not in ("raise", "singletons"):
        raise ValueError(f"on_failure must be 'raise' or 'singletons', got {on_failure!r}")
    word_sets = _word_sets(samples, ground_truth, predictions)
    prov = make_provider(provider, model, base_url=base_url, api_key_env=api_key_env)
    options = options if options is not None else QueryOptions()
    usage = usage if usage is not None else Usage()
    result: dict[str, list[list[str]]] = {}
    failed: dict[str, str] = {}
    show = options.progress if options.progress is not None else sys.stderr.isatty()
    store, owned = open_cache(cache)
    try:
        async with Engine(prov, store, options, usage) as engine:
            bar = tqdm(total=len(word_sets), unit="sample", disable=not show, desc="synonyms")

            async def one(name: str, words: list[str]) -> None:
                if len(words) < 2:
                    result[name] = [[w] for w in words]
                else:
                    outcome = await engine.ask(
                        synonym_request(words, options), lambda t: parse_groups(t, words)
                    )
                    if outcome.status == "ok":
                        assert outcome.value is not None
                        result[name] = outcome.value
                    else:
                        failed[name] = outcome.error or outcome.status
                bar.update(1)

            try:
                await asyncio.gather(*(one(k, v) for k, v in word_sets.items()))
            finally:
                bar.close()
    finally:
        if owned and store is not None:
            store.close()
    ordered = {k: result[k] for k in word_sets if k in result}
    log.info("synonym grouping of %d samples: %s", len(word_sets), usage.summary())
    if failed:
        if on_failure == "raise":
            raise SynonymGroupingError(failed, ordered)
        log.warning("%d sample(s) without a valid grouping use one group per word", len(failed))
        ordered = {k: result.get(k) or [[w] for w in word_sets[k]] for k in word_sets}
    return ordered


def group_synonyms(
    samples: Labels | None = None,
    *,
    ground_truth: Labels | None = None,
    predictions: Labels | None = None,
    provider: str | Provider,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache: CacheSpec = None,
    options: QueryOptions | None = None,
    on_failure: Literal["raise", "singletons"] = "raise",
    usage: Usage | None = None,
) -> dict[str, list[list[str]]]:
    """Group same-meaning emotion words per sample with an LLM, as MER2024 scores.

    The synchronous form of ``agroup_synonyms``, with the same parameters and result.

    Raises
    ------
    RuntimeError
        If called from inside a running event loop (use ``await agroup_synonyms(...)``).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "group_synonyms() cannot run inside an event loop; await agroup_synonyms"
        )
    return asyncio.run(
        agroup_synonyms(
            samples,
            ground_truth=ground_truth,
            predictions=predictions,
            provider=provider,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            cache=cache,
            options=options,
            on_failure=on_failure,
            usage=usage,
        )
    )
