"""Find the HES fields in each file, check every value, and parse episodes into typed columns.

Field names are matched case-insensitively against data/reference/hes_fields.csv, which lists
the names each field has had across HES years. Checks run in the engine (one pass over the
data); the first problem found stops the build with one line naming the file, the row (as a
spreadsheet counts it: the header is row 1), the field and what was expected. Nothing is written.
"""
from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.errors import DataError
from data.hes import codes

DMY_DATE = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"
ICD10 = r"^[A-Z][0-9][0-9][0-9X]?$"
ONS_AREA = r"^[A-Z][0-9]{8}$"


@dataclass(frozen=True)
class ExtractFile:
    """One input file: where it is, how to read it and which of its columns feeds each field."""

    path: Path
    kind: str          # 'csv' or 'parquet'
    delimiter: str
    mapping: dict      # canonical field -> the file's column name (None: optional field absent)


def file_header(path: Path, kind: str, delimiter: str = ",") -> list[str]:
    if kind == "parquet":
        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise DataError(f"cannot read parquet file ({exc.__class__.__name__})", file=str(path)) from exc
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        return next(csv.reader(f, delimiter=delimiter), [])


def _sniff(path: Path) -> tuple[str, str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        return "parquet", ","
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
    delimiter = max((",", "|", "\t"), key=first.count)
    return "csv", delimiter


def describe_file(path: Path | str, extract: str) -> ExtractFile:
    """Map the file's columns to the canonical fields; refuse a file lacking a required field."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path))
    kind, delimiter = _sniff(path)
    header = file_header(path, kind, delimiter)
    by_upper = {h.strip().upper(): h for h in header}
    mapping, missing = {}, []
    specs = codes.field_specs(extract)
    for spec in specs:
        found = next((by_upper[n.upper()] for n in spec.accepted if n.upper() in by_upper), None)
        mapping[spec.name] = found
        if found is None and spec.required:
            missing.append(spec)
    required = [s for s in specs if s.required]
    label = "HES admitted patient care (APC)" if extract == "apc" else "HES A&E"
    if len(missing) == len(required):
        raise DataError(f"not a {label} extract: none of its required fields "
                        f"({', '.join(s.accepted[0] for s in required)}) is in the header "
                        f"(got {', '.join(header[:8]) or 'no header'}{' ...' if len(header) > 8 else ''})",
                        file=str(path), row=1)
    if missing:
        spec = missing[0]
        raise DataError(f"missing required field (accepted names: {', '.join(spec.accepted)}; "
                        f"{len(missing)} required field(s) missing in all: {', '.join(s.accepted[0] for s in missing)})",
                        file=str(path), row=1, column=spec.accepted[0])
    return ExtractFile(path, kind, delimiter, mapping)


# --- parsing, in the engine -------------------------------------------------------------------------

def _as_text(col: ibis.Value) -> ibis.Value:
    """Text as it is; any other stored type as its text (what a CSV of it would hold)."""
    return col if col.type().is_string() else col.cast("string")


def _text(col: ibis.Value) -> ibis.Value:
    if col.type().is_integer():  # a stored integer has no spaces and no blank: its text, no cleaning
        return col.cast("string")
    return _as_text(col).strip().nullif("")


def _code(col: ibis.Value) -> ibis.Value:
    return _as_text(col).strip().upper().nullif("")


PLACEHOLDER_DAYS = [datetime.date.fromisoformat(d) for d in codes.PLACEHOLDER_DATES]


def _dates(t: ibis.Table, names: list[str]) -> ibis.Table:
    """Add ``_d_<name>`` (parsed date or null) and ``_bad_<name>`` (unparseable?) for ISO or dd/mm/yyyy
    text columns; HES placeholders are null. Each step is its own projection, so every
    intermediate value is computed once per row (nested expressions would repeat it).
    A column stored as a date (parquet) is taken as it is: only its placeholders become null."""
    stored = [n for n in names if t[n].type().is_date() or t[n].type().is_timestamp()]
    typed = {n: t[n] if t[n].type().is_date() else t[n].cast("date") for n in stored}
    t = t.mutate(**{f"_d_{n}": ibis.ifelse(d.isin(PLACEHOLDER_DAYS), ibis.null("date"), d) for n, d in typed.items()},
                 **{f"_bad_{n}": ibis.literal(False) for n in stored})
    names = [n for n in names if n not in stored]
    if not names:
        return t
    t = t.mutate(**{f"_s_{n}": _text(t[n]) for n in names})
    t = t.mutate(**{f"_dmy_{n}": t[f"_s_{n}"].contains("/") for n in names})
    t = t.mutate(**{f"_iso_{n}": ibis.ifelse(t[f"_dmy_{n}"], t[f"_s_{n}"].substr(6, 4) + "-" + t[f"_s_{n}"].substr(3, 2)
                                             + "-" + t[f"_s_{n}"].substr(0, 2), t[f"_s_{n}"]) for n in names})
    t = t.mutate(**{f"_ph_{n}": t[f"_iso_{n}"].isin(codes.PLACEHOLDER_DATES) for n in names},
                 **{f"_shaped_{n}": (t[f"_iso_{n}"].length() == 10) & ~t[f"_dmy_{n}"]
                    | t[f"_s_{n}"].re_search(DMY_DATE) for n in names})
    t = t.mutate(**{f"_d_{n}": ibis.ifelse(t[f"_ph_{n}"] | ~t[f"_shaped_{n}"], ibis.null("date"),
                                           t[f"_iso_{n}"].try_cast("date")) for n in names})
    return t.mutate(**{f"_bad_{n}": t[f"_s_{n}"].notnull() & ~t[f"_ph_{n}"].fill_null(False) & t[f"_d_{n}"].isnull()
                       for n in names})


def _diagnosis(col: ibis.Value) -> ibis.Value:
    return _as_text(col).upper().replace(".", "").replace("-", "").replace(" ", "").nullif("").substr(0, 4)


def _row_of(raw: ibis.Table) -> dict:
    return {"_row": raw._row} if "_row" in raw.columns else {}


APC_CODES = ["admimeth", "sex", "classpat", "dismeth", "disdest", "admisorc", "mainspef", "tretspef", "resla", "ccg",
             "procode"]
APC_TEXT = ["epikey", "patient", "epiorder", "startage"]


def parse_apc(raw: ibis.Table, present: set[str] | None = None) -> ibis.Table:
    """Typed episode columns plus one ``bad_<field>`` flag per check.

    ``present``: the fields some file has; secondary diagnoses no file has are not parsed at all.
    Built in steps (clean text, then parse, then check), so no value is computed twice.
    """
    secondary = [name for name in codes.SECONDARY_DIAGNOSES if present is None or name in present]
    t = _dates(raw, ["admidate", "epistart", "disdate", "epiend"])
    stored = {n for n in ("epiorder", "startage") if raw[n].type().is_integer()}  # parquet integers: no text step
    t = t.mutate(**{f"_c_{n}": _code(t[n]) for n in APC_CODES},
                 **{f"_t_{n}": _text(t[n]) for n in APC_TEXT if n not in stored},
                 _c_diag=_diagnosis(t.diag_01), **{f"_c_{n}": _diagnosis(t[n]).fill_null("") for n in secondary})
    diag_sec = ibis.literal(",")
    for name in secondary:
        diag_sec = diag_sec + t[f"_c_{name}"] + ","
    excl = codes.readmission_exclusions()
    startage = t.startage if "startage" in stored else t._t_startage
    epiorder = t.epiorder if "epiorder" in stored else t._t_epiorder
    t = t.mutate(_age_num=startage.try_cast("int32"), _diag_sec=diag_sec,
                 _specialty=(t._c_mainspef.isin(excl.specialties).fill_null(False)
                             | t._c_tretspef.isin(excl.specialties).fill_null(False)))
    age = ibis.cases((t._age_num.between(7001, 7007), 0), (t._age_num.between(0, 120), t._age_num),
                     else_=ibis.null("int32"))
    # One regular expression over every diagnosis of the episode (a prefix after a comma): one pass, not one per code.
    t = t.mutate(_age=age, _cancer=("," + t._c_diag.fill_null("") + t._diag_sec).re_search(
        ",(" + "|".join(excl.diagnosis_prefixes) + ")"))
    return t.select(
        _file=t._file, **_row_of(t),
        epikey=t._t_epikey, patient=t._t_patient,
        admidate=t._d_admidate, adm_day=t._d_admidate.epoch_days(), start_day=t._d_epistart.epoch_days(),
        dis_day=t._d_disdate.epoch_days(), disdate=t._d_disdate,
        admimeth=t._c_admimeth, epiorder=epiorder.try_cast("int32"), age=t._age, sex=t._c_sex,
        diag_01=t._c_diag, diag_sec=t._diag_sec, classpat=t._c_classpat, dismeth=t._c_dismeth,
        disdest=t._c_disdest, admisorc=t._c_admisorc, mainspef=t._c_mainspef, resla=t._c_resla, ccg=t._c_ccg,
        procode=t._c_procode, cancer=t._cancer, excluded_specialty=t._specialty,
        bad_epikey=t._t_epikey.isnull(),
        bad_patient=t._t_patient.isnull(),
        bad_admidate=t._bad_admidate, bad_epistart=t._bad_epistart, bad_disdate=t._bad_disdate,
        bad_epiend=t._bad_epiend,
        bad_admimeth=~t._c_admimeth.isin(codes.ADMISSION_METHODS).fill_null(False),
        bad_epiorder=~(t.epiorder.between(0, 99) if "epiorder" in stored else
                       t._t_epiorder.re_search(r"^[0-9]{1,2}$")).fill_null(False),
        bad_startage=startage.notnull() & (startage != (999 if "startage" in stored else "999")) & t._age.isnull(),
        bad_sex=~t._c_sex.isin(codes.SEXES).fill_null(False),
        bad_diag_01=t._c_diag.notnull() & ~t._c_diag.re_search(ICD10).fill_null(False),
        bad_classpat=~t._c_classpat.isin(codes.PATIENT_CLASSES).fill_null(False),
        bad_dismeth=t._c_dismeth.notnull() & ~t._c_dismeth.isin(codes.DISCHARGE_METHODS).fill_null(False),
        bad_resla=t._c_resla.notnull() & ~t._c_resla.re_search(ONS_AREA).fill_null(False),
        bad_procode=t._c_procode.isnull(),
    )


def parse_ae(raw: ibis.Table) -> ibis.Table:
    t = _dates(raw, ["arrivaldate"])
    t = t.mutate(_t_aekey=_text(t.aekey), _t_patient=_text(t.patient), _c_resla=_code(t.resla))
    return t.select(
        _file=t._file, **_row_of(t), aekey=t._t_aekey, patient=t._t_patient, arrivaldate=t._d_arrivaldate,
        resla=t._c_resla, ccg=_code(t.ccg), procode=_code(t.procode),
        bad_aekey=t._t_aekey.isnull(),
        bad_patient=t._t_patient.isnull(),
        bad_arrivaldate=t._bad_arrivaldate,
        bad_resla=t._c_resla.notnull() & ~t._c_resla.re_search(ONS_AREA).fill_null(False),
    )


EXPECTED = {
    "epikey": "an episode key (not blank)",
    "aekey": "an attendance key (not blank)",
    "patient": "a patient key (not blank)",
    "admidate": "a date as YYYY-MM-DD or DD/MM/YYYY",
    "epistart": "a date as YYYY-MM-DD or DD/MM/YYYY",
    "epiend": "a date as YYYY-MM-DD or DD/MM/YYYY, or blank",
    "disdate": "a date as YYYY-MM-DD or DD/MM/YYYY, or blank",
    "arrivaldate": "a date as YYYY-MM-DD or DD/MM/YYYY",
    "admimeth": f"an admission method code ({', '.join(codes.ADMISSION_METHODS)})",
    "epiorder": "an episode order 1-99",
    "startage": "an age 0-120, 7001-7007 (under one year), 999 or blank (unknown)",
    "sex": "a sex code 0, 1, 2 or 9",
    "diag_01": "an ICD-10 code (letter, two digits, optional fourth character; dots allowed)",
    "classpat": "a patient classification 1-5, 8 or 9",
    "dismeth": "a discharge method 1-5, 8, 9 or blank",
    "resla": "an ONS area code such as E08000016, or blank if unknown",
    "procode": "a provider code (not blank)",
}


def check(typed: ibis.Table, files: list[ExtractFile], extra: dict | None = None) -> dict:
    """One pass counting every problem (and the ``extra`` aggregates, returned); raise DataError
    naming the first problem's file, row and field."""
    flags = [c for c in typed.columns if c.startswith("bad_")]
    counts = typed.aggregate(**{c: typed[c].fill_null(False).cast("int64").sum() for c in flags},
                             **(extra or {})).to_pandas()
    bad = [(c, int(counts.at[0, c] or 0)) for c in flags if (counts.at[0, c] or 0) > 0]
    if not bad:
        return {k: counts.at[0, k] for k in (extra or {})}
    column, n = bad[0]
    field = column.removeprefix("bad_")
    raw_name = "diag_01" if field == "diag_01" else field
    first = typed.filter(typed[column].fill_null(False)).select("_file").limit(1).to_pandas()
    info = files[int(first.at[0, "_file"])]  # _file: the file's number in reading order
    file = str(info.path)
    row, value = _locate(info, field)
    total = sum(k for _, k in bad)
    raise DataError(f"expected {EXPECTED.get(field, field)} (got {value!r}); {n:,} row(s) with this problem, "
                    f"{total:,} problem(s) in all", file=file, row=row, column=info.mapping.get(raw_name) or field)


def _locate(info: ExtractFile, field: str) -> tuple[int | None, str]:
    """The first row of the file failing ``field``'s check, found by re-reading that one column and
    parsing it (every other field blank) with the query of `_located_sql`."""
    src = info.mapping[field]
    if info.kind == "parquet":
        values = pq.read_table(info.path, columns=[src]).column(0).cast(pa.string()).to_pandas()
    else:
        values = pd.read_csv(info.path, sep=info.delimiter, usecols=[src], dtype=str, keep_default_na=False,
                             encoding="utf-8-sig")[src]
    frame = pd.DataFrame({name: "" for name in info.mapping} | {field: values.fillna("").to_numpy(),
                         "_file": 0, "_row": range(len(values))})
    con = duckdb.connect()
    try:
        con.register(LOCATED, frame)
        hits = con.execute(f'SELECT _row FROM ({_located_sql(tuple(info.mapping))}) AS parsed '
                           f'WHERE coalesce("bad_{field}", false) ORDER BY _row LIMIT 1').fetchall()
    finally:
        con.close()
    if not hits:
        return None, ""
    i = int(hits[0][0])
    return i + 2, str(values.iloc[i])


LOCATED = "hes_located"


@lru_cache(maxsize=2)  # a constant per extract kind: the project's own parse of its own field list, never a dataset
def _located_sql(columns: tuple[str, ...]) -> str:
    """`parse_ae` or `parse_apc` over a table `LOCATED` of text columns ``columns`` plus ``_file`` and
    ``_row``, as DuckDB SQL. Compiled once: Ibis compiles the whole parse whatever is selected from it."""
    raw = ibis.table({**{name: "string" for name in columns}, "_file": "int64", "_row": "int64"}, name=LOCATED)
    return ibis.to_sql(parse_ae(raw) if "aekey" in columns else parse_apc(raw), dialect="duckdb")
