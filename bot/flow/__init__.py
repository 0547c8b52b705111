"""Flows: the YAML format (schema), loading and checking (loader), and compiling (compiler)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.compliance import DEFAULT_LISTS, KeywordLists
from bot.flow.compiler import CompiledFlow, compile_flow
from bot.flow.errors import FlowError
from bot.flow.loader import ActionParams, load_flows
from bot.flow.schema import FlowSpec

__all__ = ["CompiledFlow", "FlowError", "FlowSet", "FlowSpec", "load_flow_set"]


@dataclass
class FlowSet:
    """Every flow the bot runs, indexed by name and by trigger keyword."""

    flows: dict[str, CompiledFlow]
    keywords: dict[str, tuple[str, str]]  # normalised keyword -> (flow name, language)
    default: str
    lists: KeywordLists

    @classmethod
    def from_specs(cls, specs: list[FlowSpec]) -> FlowSet:
        compiled = {spec.name: compile_flow(spec) for spec in specs}
        keywords = {
            word: (name, lang)
            for name, flow in compiled.items()
            for word, lang in flow.keywords.items()
        }
        lists = DEFAULT_LISTS
        for spec in specs:
            c = spec.compliance
            lists = lists.extended(c.stop_words, c.help_words, c.start_words)
        # A trigger keyword is never a compliance keyword ("START" cannot start a flow).
        for word in keywords:
            if word in lists.stop | lists.help | lists.start:
                raise FlowError(
                    Path(specs[0].name),
                    None,
                    f"trigger keyword {word!r} is a compliance keyword (STOP/HELP/START words)",
                )
        return cls(flows=compiled, keywords=keywords, default=specs[0].name, lists=lists)


def load_flow_set(path: Path, actions: ActionParams) -> FlowSet:
    """Load, check and compile every flow at `path` (raises `FlowError`)."""
    return FlowSet.from_specs(load_flows(path, actions))
