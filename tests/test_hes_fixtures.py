"""The HES definitions on hand-worked records: every expected count below was worked out by hand.

Sixteen patients in two APC files (2014 and 2015) and one A&E file, covering transfers between
providers, a same-day readmission, a readmission across the end of a year (and of the file),
excluded diagnoses (cancer index, cancer readmission, a death, a day case), a missing LA of
residence, a placeholder admission date, a duplicated episode, the 30-day boundary, the COPD
J20 rule, an epilepsy code on both the 2.3i and 3a lists and a resident of Wales; and eight more
(P17-P24, Sheffield) for the dementia and atrial fibrillation groups of 2.3i and each exclusion of
3b: a neoplasm of uncertain behaviour, cancer 313 and 372 days before (inside and outside the
365-day look-back), a mental health treatment and main specialty, an obstetric specialty.
DuckDB runs them here; Spark runs the same definitions in test_hes_spark.py.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.hes.build import count_extract, observations_from_counts

HEADER = ("EPIKEY,HESID,ADMIDATE,EPISTART,EPIEND,DISDATE,ADMIMETH,EPIORDER,STARTAGE,SEX,DIAG_4_01,DIAG_4_02,"
          "CLASSPAT,DISMETH,DISDEST,ADMISORC,MAINSPEF,RESLADST_ONS,PROCODE3,TRETSPEF")
B, L, W = "E08000016", "E08000035", "W06000015"  # Barnsley, Leeds, a Welsh area
S = "E08000019"  # Sheffield: the patients added for the 2.3i groups and the 3b exclusions (P17-P24)
APC_2014 = f"""{HEADER}
1,P01,2014-04-03,2014-04-03,2014-04-05,2014-04-08,21,1,70,1,J441,,1,1,19,19,300,{B},RAA,300
2,P01,2014-04-03,2014-04-05,2014-04-08,2014-04-08,21,2,70,1,J441,,1,1,19,19,300,{B},RAA,300
3,P02,2014-04-10,2014-04-10,2014-04-12,2014-04-12,21,1,50,2,I10X,,1,1,49,19,300,{B},RAA,300
4,P02,2014-04-12,2014-04-12,2014-04-20,2014-04-20,81,1,50,2,I10X,,1,1,19,49,300,{B},RBB,300
5,P03,2014-05-01,2014-05-01,2014-05-03,2014-05-03,21,1,30,2,N390,,1,1,19,19,300,{L},RAA,300
6,P03,2014-05-03,2014-05-03,2014-05-06,2014-05-06,21,1,30,2,R55X,,1,1,19,19,300,{L},RAA,300
7,P04,2015-03-20,2015-03-20,2015-03-25,2015-03-25,11,1,80,1,M170,,1,1,19,19,110,{B},RCC,110
8,P05,2014-06-01,2014-06-01,2014-06-05,2014-06-05,21,1,60,1,C509,,1,1,19,19,300,{B},RAA,300
9,P05,2014-06-10,2014-06-10,2014-06-12,2014-06-12,21,1,60,1,J45X,,1,1,19,19,300,{B},RAA,300
10,P06,2014-06-01,2014-06-01,2014-06-03,2014-06-03,11,1,40,2,K409,,1,1,19,19,100,{L},RAA,100
11,P06,2014-06-20,2014-06-20,2014-06-25,2014-06-25,21,1,40,2,C189,,1,1,19,19,300,{L},RAA,300
12,P07,2014-07-01,2014-07-01,2014-07-02,2014-07-02,21,1,85,1,I214,,1,4,79,19,300,{B},RAA,300
13,P08,2014-07-05,2014-07-05,2014-07-05,2014-07-05,11,1,66,2,H251,,2,1,19,19,130,{B},RAA,130
14,P08,2014-07-20,2014-07-20,2014-07-22,2014-07-22,21,1,66,2,L031,,1,1,19,19,300,{B},RAA,300
15,P09,2014-08-01,2014-08-01,2014-08-03,2014-08-03,21,1,75,1,J46X,,1,1,19,19,300,,RAA,300
16,P10,1800-01-01,2014-08-05,2014-08-06,2014-08-06,21,1,45,1,J45X,,1,1,19,19,300,{L},RAA,300
17,P11,2014-09-01,2014-09-01,2014-09-04,2014-09-04,21,1,20,1,G409,,1,1,19,19,300,{L},RAA,300
17,P11,2014-09-01,2014-09-01,2014-09-04,2014-09-04,21,1,20,1,G409,,1,1,19,19,300,{L},RAA,300
18,P12,2014-09-28,2014-09-28,2014-10-01,2014-10-01,11,1,55,1,M161,,1,1,19,19,110,{L},RAA,110
19,P12,2014-10-31,2014-10-31,2014-11-02,2014-11-02,21,1,55,1,R55X,,1,1,19,19,300,{L},RAA,300
20,P13,2014-11-05,2014-11-05,2014-11-07,2014-11-07,21,1,68,1,J209,J449,1,1,19,19,300,{B},RAA,300
21,P14,2014-11-06,2014-11-06,2014-11-08,2014-11-08,21,1,10,2,J209,,1,1,19,19,300,{B},RAA,300
22,P16,2014-12-01,2014-12-01,2014-12-02,2014-12-02,21,1,30,1,R55X,,1,1,19,19,300,{W},RAA,300
24,P17,2014-10-06,2014-10-06,2014-10-08,2014-10-08,21,1,60,1,D374,,1,1,19,19,300,{S},RAA,300
25,P18,2014-04-20,2014-04-20,2014-04-22,2014-04-22,11,1,70,1,C61X,,1,1,19,19,101,{S},RAA,101
26,P18,2015-03-01,2015-03-01,2015-03-03,2015-03-03,21,1,71,1,I509,,1,1,19,19,300,{S},RAA,300
27,P19,2014-04-02,2014-04-02,2014-04-05,2014-04-05,11,1,50,2,C509,,1,1,19,19,100,{S},RAA,100
29,P20,2014-11-10,2014-11-10,2014-11-12,2014-11-12,21,1,40,1,F329,,1,1,19,19,300,{S},RAA,710
30,P21,2014-12-01,2014-12-01,2014-12-03,2014-12-03,21,1,80,2,J181,,1,1,19,19,300,{S},RAA,300
31,P21,2014-12-10,2014-12-10,2014-12-20,2014-12-20,21,1,80,2,F059,,1,1,19,19,715,{S},RAA,715
32,P22,2015-01-05,2015-01-05,2015-01-07,2015-01-07,21,1,30,2,R104,,1,1,19,19,501,{S},RAA,501
33,P23,2015-02-02,2015-02-02,2015-02-06,2015-02-06,21,1,88,2,F03X,,1,1,19,19,300,{S},RAA,300
34,P24,2015-02-10,2015-02-10,2015-02-12,2015-02-12,21,1,72,1,I489,,1,1,19,19,300,{S},RAA,300
"""
APC_2015 = f"""{HEADER}
23,P04,2015-04-10,2015-04-10,2015-04-15,2015-04-15,21,1,80,1,J181,,1,1,19,19,300,{B},RCC,300
28,P19,2015-04-12,2015-04-12,2015-04-14,2015-04-14,21,1,51,2,R55X,,1,1,19,19,300,{S},RAA,300
"""
AE = f"""AEKEY,HESID,ARRIVALDATE,RESLADST_ONS,PROCODE3
A1,P01,2014-04-02,{B},RAA
A2,P02,2014-04-30,{B},RAA
A2,P02,2014-04-30,{B},RAA
A3,P03,2014-05-01,{L},RAA
A4,P09,2014-05-01,,RAA
A5,P10,1800-01-01,{L},RAA
A6,P16,2014-05-03,{W},RAA
"""

# (indicator, area of residence or None, month): (numerator, denominator or None), worked by hand.
EXPECTED = {
    ("ea_all", B, 201404): (2, None),   # P01 (two episodes, one spell); P02 (transfer RAA -> RBB: one CIPS)
    ("ea_all", L, 201405): (2, None),   # P03 and P03's same-day readmission
    ("ea_all", B, 201406): (2, None),   # P05 cancer admission and its readmission
    ("ea_all", L, 201406): (1, None),   # P06's cancer readmission (still an emergency admission)
    ("ea_all", B, 201407): (2, None),   # P07 (died), P08's emergency after a day case
    ("ea_all", None, 201408): (1, None),  # P09: no LA recorded; P10's placeholder date is left out
    ("ea_all", L, 201409): (1, None),   # P11: a duplicated episode counted once
    ("ea_all", L, 201410): (1, None),   # P12's emergency on day 30
    ("ea_all", B, 201411): (2, None),   # P13, P14
    ("ea_all", W, 201412): (1, None),   # P16 lives in Wales
    ("ea_all", B, 201504): (1, None),   # P04's readmission, in the 2015 file
    ("ea_65", B, 201404): (1, None),    # P01 (70); P02 is 50
    ("ea_65", B, 201407): (2, None),    # P07 (85), P08 (66)
    ("ea_65", None, 201408): (1, None),  # P09 (75)
    ("ea_65", B, 201411): (1, None),    # P13 (68)
    ("ea_65", B, 201504): (1, None),    # P04 (80)
    ("acsc_chronic", B, 201404): (2, None),  # J44.1 COPD; I10 hypertension (the transfer counted once)
    ("acsc_chronic", B, 201406): (1, None),  # J45 asthma
    ("acsc_chronic", None, 201408): (1, None),  # J46
    ("acsc_chronic", L, 201409): (1, None),  # G40.9 epilepsy (on both lists)
    ("acsc_chronic", B, 201411): (1, None),  # J20.9 with J44.9 recorded; P14's J20.9 alone is not
    ("acute_no_admit", L, 201405): (1, None),  # N39.0 UTI; the readmission's R55 is not listed
    ("acute_no_admit", B, 201407): (1, None),  # L03.1 cellulitis
    ("acute_no_admit", L, 201409): (1, None),  # G40.9
    ("acute_no_admit", B, 201504): (1, None),  # J18.1 pneumonia
    ("readmit_30", B, 201404): (0, 2),   # P01, P02's CIPS (discharged from RBB)
    ("readmit_30", L, 201405): (1, 2),   # P03 readmitted the same day; the readmission spell itself
    # P05: cancer index excluded; its readmission spell, 5 days after the cancer spell, is excluded too
    # (cancer in the 365 days before): no readmit_30 row for Barnsley in June.
    ("readmit_30", L, 201406): (0, 1),   # P06: readmitted with cancer, which is excluded; cancer spell not an index
    ("readmit_30", B, 201407): (0, 1),   # P07 died, P08 day case: excluded; P08's emergency spell
    ("readmit_30", None, 201408): (0, 1),  # P09
    ("readmit_30", L, 201409): (0, 1),   # P11
    ("readmit_30", L, 201410): (0, 1),   # P12 discharged 1 Oct, back 31 Oct: day 30, not within 0-29
    ("readmit_30", L, 201411): (0, 1),   # P12's emergency spell
    ("readmit_30", B, 201411): (0, 2),   # P13, P14
    ("readmit_30", W, 201412): (0, 1),   # P16
    ("readmit_30", B, 201503): (1, 1),   # P04: elective discharged 25 Mar 2015, emergency back 10 Apr (next file)
    ("readmit_30", B, 201504): (0, 1),   # P04's readmission spell
    # P17-P24 (Sheffield): the dementia and atrial fibrillation groups of 2.3i and each 3b exclusion.
    ("ea_all", S, 201410): (1, None),   # P17 (D37.4: neoplasm of uncertain behaviour)
    ("ea_all", S, 201411): (1, None),   # P20 (treatment specialty 710)
    ("ea_all", S, 201412): (2, None),   # P21 and P21's readmission under old age psychiatry
    ("ea_all", S, 201501): (1, None),   # P22 (obstetrics, primary diagnosis not chapter O)
    ("ea_all", S, 201502): (2, None),   # P23, P24
    ("ea_all", S, 201503): (1, None),   # P18's heart failure, 313 days after a cancer spell
    ("ea_all", S, 201504): (1, None),   # P19, 372 days after a cancer spell
    ("ea_65", S, 201412): (2, None),    # P21 (80) twice
    ("ea_65", S, 201502): (2, None),    # P23 (88), P24 (72)
    ("ea_65", S, 201503): (1, None),    # P18 (71)
    ("acsc_chronic", S, 201502): (2, None),  # F03 dementia (P23), I48.9 atrial fibrillation (P24)
    ("acsc_chronic", S, 201503): (1, None),  # I50.9 heart failure (P18)
    ("acute_no_admit", S, 201412): (1, None),  # J18.1 (P21); the F05.9 readmission is on no list
    ("readmit_30", S, 201412): (0, 1),   # P21's first spell; its readmission is under a mental health specialty
    ("readmit_30", S, 201502): (0, 2),   # P23, P24
    ("readmit_30", S, 201504): (0, 1),   # P19: the cancer spell was 372 days before, outside the look-back
    # Not an index: P17 (D37-D48), P18's both spells (cancer; cancer 313 days before), P19's cancer spell,
    # P20 (treatment specialty 710), P21's readmission (main specialty 715), P22 (obstetric specialty 501).
    ("ae_attend", B, 201404): (2, None),  # A1, A2 (duplicated row counted once)
    ("ae_attend", L, 201405): (1, None),  # A3; A5's placeholder date left out
    ("ae_attend", None, 201405): (1, None),  # A4: no LA recorded
    ("ae_attend", W, 201405): (1, None),  # A6
}


def write_fixture(directory: Path) -> tuple[list[Path], list[Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "apc_2014.csv").write_text(APC_2014)
    (directory / "apc_2015.csv").write_text(APC_2015)
    (directory / "ae.csv").write_text(AE)
    return [directory / "apc_2014.csv", directory / "apc_2015.csv"], [directory / "ae.csv"]


def as_expected(counts: pd.DataFrame) -> dict:
    out = {}
    for row in counts.itertuples(index=False):
        if row.numerator == 0 and (pd.isna(row.denominator) or row.denominator == 0):
            continue
        resla = None if pd.isna(row.resla) else row.resla
        den = None if pd.isna(row.denominator) else int(row.denominator)
        out[(row.indicator_id, resla, int(row.month))] = (int(row.numerator), den)
    return out


@pytest.fixture(scope="module")
def fixture_counts(tmp_path_factory):
    apc, ae = write_fixture(tmp_path_factory.mktemp("hes-fixture"))
    return count_extract(apc, ae, "duckdb")


@pytest.mark.parametrize("indicator_id", ["ea_all", "ea_65", "acsc_chronic", "acute_no_admit", "readmit_30",
                                          "ae_attend"])
def test_counts_by_hand(fixture_counts, indicator_id):
    counts, _ = fixture_counts
    got = {k: v for k, v in as_expected(counts).items() if k[0] == indicator_id}
    want = {k: v for k, v in EXPECTED.items() if k[0] == indicator_id}
    assert got == want


def test_summary_counts_duplicates_and_placeholder_dates(fixture_counts):
    _, summary = fixture_counts
    assert summary["apc_rows"] == 35 and summary["duplicate_episodes"] == 1
    assert summary["invalid_admission_date"] == 1
    # 34 distinct episodes, P10 left out, P01's two episodes one spell, P02's two provider spells one CIPS.
    assert summary["cips"] == 31


def test_quarters_england_and_missing_area(fixture_counts, reference):
    counts, summary = fixture_counts
    areas = reference.areas["area_code"]
    population = pd.concat([pd.DataFrame({"area_code": areas, "year": y, "age_group": g, "population": 1000.0,
                                          "flag": ""}) for y in (2013, 2014) for g in ("all", "65+")])
    obs, summary = observations_from_counts(counts, dict(summary), reference=reference, population=population)
    get = obs.set_index(["indicator_id", "area_code", "period_start"])
    q1, q2 = pd.Timestamp("2014-04-01"), pd.Timestamp("2014-07-01")
    assert get.at[("ea_all", B, q1), "numerator"] == 4  # Apr 2 + Jun 2
    assert get.at[("ea_all", "E92000001", q1), "numerator"] == 7  # Barnsley 4 + Leeds 3
    assert get.at[("ea_all", "E92000001", q2), "numerator"] == 4  # includes P09 (no LA), not Wales
    assert get.at[("ea_all", "E06000001", q1), "numerator"] == 0  # every council has a row
    assert get.at[("ea_all", B, q1), "denominator"] == 1000.0
    assert get.at[("ea_all", B, q1), "value"] == pytest.approx(4 / 1000 * 100_000)
    assert get.at[("readmit_30", L, q1), "numerator"] == 1 and get.at[("readmit_30", L, q1), "denominator"] == 3
    # Complete quarters only: Apr 2014 - Mar 2015; readmissions need 30 days of follow-up (to Dec 2014).
    quarters = obs.groupby("indicator_id")["period_start"].agg(["min", "max"])
    assert quarters.at["ea_all", "max"] == pd.Timestamp("2015-01-01")
    assert quarters.at["readmit_30", "max"] == pd.Timestamp("2014-10-01")
    assert summary["unknown_area"] == 1 and summary["outside_england"] == 1
    assert set(obs["source"]) == {"record-level HES extract"}


def test_renamed_fields_and_pipe_delimiter(tmp_path):
    """Another year's names (STARTAGE_CALC, DIAG_01, RESLADST), lower case, '|' delimited: the same counts."""
    text = (APC_2014.replace("STARTAGE", "startage_calc").replace("DIAG_4_01", "DIAG_01")
            .replace("RESLADST_ONS", "RESLADST").replace(",", "|"))
    (tmp_path / "old.txt").write_text(text)
    (tmp_path / "new.csv").write_text(APC_2014)
    old, _ = count_extract([tmp_path / "old.txt"], [], "duckdb")
    new, _ = count_extract([tmp_path / "new.csv"], [], "duckdb")
    pd.testing.assert_frame_equal(old, new)


def test_ccg_geography(tmp_path, reference):
    """--geography ccg: the same spells counted by CCG of responsibility (codes here are made up)."""
    ccg = {B: "E38000901", L: "E38000902", W: "", S: "", "": ""}
    lines = APC_2014.strip().splitlines()
    rows = [lines[0] + ",CCG_RESPONSIBILITY"]
    for line in lines[1:]:
        resla = line.split(",")[17]
        rows.append(f"{line},{ccg[resla]}")
    (tmp_path / "apc.csv").write_text("\n".join(rows) + "\n")
    counts, summary = count_extract([tmp_path / "apc.csv"], [], "duckdb")
    population = pd.DataFrame({"area_code": ["E38000901", "E38000902", "E92000001"] * 2, "year": 2014,
                               "age_group": ["all"] * 3 + ["65+"] * 3, "population": 1000.0, "flag": ""})
    population = pd.concat([population, population.assign(year=2013)])
    obs, _ = observations_from_counts(counts, dict(summary), reference=reference, population=population,
                                      geography="ccg")
    get = obs.set_index(["indicator_id", "area_code", "period_start"])["numerator"]
    q1 = pd.Timestamp("2014-04-01")
    assert get[("ea_all", "E38000901", q1)] == 4 and get[("ea_all", "E38000902", q1)] == 3
    assert get[("ea_all", "E92000001", q1)] == 7
    assert set(obs["area_code"]) == {"E38000901", "E38000902", "E92000001"}


def test_without_duplicates_the_same_counts(tmp_path, fixture_counts):
    """An extract with no repeated episode key skips the de-duplicating window: the counts are the same."""
    lines = APC_2014.splitlines(keepends=True)
    duplicate = next(i for i, line in enumerate(lines) if i and line == lines[i - 1])
    (tmp_path / "apc_2014.csv").write_text("".join(lines[:duplicate] + lines[duplicate + 1:]))
    (tmp_path / "apc_2015.csv").write_text(APC_2015)
    counts, summary = count_extract([tmp_path / "apc_2014.csv", tmp_path / "apc_2015.csv"], [], "duckdb")
    assert summary["duplicate_episodes"] == 0 and summary["cips"] == fixture_counts[1]["cips"]
    want = {k: v for k, v in EXPECTED.items() if k[0] != "ae_attend"}
    assert as_expected(counts) == want
