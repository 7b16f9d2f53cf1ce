"""Benchmarking a value against England: the Fingertips rule.

An interval entirely below England's value is "lower", entirely above is "higher", otherwise
"similar". The indicator's polarity turns lower/higher into better/worse; with no polarity the
outcome stays lower/similar/higher and is shown in neutral colours. Anything missing is "not
compared".

Colours are from the Okabe-Ito colour-blind-safe palette (Okabe and Ito 2008, "Color Universal
Design"), not Fingertips' red/amber/green, which many colour-blind readers cannot separate:
better = bluish green #009E73, similar = yellow #F0E442, worse = vermillion #D55E00; neutral
lower = sky blue #56B4E9, neutral higher = blue #0072B2; not compared = light grey #DDDDDD.
Colour is never the only carrier of meaning: every outcome has a plain-words label, and charts
and tables must show it.
"""
from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from data.errors import DataError

POLARITIES = ("lower", "higher", "none")


class Outcome(StrEnum):
    """A benchmark outcome; its value is the plain word used in exports (str(outcome) == value)."""

    BETTER = "better"
    SIMILAR = "similar"
    WORSE = "worse"
    LOWER = "lower"
    HIGHER = "higher"
    NOT_COMPARED = "not compared"

    @property
    def label(self) -> str:
        """Plain words for a site lead: what the outcome means against England."""
        return _LABELS[self]

    @property
    def colour(self) -> str:
        return _COLOURS[self]


_LABELS = {
    Outcome.BETTER: "Better than England",
    Outcome.SIMILAR: "Similar to England",
    Outcome.WORSE: "Worse than England",
    Outcome.LOWER: "Lower than England",
    Outcome.HIGHER: "Higher than England",
    Outcome.NOT_COMPARED: "Not compared",
}

_COLOURS = {
    Outcome.BETTER: "#009E73",
    Outcome.SIMILAR: "#F0E442",
    Outcome.WORSE: "#D55E00",
    Outcome.LOWER: "#56B4E9",
    Outcome.HIGHER: "#0072B2",
    Outcome.NOT_COMPARED: "#DDDDDD",
}


def _check_polarity(polarity: str) -> str:
    if polarity not in POLARITIES:
        raise DataError(f"polarity {polarity!r} is not one of {POLARITIES}", column="polarity")
    return polarity


def benchmark(value_low: float | None, value_high: float | None, england_value: float | None,
              polarity: str) -> Outcome:
    """One comparison: the interval [value_low, value_high] against England's value."""
    _check_polarity(polarity)
    if any(v is None or pd.isna(v) for v in (value_low, value_high, england_value)):
        return Outcome.NOT_COMPARED
    if value_high < england_value:
        side = Outcome.LOWER
    elif value_low > england_value:
        side = Outcome.HIGHER
    else:
        return Outcome.SIMILAR
    if polarity == "none":
        return side
    good = Outcome.LOWER if polarity == "lower" else Outcome.HIGHER
    return Outcome.BETTER if side is good else Outcome.WORSE


def benchmark_many(value_low, value_high, england_value, polarity) -> pd.Series:
    """Vectorised :func:`benchmark`: arrays or Series in, a Series of Outcome out.

    ``england_value`` and ``polarity`` may be scalars or aligned arrays (several indicators at once).
    """
    index = next((v.index for v in (value_low, value_high, england_value, polarity)
                  if isinstance(v, pd.Series)), None)
    low, high, eng = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (value_low, value_high, england_value)))
    pol = np.broadcast_to(np.asarray(polarity, dtype=object), low.shape)
    for p in set(pol.ravel().tolist()):
        _check_polarity(p)
    missing = np.isnan(low) | np.isnan(high) | np.isnan(eng)
    with np.errstate(invalid="ignore"):
        lower = ~missing & (high < eng)
        higher = ~missing & (low > eng)
    neutral = pol == "none"
    conditions = [missing, lower & neutral, higher & neutral,
                  lower & (pol == "lower"), higher & (pol == "lower"),
                  higher & (pol == "higher"), lower & (pol == "higher")]
    choices = [Outcome.NOT_COMPARED, Outcome.LOWER, Outcome.HIGHER,
               Outcome.BETTER, Outcome.WORSE, Outcome.BETTER, Outcome.WORSE]
    codes = np.select(conditions, range(len(choices)), default=len(choices)).ravel()
    lookup = [*choices, Outcome.SIMILAR]
    out = [lookup[c] for c in codes]
    return pd.Series(out, index=index, dtype=object)
