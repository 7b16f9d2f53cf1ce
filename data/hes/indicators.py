"""The HES indicators, each written once as an Ibis expression over continuous inpatient spells.

Counts are by calendar month and the patient's area of residence as recorded on the first
episode (``resla``, mapped to upper-tier councils later, in build.py). Every count is of CIPS,
so a transfer between providers is one admission.

- ea_all: CIPS whose first episode's admission method is emergency (21-28, 2A-2D), by admission month.
- ea_65: the same, aged 65+ at admission (the first episode's start age).
- acsc_chronic (NHSOF 2.3i) / acute_no_admit (NHSOF 3a): emergency CIPS whose first episode's
  primary diagnosis is in data/reference/hes_acsc_chronic.csv / hes_acute_no_admit.csv.
- readmit_30 (NHSOF 3b): denominator = finished CIPS by discharge month, less the exclusions of
  data/reference/hes_readmit_exclusions.csv (died, day cases and regular attenders, maternity,
  obstetric or mental health specialty in any episode, cancer or chemotherapy anywhere in the
  spell or in a spell of the patient discharged up to 365 days before its admission); numerator =
  those whose patient's next CIPS is an emergency admission 0-29 days after the discharge and is
  not itself excluded (specialty, cancer in it or in the 365 days before). A readmission across the end of a month, quarter or year
  counts in the month of the discharge.
- ae_attend: A&E attendances (distinct attendance keys) by arrival month.
"""
from __future__ import annotations

import ibis

from data.hes import codes

COUNT_COLUMNS = ["indicator_id", "resla", "ccg", "month", "numerator", "denominator"]


def _month(date: ibis.Value) -> ibis.Value:
    return date.year() * 100 + date.month()


def _primary_in(cips: ibis.Table, indicator_id: str) -> ibis.Value:
    lst = codes.code_list(indicator_id)
    diag = cips.diag_01
    match = diag.substr(0, 3).isin(list(lst.codes3) or ["-"]) | diag.substr(0, 4).isin(list(lst.codes4) or ["-"])
    for code, secondary in lst.with_secondary:
        has_secondary = ibis.literal(False)
        for s in secondary:
            has_secondary = has_secondary | cips.diag_sec.contains("," + s)
        match = match | (diag.startswith(code) & has_secondary)
    return match.fill_null(False)


ADMISSION_INDICATORS = ("ea_all", "ea_65", "acsc_chronic", "acute_no_admit")


def admissions(cips: ibis.Table) -> ibis.Table:
    """ea_all, ea_65, acsc_chronic and acute_no_admit by admission month and area, one column each
    (one pass over the spells; ``long_form`` makes them rows)."""
    emergency = cips.admimeth.isin(codes.EMERGENCY_METHODS).fill_null(False)
    flagged = cips.filter(emergency).mutate(
        month=_month(cips.admidate),
        is_65=(cips.age >= 65).fill_null(False),
        is_chronic=_primary_in(cips, "acsc_chronic"),
        is_acute=_primary_in(cips, "acute_no_admit"),
    )
    wide = flagged.group_by(["resla", "ccg", "month"]).aggregate(
        ea_all=flagged.count(),
        ea_65=flagged.is_65.cast("int64").sum(),
        acsc_chronic=flagged.is_chronic.cast("int64").sum(),
        acute_no_admit=flagged.is_acute.cast("int64").sum(),
    )
    return wide


def long_form(wide):
    """The wide admissions frame (pandas) as rows of COUNT_COLUMNS."""
    out = wide.melt(id_vars=["resla", "ccg", "month"], value_vars=list(ADMISSION_INDICATORS),
                    var_name="indicator_id", value_name="numerator")
    out["denominator"] = None
    return out[COUNT_COLUMNS]


def readmissions(cips: ibis.Table) -> ibis.Table:
    """readmit_30 numerator and denominator by discharge month and area."""
    excl = codes.readmission_exclusions()
    emergency = cips.admimeth.isin(codes.EMERGENCY_METHODS).fill_null(False)
    maternity = cips.specialty_any
    for prefix in excl.maternity_prefixes:
        maternity = maternity | cips.diag_01.startswith(prefix).fill_null(False)
    w = ibis.window(group_by=cips.patient, order_by=[cips.cips])
    cw = ibis.cumulative_window(group_by=cips.patient, order_by=[cips.cips])
    # The latest earlier cancer spell: the running latest cancer discharge (admission while unfinished), lagged.
    cancer_day = ibis.ifelse(cips.cancer_any, cips.dis_day.fill_null(cips.adm_day), ibis.null("int64"))
    running = cips.mutate(_cancer_upto=cancer_day.max().over(cw))
    prior = running.mutate(_prior_cancer=running._cancer_upto.lag().over(w))
    recent_cancer = ((prior.adm_day - prior._prior_cancer) <= excl.lookback_days).fill_null(False)
    excluded = prior.cancer_any | recent_cancer | prior.specialty_any  # excluded as index and as readmission
    marked = prior.mutate(
        _excluded=excluded,
        _next_adm=prior.adm_day.lead().over(w),
        _next_emergency=emergency.lead().over(w),
        _next_excluded=excluded.lead().over(w),
    )
    eligible = (marked.dis_day.notnull()
                & ~marked.classpat.isin(excl.excluded_classes).fill_null(False)
                & ~marked.dismeth.isin(excl.death_methods).fill_null(False)
                & ~maternity & ~marked._excluded)
    days = marked._next_adm - marked.dis_day
    readmitted = (marked._next_emergency.fill_null(False) & ~marked._next_excluded.fill_null(True)
                  & (days >= 0).fill_null(False) & (days < codes.READMISSION_DAYS).fill_null(False))
    index = marked.filter(eligible).mutate(
        month=_month(marked.disdate),
        readmitted=readmitted.cast("int64"),
    )
    agg = index.group_by(["resla", "ccg", "month"]).aggregate(numerator=index.readmitted.sum().cast("int64"),
                                                             denominator=index.count().cast("int64"))
    return agg.select(indicator_id=ibis.literal("readmit_30"), resla=agg.resla, ccg=agg.ccg, month=agg.month,
                      numerator=agg.numerator, denominator=agg.denominator)


def attendances(ae: ibis.Table, deduplicate: bool = True) -> ibis.Table:
    """ae_attend by arrival month and area: one count per attendance key (``deduplicate=False`` when
    the caller knows no key repeats: the window that keeps one copy is then not needed)."""
    if deduplicate:
        w = ibis.window(group_by=ae.aekey, order_by=[ae._file, ae.patient, ae.arrivaldate])
        ranked = ae.mutate(_copy=ibis.row_number().over(w))
        kept = ranked.filter((ranked._copy == 0) & ranked.arrivaldate.notnull())
    else:
        kept = ae.filter(ae.arrivaldate.notnull())
    kept = kept.mutate(month=_month(kept.arrivaldate))
    agg = kept.group_by(["resla", "ccg", "month"]).aggregate(numerator=kept.count().cast("int64"))
    return agg.select(indicator_id=ibis.literal("ae_attend"), resla=agg.resla, ccg=agg.ccg, month=agg.month,
                      numerator=agg.numerator, denominator=ibis.null("int64"))
