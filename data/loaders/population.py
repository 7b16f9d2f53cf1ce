"""Population denominators from ONS mid-year estimates (MYEB3), districts summed to upper tier.

MYEB3 gives all-ages totals by district only. Districts are summed to their county with the
``county-la`` column of mySociety's council list. Populations aged 18+ and 65+ are not in these
files: they are approximated as England's share of that age group for the year
(data/reference/england_age_shares.csv, a [C] setting) times the area's all-ages total, and
flagged ``approximate_denominator``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import DataError
from data.loaders.reading import Problems, file_rows, find_columns, numbers, read_csv_strings
from data.reference import ENGLAND_CODE, REFERENCE_DIR

APPROXIMATE = "approximate_denominator"
AGE_SHARES = REFERENCE_DIR / "england_age_shares.csv"
UPPER_TIER_TYPES = ("CTY", "UA", "MD", "LBO", "CC")


def england_age_shares(path: Path = AGE_SHARES) -> pd.DataFrame:
    """year, share_18_plus, share_65_plus: the stated approximation for age-band populations."""
    shares = pd.read_csv(path)
    for col in ("share_18_plus", "share_65_plus"):
        bad = shares.index[~shares[col].between(0, 1)]
        if len(bad):
            raise DataError("share must be between 0 and 1", file=str(path), row=int(bad[0]) + 2, column=col)
    return shares


def district_to_county(councils_csv: Path | str) -> pd.DataFrame:
    """district gss code -> county gss code, from mySociety's past-and-current council list."""
    path = Path(councils_csv)
    frame = read_csv_strings(path)
    cols = find_columns(frame, {"code": ("local-authority-code",), "gss": ("gss-code",),
                                "type": ("local-authority-type",), "county": ("county-la",)},
                        str(path), ("code", "gss", "type", "county"))
    counties = frame[frame[cols["type"]] == "CTY"].set_index(cols["code"])[cols["gss"]]
    districts = frame[(frame[cols["type"]] == "NMD") & (frame[cols["county"]] != "")]
    lookup = pd.DataFrame({"district": districts[cols["gss"]].to_numpy(),
                           "county": districts[cols["county"]].map(counties).to_numpy()})
    lookup = lookup[lookup["district"].str.startswith("E07") & lookup["county"].notna()]
    return lookup.drop_duplicates("district").reset_index(drop=True)


def load_district_population(myeb3_csv: Path | str) -> pd.DataFrame:
    """Long frame district_code, year, population (all ages) for English districts."""
    path = Path(myeb3_csv)
    file = str(path)
    frame = read_csv_strings(path)
    code_col = next((c for c in frame.columns if c.lower().startswith("ladcode")), None)
    if code_col is None or "country" not in frame.columns:
        raise DataError("missing column 'ladcode18' (or ladcode19) or 'country': not an ONS MYEB3 summary file",
                        file=file, row=1, column="ladcode18")
    year_cols = [c for c in frame.columns if c.startswith("population_")]
    if not year_cols:
        raise DataError("no population_<year> columns: not an ONS MYEB3 summary file", file=file, row=1)
    england = frame[frame["country"] == "E"]
    problems = Problems()
    rows = file_rows(england)
    long = []
    for col in year_cols:
        values = numbers(england[col], file, rows, col, problems, missing_marks=())
        long.append(pd.DataFrame({"district_code": england[code_col].to_numpy(), "year": int(col.split("_")[1]),
                                  "population": values.to_numpy()}))
    problems.raise_if_any(f"cannot read population file {path.name}")
    return pd.concat(long, ignore_index=True)


def upper_tier_population(myeb3_csv: Path | str, councils_csv: Path | str, area_codes: list[str],
                          shares: pd.DataFrame | None = None, carry_forward_to: int | None = None) -> pd.DataFrame:
    """The POPULATION table (area_code, year, age_group, population, flag) for the given upper-tier areas.

    ``carry_forward_to``: years after the last estimate reuse it, flagged ``estimated``.
    """
    districts = load_district_population(myeb3_csv)
    lookup = district_to_county(councils_csv).set_index("district")["county"]
    districts["area_code"] = districts["district_code"].map(lookup).fillna(districts["district_code"])
    total = districts.groupby(["area_code", "year"], as_index=False)["population"].sum()
    england = districts.groupby("year", as_index=False)["population"].sum().assign(area_code=ENGLAND_CODE)
    total = pd.concat([total, england], ignore_index=True)
    area_codes = [*area_codes, ENGLAND_CODE]
    missing = sorted(set(area_codes) - set(total["area_code"]))
    if missing:
        raise DataError(f"no population for area(s) {missing[:10]} (districts do not sum to them)",
                        file=str(myeb3_csv))
    total = total[total["area_code"].isin(area_codes)].copy()
    total["flag"] = ""
    last = int(total["year"].max())
    if carry_forward_to and carry_forward_to > last:
        latest = total[total["year"] == last]
        extra = [latest.assign(year=y, flag="estimated") for y in range(last + 1, carry_forward_to + 1)]
        total = pd.concat([total, *extra], ignore_index=True)
    shares = england_age_shares() if shares is None else shares
    by_year = shares.set_index("year")
    frames = [total.assign(age_group="all")]
    for group, col in (("18+", "share_18_plus"), ("65+", "share_65_plus")):
        # Years past the table (carried-forward populations) use its last row.
        share = total["year"].clip(upper=int(by_year.index.max())).map(by_year[col])
        if share.isna().any():
            years = sorted(total.loc[share.isna(), "year"].unique())
            raise DataError(f"no England age share for year(s) {years}", file=str(AGE_SHARES), column=col)
        frames.append(total.assign(age_group=group, population=np.round(total["population"] * share),
                                   flag=np.where(total["flag"] == "", APPROXIMATE, "estimated;" + APPROXIMATE)))
    out = pd.concat(frames, ignore_index=True)
    out["year"] = out["year"].astype("int32")
    return out.sort_values(["area_code", "age_group", "year"]).reset_index(drop=True)[
        ["area_code", "year", "age_group", "population", "flag"]]


def estimate_year(period_start: pd.Series, frequency: str) -> pd.Series:
    """The mid-year estimate in force at the period's midpoint (mid-2016 for Apr 2017, mid-2017 for 2017/18)."""
    months = {"month": 1, "quarter": 3, "year": 12}[frequency]
    starts = pd.to_datetime(period_start)
    mid = starts + pd.to_timedelta(months * 30.44 / 2, unit="D")
    return pd.Series(np.where(mid.dt.month >= 7, mid.dt.year, mid.dt.year - 1), index=period_start.index)


def attach_denominator(obs: pd.DataFrame, population: pd.DataFrame, age_group: str) -> tuple[pd.Series, pd.Series]:
    """Population denominators and their flags for each observation row (NaN where unknown)."""
    if population is None or population.empty:
        return pd.Series(np.nan, index=obs.index), pd.Series("", index=obs.index)
    pop = population[population["age_group"] == age_group]
    last = int(pop["year"].max())
    years = obs.groupby("frequency", group_keys=False)["period_start"].apply(
        lambda s: estimate_year(s, s.name)).reindex(obs.index)
    clamped = years > last
    key = pd.MultiIndex.from_arrays([obs["area_code"], years.clip(upper=last)])
    table = pop.set_index(["area_code", "year"])
    values = pd.Series(table["population"].reindex(key).to_numpy(), index=obs.index)
    flags = pd.Series(table["flag"].reindex(key).fillna("").to_numpy(), index=obs.index)
    flags = flags.where(~clamped, ("estimated;" + flags).str.replace("estimated;estimated", "estimated"))
    return values, flags.str.strip(";")
