"""Plain-language readings of estimates, for Pioneer leads: what the number says and whether it could be chance."""
from __future__ import annotations

import math

import pandas as pd


def format_p(p_value) -> str:
    """A p value as readers expect: "p < 0.01" rather than "p 0.00"; "" when missing."""
    if p_value is None or (isinstance(p_value, float) and math.isnan(p_value)):
        return ""
    return "p < 0.01" if p_value < 0.01 else f"p = {p_value:.2f}"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def detectable_reading(effect_pct: float, ci_low: float, ci_high: float, mde_pct: float | None) -> str:
    """What the comparison could have shown, in words ("" without a minimum detectable effect).

    E.g. "No clear difference; this comparison could not have detected an effect smaller than 9%."
    so that "could be chance" is not read as "nothing happened".
    """
    if any(_missing(v) for v in (effect_pct, ci_low, ci_high, mde_pct)) or not math.isfinite(mde_pct):
        return ""
    size = f"{mde_pct:.0f}%" if mde_pct >= 10 else f"{mde_pct:.1f}%"
    if ci_low > 0 or ci_high < 0:
        return (f"This comparison detects an effect of {size} or more 80% of the time; smaller ones "
                "it would often miss.")
    return f"No clear difference; this comparison could not have detected an effect smaller than {size}."


def did_reading(short_name: str, effect_pct: float, ci_low: float, ci_high: float, p_value: float,
                polarity: str, reason: str = "", balance: str = "", mde_pct: float | None = None) -> str:
    """E.g. "Emergency admissions: 3.0% lower than expected from similar areas; this could be chance (p = 0.45)."

    "Expected" is the site's counterfactual: its own baseline moved as its matched comparators moved.
    With ``mde_pct`` (the minimum detectable effect, analysis.estimates) it adds what the comparison
    could have detected (``detectable_reading``).
    """
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (effect_pct, ci_low, ci_high)):
        why = reason if isinstance(reason, str) and reason else "too few periods or comparators"
        return f"{short_name}: no estimate ({why})."
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
    p = f" ({format_p(p_value)})" if format_p(p_value) else ""
    areas = "similar areas"
    caution = ""
    if balance == "poor":
        # Weak matching must not be hidden behind confident words: say so in the same sentence.
        areas = "its comparators"
        caution = (" But the comparators are poorly matched to the site, so the difference may reflect how the "
                   "areas differ rather than the Pioneer")
    detectable = detectable_reading(effect_pct, ci_low, ci_high, mde_pct)
    return (f"{short_name}: {size} {direction} than expected from {areas}; {verdict}{p}.{caution and caution + '.'}"
            + (f" {detectable}" if detectable else ""))


def scm_reading(short_name: str, effect_pct: float, effect: float, ci_low: float, ci_high: float, p_value: float,
                polarity: str, mde_pct: float | None = None) -> str:
    """E.g. "Emergency admissions: 3.0% lower than its synthetic control; this could be chance (p = 0.45)."

    The interval is in indicator units around ``effect``; the p value ranks the RMSPE ratio, so it is
    quoted but the verdict follows the interval, as for DiD."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (effect_pct, ci_low, ci_high)):
        return f"{short_name}: no synthetic-control estimate."
    clear = ci_low > 0 or ci_high < 0
    if polarity in ("lower", "higher") and clear:
        good = (effect < 0) == (polarity == "lower")
        verdict = f"a {'better' if good else 'worse'} result that is unlikely to be chance alone"
    else:
        verdict = "unlikely to be chance alone" if clear else "this could be chance"
    p = f" ({format_p(p_value)}, placebo RMSPE rank)" if format_p(p_value) else ""
    direction = "lower" if effect_pct < 0 else "higher"
    detectable = detectable_reading(effect_pct, ci_low, ci_high, mde_pct)
    return (f"{short_name}: {abs(effect_pct):.1f}% {direction} than its synthetic control; {verdict}{p}."
            + (f" {detectable}" if detectable else ""))


METHOD_QUESTIONS = {
    "did": "Difference-in-differences asks whether the site changed differently from its matched comparators "
           "over the same periods",
    "its": "The change in trend (interrupted time series) asks whether the site's own trend changed after its "
           "start, against its own earlier trend carried forward; it cannot separate a Pioneer effect from "
           "changes that reached every area at the same time (national policy, winter pressures), which the "
           "comparators share",
}


def _unavailable(row) -> bool:
    """A row the geography has no data for says why in its own words (analysis.estimates.NOT_ON_CCG)."""
    note = getattr(row, "note", "")
    return pd.isna(row.effect) and isinstance(note, str) and note.startswith("not available on the CCG geography")


def methods_reading(did_outcome: str, its_outcome: str, did_words: str, its_words: str) -> str:
    """When the two methods disagree, say what each one asks, so a reader can reconcile them ("" when they agree).

    Outcomes are indicators.benchmark.Outcome values (better/similar/worse, lower/higher, not compared)."""
    if "not compared" in (did_outcome, its_outcome) or did_outcome == its_outcome:
        return ""
    return (f"The two methods disagree because they ask different questions. {METHOD_QUESTIONS['did']}: "
            f"{did_words}. {METHOD_QUESTIONS['its']}: {its_words}. A clear change in trend beside no clear "
            "difference from comparators usually means the comparators changed in the same way; the "
            "difference-in-differences is the better guide to an effect of being a Pioneer, if its comparators "
            "are well matched and its pre-trend test does not suggest the areas were already drifting apart.")


def unit_words(unit: str) -> str:
    """An effect's unit in words: a difference between two percentages is in percentage points."""
    return "percentage points" if isinstance(unit, str) and unit.startswith("%") else (unit or "")


def relative_interval(effect, effect_pct, low, high) -> tuple[float, float]:
    """An interval in indicator units as % of the counterfactual (the same scale as the headline %)."""
    try:
        scale = effect_pct / effect
    except (TypeError, ZeroDivisionError):
        return math.nan, math.nan
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (scale, low, high)):
        return math.nan, math.nan
    return low * scale, high * scale


def effects_table(estimates: pd.DataFrame, catalogue: pd.DataFrame,
                  balance: dict[str, str] | None = None) -> pd.DataFrame:
    """A site's DiD rows as a reader's table: indicator, effect, interval, p, pre-trend p, comparators' match, reading.

    ``estimates``: the site's rows of analysis.estimates (method "did"); ``catalogue`` indexed by indicator_id;
    ``balance``: indicator -> the comparator set's balance quality (good / acceptable / poor).
    """
    balance = balance or {}
    rows = []
    for r in estimates.itertuples(index=False):
        cat = catalogue.loc[r.indicator_id]
        quality = balance.get(r.indicator_id, "")
        unit = unit_words(cat.get("unit", ""))
        low_pct, high_pct = relative_interval(r.effect, r.effect_pct, r.ci_low, r.ci_high)
        rows.append({
            "Indicator": cat["short_name"],
            "Effect (relative, % of expected)": f"{r.effect_pct:+.1f}%" if pd.notna(r.effect_pct) else "",
            "95% interval (relative)": f"{low_pct:+.1f}% to {high_pct:+.1f}%" if pd.notna(low_pct) else "",
            "Effect (indicator units)": f"{r.effect:+.2f} {unit}".strip() if pd.notna(r.effect) else "",
            "95% interval (units)": (f"{r.ci_low:.2f} to {r.ci_high:.2f}" if pd.notna(r.ci_low) else ""),
            "p (placebo, exploratory)": format_p(r.p_value),
            "Pre-trend p": format_p(r.pre_trend_p),
            "Smallest detectable effect (80% power)": mde_words(getattr(r, "mde_pct", math.nan)),
            "Comparators": {"good": "well matched", "acceptable": "acceptably matched",
                            "poor": "poorly matched"}.get(quality, ""),
            "What it means": (f"{cat['short_name']}: {r.note}." if _unavailable(r) else
                              did_reading(cat["short_name"], r.effect_pct, r.ci_low, r.ci_high, r.p_value,
                                          cat["polarity"], getattr(r, "note", ""), balance=quality,
                                          mde_pct=getattr(r, "mde_pct", None))),
        })
    return pd.DataFrame(rows)


def mde_words(mde_pct) -> str:
    return f"{mde_pct:.1f}%" if not _missing(mde_pct) and math.isfinite(mde_pct) else ""


def its_reading(short_name: str, effect_pct: float, ci_low: float, ci_high: float, p_value: float,
                polarity: str) -> str:
    """The change in trend in one sentence, e.g. "Delayed transfers: 8.0% above the pre-Pioneer trend; trend worsened (p < 0.01)"."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (effect_pct, ci_low, ci_high)):
        return f"{short_name}: no change in trend could be estimated."
    clear = ci_low > 0 or ci_high < 0
    side = "below" if effect_pct < 0 else "above"
    if clear and polarity in ("lower", "higher"):
        good = (effect_pct < 0) == (polarity == "lower")
        verdict = "the trend improved" if good else "the trend worsened"
    else:
        verdict = "a clear change in trend" if clear else "no clear change in trend"
    p = f" ({format_p(p_value)})" if format_p(p_value) else ""
    return f"{short_name}: {abs(effect_pct):.1f}% {side} the pre-Pioneer trend carried forward; {verdict}{p}."


def count_reading(prefix: str, labels: list[str]) -> str:
    """Counts of outcome labels in plain words, most common first: "Across 25 sites: 3 better ..., 22 ..."."""
    counts = pd.Series([label for label in labels if label]).value_counts()
    if counts.empty:
        return f"{prefix}: no estimates."
    return f"{prefix}: " + ", ".join(f"{n} {label}" for label, n in counts.items()) + "."


def source_words(src: dict) -> str:
    """One source of the manifest in words: publisher and what, the periods it covers, the file it came from."""
    text = str(src.get("name") or src.get("kind") or "Unnamed source")
    if src.get("indicators"):
        text += " indicator " + ", ".join(str(i) for i in src["indicators"])
    if src.get("vintage"):
        text += f", {src['vintage']}"
    if src.get("file"):
        text += f" (file {src['file']})"
    return text + "."
