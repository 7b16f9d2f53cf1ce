"""Plain-language readings of estimates, for Pioneer leads: what the number says and whether it could be chance."""
from __future__ import annotations

import math

import pandas as pd


def did_reading(short_name: str, effect_pct: float, ci_low: float, ci_high: float, p_value: float,
                polarity: str) -> str:
    """E.g. "Emergency admissions: 3.0% lower than expected from similar areas; this could be chance (p = 0.45)."

    "Expected" is the site's counterfactual: its own baseline moved as its matched comparators moved.
    """
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (effect_pct, ci_low, ci_high)):
        return f"{short_name}: no estimate (too few periods or comparators)."
    direction = "lower" if effect_pct < 0 else "higher"
    size = f"{abs(effect_pct):.1f}%"
    clear = ci_low > 0 or ci_high < 0
    if polarity in ("lower", "higher") and clear:
        good = (effect_pct < 0) == (polarity == "lower")
        verdict = f"a {'better' if good else 'worse'} result that is unlikely to be chance alone"
    elif clear:
        verdict = "unlikely to be chance alone"
    else:
        verdict = "this could be chance"
    p = "" if p_value is None or (isinstance(p_value, float) and math.isnan(p_value)) else f" (p = {p_value:.2f})"
    return f"{short_name}: {size} {direction} than expected from similar areas; {verdict}{p}."


def _unavailable(row) -> bool:
    """A row the geography has no data for says why in its own words (analysis.estimates.NOT_ON_CCG)."""
    note = getattr(row, "note", "")
    return pd.isna(row.effect) and isinstance(note, str) and note.startswith("not available on the CCG geography")


def effects_table(estimates: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    """A site's DiD rows as a reader's table: indicator, effect, interval, p, pre-trend p, reading.

    ``estimates``: the site's rows of analysis.estimates (method "did"); ``catalogue`` indexed by indicator_id.
    """
    rows = []
    for r in estimates.itertuples(index=False):
        cat = catalogue.loc[r.indicator_id]
        rows.append({
            "Indicator": cat["short_name"],
            "Effect (% of expected)": round(r.effect_pct, 1) if pd.notna(r.effect_pct) else None,
            "Effect (indicator units)": round(r.effect, 2) if pd.notna(r.effect) else None,
            "95% interval (units)": (f"{r.ci_low:.2f} to {r.ci_high:.2f}" if pd.notna(r.ci_low) else ""),
            "p (placebo, exploratory)": round(r.p_value, 3) if pd.notna(r.p_value) else None,
            "Pre-trend p": round(r.pre_trend_p, 3) if pd.notna(r.pre_trend_p) else None,
            "What it means": (f"{cat['short_name']}: {r.note}." if _unavailable(r) else
                              did_reading(cat["short_name"], r.effect_pct, r.ci_low, r.ci_high, r.p_value,
                                          cat["polarity"])),
        })
    return pd.DataFrame(rows)
