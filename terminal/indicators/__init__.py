"""Technical indicators on float64 numpy arrays (no Qt: the chart and strategies share them).

Every function returns arrays as long as its input, with NaN during the warm-up (the first bars
that do not have enough history yet); an input shorter than the warm-up gives all NaN.
"""

from terminal.indicators.atr import atr, true_range
from terminal.indicators.bollinger import Bands, bollinger
from terminal.indicators.macd import Macd, macd
from terminal.indicators.moving import ema, sma
from terminal.indicators.rsi import rsi

__all__ = ["Bands", "Macd", "atr", "bollinger", "ema", "macd", "rsi", "sma", "true_range"]
