"""CCGs as a second geography: vintages, stable units, the PCT bridge, populations and LA shares.

Built from the shared ONS files (docs/ccg-geography.md says why each choice is made):
- CCG vintages 2013/14 to 2019/20 from the LSOA -> CCG -> district lookups (2015, 2017, 2018,
  2019 files; 2013/14 and 2014/15 use the 2015 file with 13T Newcastle Gateshead split back into
  00F, 00G and 00H, all three wholly inside one LA each, named from the MAR).
- Stable units [C]: every CCG mapped forward to its 2019/20 successor (the merged CCG that holds
  most of its mid-2017 LSOA population), so a unit's series never breaks at a merger.
- 2012/13 PCTs bridged to the 2015-set CCGs by the share of each PCT's postcodes.
- Unit populations by year: mid-2017 LSOA populations scaled by their district's ONS growth to
  that year (an approximation: within a district every LSOA is assumed to grow alike; 65+ is
  scaled by the district's all-ages growth).
- CCG -> upper-tier LA population shares for each vintage (mid-2017 LSOA populations).

Codes and names are public reference facts (written to data/reference/ccgs.csv by
scripts/build_ccg_reference.py); populations and shares are computed here from the shared
files at build time and never committed.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from data.active import register_cache
from data.errors import DataError
from data.loaders.population import district_to_county, load_district_population
from data.loaders.reading import read_csv_strings
from data.reference import REFERENCE_DIR, default_reference

VINTAGES = ("2013/14", "2014/15", "2015/16", "2016/17", "2017/18", "2018/19", "2019/20")
LOOKUP_FILE = {"2013/14": "15", "2014/15": "15", "2015/16": "15", "2016/17": "15",
               "2017/18": "17", "2018/19": "18", "2019/20": "19"}
"""Which ONS lookup (CCGyy) each financial year's CCG set matches (PROVENANCE of the lookups)."""
UNIT_VINTAGE = "2019/20"
NEWCASTLE_GATESHEAD = "13T"
NEWCASTLE_SPLIT = {"00F": "E08000037", "00G": "E08000021", "00H": "E08000021"}
"""2013-15 CCGs later merged into 13T, each wholly inside one district: 00F Gateshead, 00G
Newcastle North and East, 00H Newcastle West (names as the MAR gives them)."""
LINK_SHARE = 0.2
"""[C] A CCG whose population moved to a second 2019/20 CCG beyond this share joins the two in one
unit (South Cumbria, 37% of Cumbria CCG, into Morecambe Bay in 2017). Smaller moves are left as
small breaks, listed in docs/ccg-geography.md (Lancashire North -> Fylde and Wyre 12% in 2018,
South Norfolk -> Norwich 7% in 2017), so a Pioneer CCG is not merged with its neighbours."""
CCG_TYPE = "CCG"
LOOKUPS_DIR = "ons_lsoa11_ccg_lad_lookups_2015_2019"
LSOA_POPULATION = "ons_lsoa11_population_mid2017/lsoa11_population_mid2017_all_ages_and_65plus_single_year.csv"
PCT_BRIDGE = "pct2012_to_ccg2013_postcode_shares/ccg2ons.js"
MAR_STACK = "nhse_mar_commissioner_monthly_2012_2019/mar_commissioner_monthly_2012-04_2019-12.csv"
CCGS_CSV = REFERENCE_DIR / "ccgs.csv"
SITE_CCGS_CSV = REFERENCE_DIR / "site_ccgs.csv"


def financial_year(period_start: pd.Series) -> pd.Series:
    """'2014/15' for any date from Apr 2014 to Mar 2015."""
    d = pd.to_datetime(period_start)
    y = np.where(d.dt.month >= 4, d.dt.year, d.dt.year - 1)
    return pd.Series([f"{a}/{(a + 1) % 100:02d}" for a in y], index=period_start.index)


@register_cache  # a published file under ../shared, read once per process; clear_all() empties it
@lru_cache(maxsize=8)
def _lookup(shared: str, yy: str) -> pd.DataFrame:
    path = Path(shared) / LOOKUPS_DIR / f"LSOA11_CCG{yy}_LAD{yy}_EN_LU.csv"
    if not path.exists():
        raise DataError("ONS LSOA -> CCG lookup not found", file=str(path))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = {f"LSOA11CD": "lsoa", f"CCG{yy}CD": "e38_code", f"CCG{yy}CDH": "ccg_code", f"CCG{yy}NM": "name",
            f"LAD{yy}CD": "district"}
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}", file=str(path), row=1)
    return frame[list(cols)].rename(columns=cols)


@register_cache  # a published file under ../shared, read once per process; clear_all() empties it
@lru_cache(maxsize=2)
def lsoa_population(shared: str) -> pd.DataFrame:
    """lsoa, district (2018 boundaries), pop_all, pop_65 at mid-2017, English LSOAs only."""
    path = Path(shared) / LSOA_POPULATION
    if not path.exists():
        raise DataError("ONS mid-2017 LSOA population file not found", file=str(path))
    frame = pd.read_csv(path, dtype={"lsoa11_code": str})
    ages = [c for c in frame.columns if c.isdigit() or c == "90+"]
    if "total_population" not in frame.columns or len(ages) != 26:
        raise DataError("expected total_population and the 26 columns 65..89, 90+", file=str(path), row=1)
    out = pd.DataFrame({"lsoa": frame["lsoa11_code"], "pop_all": frame["total_population"].astype(float),
                        "pop_65": frame[ages].sum(axis=1).astype(float)})
    out = out[out["lsoa"].str.startswith("E")]
    districts = _lookup(shared, "18")[["lsoa", "district"]]
    out = out.merge(districts, on="lsoa", how="inner", validate="one_to_one")
    return out.reset_index(drop=True)


def _mar_names(shared: Path) -> dict[str, str]:
    """Names of the 2013-15 Newcastle and Gateshead CCGs as the MAR gives them."""
    path = shared / MAR_STACK
    if not path.exists():
        return {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["org_code", "org_name"])
    frame = frame[frame["org_code"].isin(list(NEWCASTLE_SPLIT))].drop_duplicates("org_code")
    return dict(zip(frame["org_code"], frame["org_name"].str.title().str.replace("Nhs ", "NHS ").str.replace(
        "Ccg", "CCG")))


def lsoa_ccgs(shared: Path | str, vintage: str) -> pd.DataFrame:
    """lsoa -> ccg_code for a vintage (2013-15: 13T split back into 00F/00G/00H by district)."""
    look = _lookup(str(shared), LOOKUP_FILE[vintage])[["lsoa", "ccg_code", "district"]].copy()
    if vintage in ("2013/14", "2014/15"):
        ng = look["ccg_code"] == NEWCASTLE_GATESHEAD
        # 00G and 00H both lie in Newcastle: LSOAs cannot tell them apart, so Newcastle's go to
        # 00G for population shares (both CCGs map to the same LA and the same unit, 13T).
        look.loc[ng & (look["district"] == NEWCASTLE_SPLIT["00F"]), "ccg_code"] = "00F"
        look.loc[ng & (look["district"] != NEWCASTLE_SPLIT["00F"]), "ccg_code"] = "00G"
    return look


def ccg_vintages(shared: Path | str) -> pd.DataFrame:
    """Every CCG of every vintage: vintage, ccg_code, e38_code, name, successor_code (2019/20 unit).

    The successor is the 2019/20 CCG holding the largest share of the CCG's mid-2017 LSOA
    population (share in successor_share; below 1 only where a boundary moved, e.g. Norwich).
    """
    shared = Path(shared)
    pop = lsoa_population(str(shared))[["lsoa", "pop_all"]]
    unit_of = _lookup(str(shared), LOOKUP_FILE[UNIT_VINTAGE])[["lsoa", "ccg_code"]].rename(
        columns={"ccg_code": "successor_code"})
    names = _mar_names(shared)
    frames, links = [], []
    for vintage in VINTAGES:
        look = _lookup(str(shared), LOOKUP_FILE[vintage])
        codes = look.drop_duplicates("ccg_code")[["ccg_code", "e38_code", "name"]]
        if vintage in ("2013/14", "2014/15"):
            codes = codes[codes["ccg_code"] != NEWCASTLE_GATESHEAD]
            codes = pd.concat([codes, pd.DataFrame({"ccg_code": list(NEWCASTLE_SPLIT), "e38_code": "",
                                                    "name": [names.get(c, c) for c in NEWCASTLE_SPLIT]})])
        m = lsoa_ccgs(shared, vintage)[["lsoa", "ccg_code"]].merge(pop, on="lsoa").merge(unit_of, on="lsoa")
        by = m.groupby(["ccg_code", "successor_code"], as_index=False)["pop_all"].sum()
        by["share"] = by["pop_all"] / by.groupby("ccg_code")["pop_all"].transform("sum")
        links.append(by.loc[by["share"] >= LINK_SHARE, ["ccg_code", "successor_code"]])
        best = by.sort_values(["ccg_code", "share"], ascending=[True, False]).drop_duplicates("ccg_code")
        codes = codes.merge(best[["ccg_code", "successor_code", "share"]], on="ccg_code", how="left")
        if vintage in ("2013/14", "2014/15"):
            codes.loc[codes["ccg_code"] == "00H", ["successor_code", "share"]] = [NEWCASTLE_GATESHEAD, 1.0]
        codes["vintage"] = vintage
        frames.append(codes)
    out = pd.concat(frames, ignore_index=True).rename(columns={"share": "successor_share"})
    out["successor_share"] = out["successor_share"].round(4)
    out["unit_code"] = out["successor_code"].map(_components(pd.concat(links, ignore_index=True)))
    return out[["vintage", "ccg_code", "e38_code", "name", "successor_code", "successor_share",
                "unit_code"]].sort_values(
        ["vintage", "ccg_code"]).reset_index(drop=True)


def _components(links: pd.DataFrame) -> dict[str, str]:
    """2019/20 CCG -> its unit: the smallest code among 2019/20 CCGs that share a former CCG."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for _, group in links.groupby("ccg_code"):
        codes = sorted(group["successor_code"])
        for other in codes[1:]:
            a, b = find(codes[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {code: find(code) for code in list(parent)}


def read_ccgs(path: Path = CCGS_CSV) -> pd.DataFrame:
    """data/reference/ccgs.csv, validated: one row per vintage and code, successors known units."""
    if not path.exists():
        raise DataError("CCG reference table missing: run scripts/build_ccg_reference.py", file=str(path))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["vintage", "ccg_code", "e38_code", "name", "successor_code", "successor_share", "unit_code"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; expected {need}", file=str(path), row=1)
    bad = frame.index[~frame["vintage"].isin(VINTAGES)]
    if len(bad):
        raise DataError(f"{frame.at[bad[0], 'vintage']!r} is not one of {list(VINTAGES)}", file=str(path),
                        row=int(bad[0]) + 2, column="vintage")
    dup = frame.index[frame.duplicated(["vintage", "ccg_code"])]
    if len(dup):
        raise DataError("duplicate CCG code within a vintage", file=str(path), row=int(dup[0]) + 2, column="ccg_code")
    units = set(frame.loc[frame["vintage"] == UNIT_VINTAGE, "ccg_code"])
    for col in ("successor_code", "unit_code"):
        bad = frame.index[~frame[col].isin(units)]
        if len(bad):
            raise DataError(f"{frame.at[bad[0], col]!r} is not a {UNIT_VINTAGE} CCG code",
                            file=str(path), row=int(bad[0]) + 2, column=col)
    frame["successor_share"] = pd.to_numeric(frame["successor_share"])
    return frame


def units_table(ccgs: pd.DataFrame) -> pd.DataFrame:
    """The stable units: unit_code (E38 code of the unit's 2019/20 CCG), ods_code, name.

    A unit joining two 2019/20 CCGs (a boundary change between them) takes the code of the one
    named in unit_code and both names.
    """
    last = ccgs[ccgs["vintage"] == UNIT_VINTAGE]
    e38 = last.set_index("ccg_code")["e38_code"]
    names = last.groupby("unit_code")["name"].agg(lambda n: " + ".join(sorted(n)))
    return pd.DataFrame({"unit_code": names.index.map(e38).to_numpy(), "ods_code": names.index.to_numpy(),
                         "name": names.to_numpy()})


def unit_of(ccgs: pd.DataFrame) -> pd.DataFrame:
    """vintage, ccg_code -> area_code of its stable unit."""
    units = units_table(ccgs).set_index("ods_code")["unit_code"]
    return ccgs.assign(area_code=ccgs["unit_code"].map(units))[["vintage", "ccg_code", "area_code"]]


def pct_bridge(shared: Path | str) -> pd.DataFrame:
    """pct_code (2012/13 MAR code) -> ccg_code (2015 set, 13T included) with share (sums to 1 per PCT)."""
    path = Path(shared) / PCT_BRIDGE
    if not path.exists():
        raise DataError("PCT -> CCG postcode share file not found", file=str(path))
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON ({exc.msg})", file=str(path), row=exc.lineno) from exc
    rows = []
    for rec in records:
        targets = rec["CCG"] if isinstance(rec["CCG"], list) else [rec["CCG"]]
        for t in targets:
            rows.append({"pct_code": rec["nhscode"], "pct_name": rec["name"], "ccg_code": t["code"],
                         "share": float(t["pcd_percent"]) / 100.0})
    bridge = pd.DataFrame(rows)
    bridge["share"] = bridge["share"] / bridge.groupby("pct_code")["share"].transform("sum")
    return bridge


def unit_population(shared: Path | str, ccgs: pd.DataFrame, district_population: pd.DataFrame,
                    last_year: int | None = None) -> pd.DataFrame:
    """POPULATION rows (area_code = unit code, year, age_group all|65+, population, flag).

    Mid-2017 LSOA populations x (district population in the year / in 2017), summed to units
    (2019/20 lookup). Flagged approximate_denominator; carried-forward years also estimated.
    """
    lsoa = lsoa_population(str(shared))
    units = _lookup(str(shared), LOOKUP_FILE[UNIT_VINTAGE])[["lsoa", "ccg_code"]]
    last = unit_of(ccgs[ccgs["vintage"] == UNIT_VINTAGE])
    ods_to_unit = last.set_index("ccg_code")["area_code"]
    dp = district_population.pivot_table(index="district_code", columns="year", values="population")
    if 2017 not in dp.columns:
        raise DataError("no mid-2017 district populations to scale LSOAs by", column="population_2017")
    growth = dp.div(dp[2017], axis=0)
    m = lsoa.merge(units, on="lsoa")
    m["unit_code"] = m["ccg_code"].map(ods_to_unit)
    missing = sorted(set(m["district"]) - set(growth.index))
    if missing:
        raise DataError(f"no ONS population growth for district(s) {missing[:5]}", column="ladcode18")
    frames = []
    for year in growth.columns:
        g = m["district"].map(growth[year])
        for group, col in (("all", "pop_all"), ("65+", "pop_65")):
            s = (m[col] * g).groupby(m["unit_code"]).sum()
            frames.append(pd.DataFrame({"area_code": s.index, "year": int(year), "age_group": group,
                                        "population": s.to_numpy(), "flag": "approximate_denominator"}))
    out = pd.concat(frames, ignore_index=True)
    top = int(out["year"].max())
    if last_year and last_year > top:
        latest = out[out["year"] == top]
        out = pd.concat([out, *[latest.assign(year=y, flag="estimated;approximate_denominator")
                                for y in range(top + 1, last_year + 1)]], ignore_index=True)
    out["year"] = out["year"].astype("int32")
    return out.sort_values(["area_code", "age_group", "year"]).reset_index(drop=True)


def ccg_la_shares(shared: Path | str, district_county: pd.DataFrame, vintage: str,
                  age: str = "all") -> pd.DataFrame:
    """vintage, ccg_code, area_code (upper-tier LA), share: each CCG's mid-2017 population by LA.

    Districts on 2018 boundaries (the lookups' LSOAs are the same in every year), so the
    2019/20 CCGs still reach Bournemouth, Poole and Dorset County of the 2013-2019 LA set.
    """
    lsoa = lsoa_population(str(shared))
    look = lsoa_ccgs(shared, vintage)[["lsoa", "ccg_code"]]
    m = lsoa.merge(look, on="lsoa")
    county = district_county.set_index("district")["county"]
    m["area_code"] = m["district"].map(county).fillna(m["district"])
    col = "pop_all" if age == "all" else "pop_65"
    by = m.groupby(["ccg_code", "area_code"], as_index=False)[col].sum()
    by["share"] = by[col] / by.groupby("ccg_code")[col].transform("sum")
    if vintage in ("2013/14", "2014/15"):
        # 00H Newcastle West has no LSOAs of its own here (see lsoa_ccgs): wholly in Newcastle.
        by = pd.concat([by, pd.DataFrame({"ccg_code": ["00H"], "area_code": [NEWCASTLE_SPLIT["00H"]],
                                          "share": [1.0]})], ignore_index=True)
    by["vintage"] = vintage
    return by[["vintage", "ccg_code", "area_code", "share"]]


def all_la_shares(shared: Path | str, district_county: pd.DataFrame) -> pd.DataFrame:
    """CCG -> upper-tier LA shares for every vintage, plus 2012/13 PCTs through the bridge."""
    frames = [ccg_la_shares(shared, district_county, v) for v in VINTAGES]
    base = frames[VINTAGES.index("2015/16")]
    bridge = pct_bridge(shared).merge(base, on="ccg_code", suffixes=("_pct", ""))
    pct = bridge.assign(share=bridge["share_pct"] * bridge["share"]).groupby(
        ["pct_code", "area_code"], as_index=False)["share"].sum().rename(columns={"pct_code": "ccg_code"})
    frames.append(pct.assign(vintage="2012/13")[["vintage", "ccg_code", "area_code", "share"]])
    return pd.concat(frames, ignore_index=True)


class Geography:
    """Everything the MAR loader and the dataset need about CCGs, computed once per shared folder."""

    def __init__(self, shared: Path | str, reference=None) -> None:
        from data.real import source_paths  # here, not at the top: data.real imports this module

        self.shared = Path(shared)
        paths = source_paths(self.shared)
        self.imd_path = paths["imd"]
        self.reference = reference or default_reference()
        self.ccgs = read_ccgs()
        self.unit_of = unit_of(self.ccgs)
        self.units = units_table(self.ccgs)
        self.district_county = district_to_county(paths["councils"])
        self.la_shares = all_la_shares(self.shared, self.district_county)
        self.bridge = pct_bridge(self.shared)
        self.population = unit_population(self.shared, self.ccgs, load_district_population(paths["myeb3"]),
                                          last_year=_last_population_year())

    def codes_by_vintage(self) -> dict[str, set[str]]:
        return {v: set(g["ccg_code"]) for v, g in self.ccgs.groupby("vintage")}

    def areas_rows(self) -> pd.DataFrame:
        """Rows of the areas table for the CCG units (type "CCG"; nhs_la_code holds the ODS code).

        region: the region of the LA holding most of the unit's population; population: mid-2012
        (scaled as in unit_population); share_65: mid-2012 65+ / all ages; deprivation: IMD 2019
        average score of each LSOA's district, weighted by LSOA mid-2017 population (an
        approximation, see unit_deprivation); area and density unknown (null: the shared files
        hold no LSOA or CCG areas, so matching leaves density out with a warning).
        """
        areas = self.reference.areas.set_index("area_code")
        last = self.la_shares[self.la_shares["vintage"] == UNIT_VINTAGE].merge(
            self.unit_of[self.unit_of["vintage"] == UNIT_VINTAGE], on=["vintage", "ccg_code"],
            suffixes=("_la", ""))
        main_la = last.sort_values("share", ascending=False).drop_duplicates("area_code")
        region = main_la.set_index("area_code")["area_code_la"].map(areas["region"])
        pop = self.population[self.population["year"] == 2012].pivot_table(
            index="area_code", columns="age_group", values="population")
        out = pd.DataFrame({"area_code": self.units["unit_code"].to_numpy(), "name": self.units["name"].to_numpy(),
                            "type": CCG_TYPE, "nhs_la_code": self.units["ods_code"].to_numpy()})
        out["region"] = out["area_code"].map(region).fillna("")
        out["area_km2"] = np.nan
        out["population"] = out["area_code"].map(pop["all"])
        out["share_65"] = out["area_code"].map(pop["65+"] / pop["all"])
        out["deprivation"] = out["area_code"].map(unit_deprivation(self.shared, self.ccgs, self.imd_path))
        out["density"] = np.nan
        return out

    def site_rows(self) -> pd.DataFrame:
        """site_areas rows for the CCG units: a unit is whole when every 2013/14 CCG in it is in the
        site wholly; population_share = the site's CCGs' mid-2017 population / the unit's."""
        sc = self.reference.site_ccgs
        if sc is None:
            raise DataError("no site CCG table", file=str(SITE_CCGS_CSV))
        first = self.unit_of[self.unit_of["vintage"] == VINTAGES[0]]
        pops = ccg_population_2017(self.shared, VINTAGES[0])
        members = first.assign(pop=first["ccg_code"].map(pops).fillna(0.0))
        rows = []
        for (site_id, unit), g in sc.merge(first, on="ccg_code").groupby(["site_id", "area_code"], sort=False):
            in_unit = members[members["area_code"] == unit]
            inside = in_unit[in_unit["ccg_code"].isin(g["ccg_code"])]
            whole = (g["coverage"] == "whole").all() and len(inside) == len(in_unit)
            share = float(inside["pop"].sum() / in_unit["pop"].sum()) if in_unit["pop"].sum() else np.nan
            if not (g["coverage"] == "whole").all():
                share = np.nan  # a CCG only partly in the site: its share is not known
            notes = "; ".join(dict.fromkeys(n for n in g["note"] if n))
            if len(inside) < len(in_unit):
                others = sorted(set(in_unit["ccg_code"]) - set(inside["ccg_code"]))
                notes = f"unit also holds non-Pioneer CCG(s) {', '.join(others)}; " + notes
            rows.append({"site_id": site_id, "area_code": unit, "coverage": "whole" if whole else "part",
                         "population_share": share if not whole else 1.0,
                         "basis": "C" if (g["basis"] == "C").any() else "S", "note": notes})
        return pd.DataFrame(rows, columns=["site_id", "area_code", "coverage", "population_share", "basis", "note"])


def unit_deprivation(shared: Path | str, ccgs: pd.DataFrame, imd_csv: Path) -> pd.Series:
    """IMD 2019 average score by unit: districts' scores weighted by their mid-2017 LSOA population
    in the unit (2019 lookup). An approximation: a district's score stands for each of its LSOAs,
    as the LA covariate uses district scores too (data.real.imd_upper_tier)."""
    if not Path(imd_csv).exists():
        raise DataError("IMD 2019 district summaries not found", file=str(imd_csv))
    imd = read_csv_strings(Path(imd_csv))
    imd = imd[imd["index_domain"] == "Index of Multiple Deprivation"]
    score = pd.Series(pd.to_numeric(imd["average_score"]).to_numpy(), index=imd["lad19cd"].to_numpy())
    look = _lookup(str(shared), LOOKUP_FILE[UNIT_VINTAGE])[["lsoa", "ccg_code", "district"]]
    m = lsoa_population(str(shared))[["lsoa", "pop_all"]].merge(look, on="lsoa")
    m["unit"] = m["ccg_code"].map(unit_of(ccgs[ccgs["vintage"] == UNIT_VINTAGE]).set_index("ccg_code")["area_code"])
    m["score"] = m["district"].map(score)
    missing = sorted(set(m.loc[m["score"].isna(), "district"]))
    if missing:
        raise DataError(f"no IMD 2019 score for district(s) {missing[:5]}", file=str(imd_csv), column="lad19cd")
    weighted = (m["score"] * m["pop_all"]).groupby(m["unit"]).sum()
    return weighted / m.groupby("unit")["pop_all"].sum()


def ccg_population_2017(shared: Path | str, vintage: str) -> pd.Series:
    """Mid-2017 population of each CCG of a vintage (LSOA best fit)."""
    m = lsoa_population(str(shared)).merge(lsoa_ccgs(shared, vintage)[["lsoa", "ccg_code"]], on="lsoa")
    return m.groupby("ccg_code")["pop_all"].sum()


def _last_population_year() -> int:
    from data.real import LAST_POPULATION_YEAR  # here, not at the top: data.real imports this module

    return LAST_POPULATION_YEAR


@register_cache  # built from published files under ../shared once per process; clear_all() empties it
@lru_cache(maxsize=2)
def geography(shared: str) -> Geography:
    """The CCG geography for a shared folder, built once per process."""
    return Geography(shared)


def with_ccg_units(tables: dict[str, pd.DataFrame], geo: Geography) -> dict[str, pd.DataFrame]:
    """Dataset tables with the CCG units added to areas, population and site_areas (replacing any)."""
    out = dict(tables)
    codes = set(geo.units["unit_code"])
    keep = ~out["areas"]["area_code"].isin(codes)
    out["areas"] = pd.concat([out["areas"][keep], geo.areas_rows()[out["areas"].columns]], ignore_index=True)
    pop = out["population"]
    out["population"] = pd.concat([pop[~pop["area_code"].isin(codes)], geo.population[pop.columns]],
                                  ignore_index=True)
    sa = out["site_areas"]
    out["site_areas"] = pd.concat([sa[~sa["area_code"].isin(codes)], geo.site_rows()[sa.columns]],
                                  ignore_index=True)
    return out
