"""Strategies: candles, signals or a schedule in, ``Intent``s out (never orders).

``registry`` lists them, describes their parameters for the UI and builds them from user
values; ``base`` is the contract the live host and the backtester implement against.
"""

from terminal.strategies.base import (
    CandleSource,
    EntryKind,
    InputKind,
    Intent,
    IntentAction,
    ParamError,
    SizeHint,
    Skip,
    Strategy,
    StrategyContext,
    StrategyError,
)
from terminal.strategies.registry import (
    ParamInfo,
    ParamKind,
    StrategyInfo,
    UnknownStrategy,
    describe,
    get,
    list_strategies,
    make,
    names,
    params_dict,
    parse_params,
)

__all__ = [
    "CandleSource",
    "EntryKind",
    "InputKind",
    "Intent",
    "IntentAction",
    "ParamError",
    "ParamInfo",
    "ParamKind",
    "SizeHint",
    "Skip",
    "Strategy",
    "StrategyContext",
    "StrategyError",
    "StrategyInfo",
    "UnknownStrategy",
    "describe",
    "get",
    "list_strategies",
    "make",
    "names",
    "params_dict",
    "parse_params",
]
