"""Episodes -> provider spells -> continuous inpatient spells (CIPS), as Ibis expressions.

The rule (docs/hes.md states it for analysts):
1. An episode key seen more than once is one episode (the copy in the first file is kept).
2. Episodes without a valid admission date (blank, or a HES placeholder such as 1800-01-01)
   cannot be placed in a spell and are left out (counted in the build summary).
3. A provider spell is the patient's episodes at one provider with one admission date; its first
   episode (lowest episode order, then start date) gives the admission: method, age, sex,
   diagnosis, residence; its discharge is the latest discharge date of its episodes (none while
   unfinished) and the discharge method and destination of its last episode.
4. A provider spell continues the patient's previous one (the same CIPS) when it starts 0-2 days
   after that spell's discharge and the move is a transfer: the previous discharge destination
   is 49-53, 84 or 87, or this spell's admission source is 49-53 or 87, or its admission method
   is 81 or 2B. The CIPS's admission is its first provider spell's; its discharge its last one's.
"""
from __future__ import annotations

import ibis

from data.hes import codes

FIRST_EPISODE = ["admidate", "admimeth", "age", "sex", "diag_01", "diag_sec", "classpat", "admisorc",
                 "resla", "ccg"]
# What the spells and indicators use: the windows carry these only (not the checks' flags or unused fields).
EPISODE_FIELDS = ["epikey", "patient", "procode", "adm_day", "start_day", "epiorder", "dis_day", "disdate", "dismeth",
                  "disdest", "cancer", "excluded_specialty", *[f for f in FIRST_EPISODE if f != "adm_day"]]


def valid_episodes(typed: ibis.Table) -> ibis.Table:
    """Step 2 alone (when no episode key repeats): the episodes with a valid admission date."""
    return typed.filter(typed.adm_day.notnull()).select(*EPISODE_FIELDS)


def clean_episodes(typed: ibis.Table) -> ibis.Table:
    """Steps 1 and 2: one row per episode key (the copy in the first file read), with a valid admission date."""
    typed = typed.select("_file", *EPISODE_FIELDS)
    order = [typed._file, typed.patient, typed.adm_day, typed.start_day, typed.epiorder, typed.procode]
    w = ibis.window(group_by=typed.epikey, order_by=order)
    ranked = typed.mutate(_copy=ibis.row_number().over(w))
    return ranked.filter((ranked._copy == 0) & ranked.adm_day.notnull()).drop("_copy", "_file")


def provider_spells(ep: ibis.Table) -> ibis.Table:
    """Step 3. One sort per provider spell: the first and last episodes by row number and count over
    one window, whose whole-spell aggregates ride along (no group-by and join beside it)."""
    key = ["patient", "procode", "adm_day"]
    order = [ep.epiorder, ep.start_day, ep.epikey]
    w = ibis.window(group_by=[ep[k] for k in key], order_by=order)
    whole = ibis.window(group_by=[ep[k] for k in key], order_by=order, preceding=None, following=None)
    ranked = ep.mutate(_first=ibis.row_number().over(w), _n=ep.epikey.count().over(whole),
                       _dis_day=ep.dis_day.max().over(whole), _disdate=ep.disdate.max().over(whole),
                       _cancer=ep.cancer.any().over(whole), _specialty=ep.excluded_specialty.any().over(whole))
    first = ranked.filter(ranked._first == 0).select(*key, *FIRST_EPISODE, dis_day=ranked._dis_day,
                                                     disdate=ranked._disdate, cancer=ranked._cancer,
                                                     excluded_specialty=ranked._specialty, episodes=ranked._n)
    last = ranked.filter(ranked._first == ranked._n - 1).select(*key, last_dismeth=ranked.dismeth,
                                                                 last_disdest=ranked.disdest)
    return first.join(last, key)


def continuous_spells(spells: ibis.Table) -> ibis.Table:
    """Step 4: one row per CIPS, with its admission, discharge and whole-spell flags.

    Spells are ordered by admission day, then a transfer-in after the spell it came from (both
    can start on one day), then discharge day and provider.
    """
    spells = spells.mutate(_in=(spells.admisorc.isin(codes.TRANSFER_SOURCES).fill_null(False)
                                | spells.admimeth.isin(codes.TRANSFER_METHODS).fill_null(False)).cast("int8"))
    order = [spells.adm_day, spells._in, spells.dis_day, spells.procode]
    w = ibis.window(group_by=spells.patient, order_by=order)
    prev_dis = spells.dis_day.lag().over(w)
    prev_dest = spells.last_disdest.lag().over(w)
    gap = spells.adm_day - prev_dis
    transfer = (prev_dest.isin(codes.TRANSFER_DESTINATIONS).fill_null(False)
                | spells.admisorc.isin(codes.TRANSFER_SOURCES).fill_null(False)
                | spells.admimeth.isin(codes.TRANSFER_METHODS).fill_null(False))
    linked = prev_dis.notnull() & (gap >= 0) & (gap <= codes.CIPS_MAX_GAP_DAYS) & transfer
    marked = spells.mutate(_new=ibis.ifelse(linked, 0, 1))
    cw = ibis.cumulative_window(group_by=marked.patient,
                                order_by=[marked.adm_day, marked._in, marked.dis_day, marked.procode])
    numbered = marked.mutate(cips=marked._new.sum().over(cw))
    key = ["patient", "cips"]
    order = [numbered.adm_day, numbered._in, numbered.dis_day, numbered.procode]
    fw = ibis.window(group_by=[numbered.patient, numbered.cips], order_by=order)
    whole = ibis.window(group_by=[numbered.patient, numbered.cips], order_by=order, preceding=None, following=None)
    ranked = numbered.mutate(_first=ibis.row_number().over(fw), _n=numbered.adm_day.count().over(whole),
                             cancer_any=numbered.cancer.any().over(whole),
                             specialty_any=numbered.excluded_specialty.any().over(whole))
    first = ranked.filter(ranked._first == 0).select(*key, "adm_day", "procode", *FIRST_EPISODE, "cancer_any",
                                                     "specialty_any", provider_spells=ranked._n)
    last = ranked.filter(ranked._first == ranked._n - 1).select(*key, dis_day=ranked.dis_day, disdate=ranked.disdate,
                                                                  dismeth=ranked.last_dismeth)
    return first.join(last, key)
