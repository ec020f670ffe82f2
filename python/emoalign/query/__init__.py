"""MLLM query layer: dependable, resumable collection of emotion judgements over video sets.

The package is itself callable: ``emoalign.query(videos, provider=..., ...)`` is
``emoalign.query.run.query``, whichever of its submodules have been imported.

``query`` / ``aquery`` ask a multimodal model (OpenAI-compatible Chat Completions or Gemini) about
every video and return a long-form polars table (see ``emoalign.query.output``); ``to_wide``
turns it into videos × items. ``group_synonyms`` groups open-vocabulary emotion words per sample
in the MER2024 way. Everything goes through one SQLite cache: nothing is paid for twice.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

import polars as pl

from emoalign.query.ablation import AblationResult, aablate, ablate
from emoalign.query.cache import Cache, default_cache_path
from emoalign.query.cost import DEFAULT_PRICES, Usage
from emoalign.query.emotions import CK34, CK_DIMENSIONS
from emoalign.query.engine import QueryOptions
from emoalign.query.modalities import MODALITIES
from emoalign.query.output import CONTRACT_COLUMNS, SCHEMA, failures, to_wide, write_parquet
from emoalign.query.pipeline import Prompts
from emoalign.query.provenance import read_provenance
from emoalign.query.providers import GeminiProvider, OpenAIProvider, Provider, make_provider
from emoalign.query.run import aquery, query
from emoalign.query.synonyms import SynonymGroupingError, agroup_synonyms, group_synonyms
from emoalign.query.tasks import Task, make_task
from emoalign.query.video import Sampling


class _CallableModule(types.ModuleType):
    """A module that answers calls with ``query``.

    ``emoalign.query`` has to be both the package (``from emoalign.query import Sampling``) and
    the entry point (``emoalign.query(...)``). Importing any submodule binds the package to the
    parent's ``query`` attribute, so a function served under that name would be shadowed as soon
    as, say, ``emoalign.query.output`` is imported. Making the package callable keeps one object
    under the name, whatever is imported and in whichever order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        return query(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
# inspect.signature(emoalign.query) then reports query()'s parameters (IDEs, help()).
__signature__ = inspect.signature(query)

__all__ = [
    "CK34",
    "CK_DIMENSIONS",
    "CONTRACT_COLUMNS",
    "DEFAULT_PRICES",
    "MODALITIES",
    "SCHEMA",
    "AblationResult",
    "Cache",
    "GeminiProvider",
    "OpenAIProvider",
    "Prompts",
    "Provider",
    "QueryOptions",
    "Sampling",
    "SynonymGroupingError",
    "Task",
    "Usage",
    "aablate",
    "ablate",
    "agroup_synonyms",
    "aquery",
    "default_cache_path",
    "failures",
    "group_synonyms",
    "make_provider",
    "make_task",
    "query",
    "read_provenance",
    "to_wide",
    "write_parquet",
]
