"""Choosing each Pioneer's k nearest non-Pioneer comparator LAs.

Two distances, both on covariates transformed with statistics of the candidate pool only (a site
is one unit and has no spread of its own):
- ``mahalanobis`` (default; as R MatchIt's Mahalanobis nearest neighbour): whitened by the pool
  covariance, so results do not change when a covariate is rescaled;
- ``euclidean``: weighted standardised Euclidean, the CIPFA nearest-neighbour / NHS England peer
  group style: each covariate divided by its pool SD and multiplied by sqrt(weight).
Matching is with replacement across sites (an LA may serve several Pioneers). Ties are broken by
area code so the order of the pool never matters. A caliper (in the method's distance units)
drops candidates farther than it, and the site is named in a warning when fewer than k remain.

Why the rule is "balanced" and not plain nearest neighbours (algorithm 3). Balance is judged on
the comparators' *mean* (matching.balance: site minus comparator mean, in pool SDs), and DiD
needs that mean to move like the site before the start. Plain k-nearest picks each comparator
close to the site but does nothing to stop all k falling on the same side of it: on the real
data every covariate's mean |SMD| after matching stayed above 0.25, and only 11% of site x
indicator cells had every |SMD| < 0.25. The balanced rule keeps the distance as the gate (only
a site's ``CANDIDATES * k`` nearest LAs, within the caliper, may be chosen, so no comparator is
far from the site) and among those picks the k whose mean is closest to the site on the
standardised covariates (greedy, then pairwise swaps until none helps; ties to the nearer LA).
Priority: the indicator's own baseline level and slope are matched on together with the
structural covariates with equal weight per pool SD: the level and slope are what the parallel
trends assumption is about, the structural covariates are what makes a site's future trend like
its comparators'; weighting level and slope more (tried: x2, x4, x9 in euclidean) bought them
little and cost population and deprivation more (benchmarks/bench_balance.py prints the
figures). No caliper by default: the largest sites (e.g. Greater Manchester) are bigger than any
LA, so a caliper would leave them without any estimate; the pages instead say which sites have
no comparator within a distance, and a caliper can be set on the matching page, URL and CLI.
"""
from __future__ import annotations

import hashlib
import json
import warnings as warnings_module
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.errors import DataError
from data.store import Dataset
from matching.balance import THRESHOLDS, balance_frame, rate_smd
from matching.covariates import (
    BASELINE, DEMOGRAPHIC, _cache, comparator_pool, covariate_matrix, site_baseline_ends, units_with_data,
)

METHODS = ("mahalanobis", "euclidean")
K_RANGE = (3, 15)  # [C] comparators per site a person may choose (the matching page, the URL, the CLI)
K_DEFAULT = 5  # [C] comparators per site: the one default for pages, URLs, the CLI and the estimates
RULES = ("balanced", "nearest")
RULE_DEFAULT = "balanced"  # [C] see the module docstring; "nearest" reproduces algorithm 2
CANDIDATES = 3  # [C] the balanced rule chooses k among each site's CANDIDATES * k nearest
ALGORITHM_VERSION = 3
"""Bump when the selection rule changes, so old comparator-set versions are not reused.
3: the balanced rule (k chosen among the 3k nearest so that their mean is like the site)."""
_TIE_DECIMALS = 9


# ---------------------------------------------------------------------------------------------
# The pure core: covariate frames in, ranked comparators out.

def pool_transform(pool: np.ndarray, method: str, weights: np.ndarray | None = None,
                   columns: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(centre, matrix A) such that distances are Euclidean between rows of (x - centre) @ A.

    Mahalanobis: A = V diag(1/sqrt(lambda)) from the pool covariance V diag(lambda) V'.
    Euclidean: A = diag(sqrt(w) / pool SD).
    """
    columns = columns or [f"column {i}" for i in range(pool.shape[1])]
    if method not in METHODS:
        raise DataError(f"matching method {method!r} is not one of {METHODS}")
    if pool.shape[0] < 2:
        raise DataError("comparator pool needs at least 2 LAs to estimate its spread")
    centre = pool.mean(axis=0)
    sd = pool.std(axis=0, ddof=1)
    flat = [c for c, s in zip(columns, sd) if not s > 0]
    if flat:
        raise DataError(f"covariate(s) {flat} do not vary across the comparator pool; drop them")
    if method == "euclidean":
        w = np.ones(pool.shape[1]) if weights is None else np.asarray(weights, dtype=float)
        return centre, np.diag(np.sqrt(w) / sd)
    # Work on the correlation scale, then undo it: the same matrix, better conditioned.
    corr = np.atleast_2d(np.corrcoef(pool, rowvar=False))
    lam, vec = np.linalg.eigh(corr)
    if lam.min() <= 1e-10 * lam.max():
        raise DataError(f"covariates {columns} are collinear across the comparator pool "
                        "(Mahalanobis needs an invertible covariance); drop one or use euclidean")
    return centre, np.diag(1 / sd) @ vec @ np.diag(1 / np.sqrt(lam))


def nearest(treated_z: np.ndarray, pool_z: np.ndarray, k: int, *, exclude: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of each treated row's k nearest pool rows (ties: lower index first).

    ``exclude[i] = j`` removes pool row j from treated row i's candidates (placebo: an LA is
    never its own comparator).
    """
    diff = treated_z[:, None, :] - pool_z[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if exclude is not None:
        dist[np.arange(len(dist)), exclude] = np.inf
    order = np.argsort(np.round(dist, _TIE_DECIMALS), axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


def _weights_vector(columns: list[str], weights: Mapping[str, float] | None, method: str) -> np.ndarray | None:
    if weights is None:
        return None
    if method != "euclidean":
        raise DataError("covariate weights apply to the euclidean method only (Mahalanobis weighs by the "
                        "pool covariance)")
    unknown = sorted(set(weights) - set(columns))
    if unknown:
        raise DataError(f"weights name covariate(s) {unknown} that are not matched on ({columns})")
    w = np.array([float(weights.get(c, 1.0)) for c in columns])
    if (w < 0).any() or not w.any() or not np.isfinite(w).all():
        raise DataError(f"weights must be finite, non-negative and not all zero; got {dict(weights)}")
    return w


def balanced_subset(site_s: np.ndarray, candidates_s: np.ndarray, k: int, allowed: np.ndarray | None = None,
                    max_swaps: int = 50) -> np.ndarray:
    """For each site, the k of its candidates whose mean is closest to it (squared Euclidean distance on
    standardised covariates): greedy forward choice, then the best single swap while one improves it.

    ``site_s``: (n, d); ``candidates_s``: (n, m, d), nearest first; ``allowed``: (n, m) (caliper).
    Returns (n, k) candidate positions (-1 where fewer than k are allowed). Ties go to the nearer candidate.
    """
    n, m, _ = candidates_s.shape
    allowed = np.ones((n, m), dtype=bool) if allowed is None else allowed.copy()
    chosen = np.full((n, k), -1)
    total = np.zeros_like(site_s)
    taken = ~allowed
    rows = np.arange(n)
    for j in range(k):
        err = (((total[:, None, :] + candidates_s) / (j + 1) - site_s[:, None, :]) ** 2).sum(axis=2)
        err = np.round(np.where(taken, np.inf, err), _TIE_DECIMALS)
        pick = np.argmin(err, axis=1)
        ok = np.isfinite(err[rows, pick])
        chosen[ok, j] = pick[ok]
        total[ok] += candidates_s[rows[ok], pick[ok]]
        taken[rows[ok], pick[ok]] = True
    full = (chosen >= 0).all(axis=1)
    sq = (candidates_s ** 2).sum(axis=2)  # (n, m)
    for _ in range(max_swaps):
        if not full.any():
            break
        # Swapping chosen slot a for candidate b moves the mean by (c_b - c_a) / k, so with r = mean - site
        # the new error is |r|^2 + 2 r.(c_b - c_a) / k + |c_b - c_a|^2 / k^2, from dot products only.
        r = total / k - site_s
        current = (r ** 2).sum(axis=1)
        slot = np.maximum(chosen, 0)
        out = candidates_s[rows[:, None], slot]  # (n, k, d)
        r_in = np.einsum("nd,nmd->nm", r, candidates_s)
        r_out = np.einsum("nd,nkd->nk", r, out)
        cross = np.einsum("nkd,nmd->nkm", out, candidates_s)
        gap = sq[:, None, :] + sq[rows[:, None], slot][:, :, None] - 2 * cross
        err = current[:, None, None] + 2 * (r_in[:, None, :] - r_out[:, :, None]) / k + gap / k ** 2
        err = np.where(taken[:, None, :] | ~full[:, None, None], np.inf, err)
        flat = err.reshape(n, -1)
        best = np.argmin(np.round(flat, _TIE_DECIMALS), axis=1)
        better = flat[rows, best] < current - 1e-12
        if not better.any():
            break
        i = np.flatnonzero(better)  # one swap per site, so these updates never collide
        a, b = np.divmod(best[i], m)
        old = chosen[i, a]
        taken[i, old] = False
        total[i] += candidates_s[i, b] - candidates_s[i, old]
        chosen[i, a] = b
        taken[i, b] = True
    return chosen


def select_comparators(treated_z: np.ndarray, pool_z: np.ndarray, treated_s: np.ndarray, pool_s: np.ndarray,
                       k: int, rule: str = RULE_DEFAULT, caliper: float | None = None, *,
                       exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, dist, keep), each (n, k), nearest first: the rule's comparators among the pool.

    ``*_z``: the method's distance space (pool_transform); ``*_s``: covariates in pool SDs (balance's
    scale). "nearest": the k nearest; "balanced": see the module docstring. ``keep`` is False where a
    slot has no candidate within the caliper.
    """
    if rule not in RULES:
        raise DataError(f"matching rule {rule!r} is not one of {RULES}")
    if rule == "nearest":
        order, dist = nearest(treated_z, pool_z, k, exclude=exclude)
        keep = np.ones(order.shape, dtype=bool) if caliper is None else dist <= caliper
        return order, dist, keep
    m = min(CANDIDATES * k, len(pool_z) - (exclude is not None))
    cand, cdist = nearest(treated_z, pool_z, m, exclude=exclude)
    allowed = np.ones(cand.shape, dtype=bool) if caliper is None else cdist <= caliper
    pick = balanced_subset(treated_s, pool_s[cand], k, allowed)
    keep = pick >= 0
    pick = np.where(keep, pick, 0)
    order = np.take_along_axis(cand, pick, axis=1)
    dist = np.where(keep, np.take_along_axis(cdist, pick, axis=1), np.inf)
    # nearest first among the chosen (ties: lower pool index); unfilled slots last
    sort = np.lexsort((order, np.round(dist, _TIE_DECIMALS)), axis=1)
    order, dist, keep = (np.take_along_axis(a, sort, axis=1) for a in (order, dist, keep))
    dist = np.where(keep, dist, np.take_along_axis(cdist, np.zeros_like(pick), axis=1))
    return order, dist, keep


@dataclass(frozen=True)
class _Matched:
    """Array form of one matching run: row i of ``order``/``dist`` belongs to ``treated[used[i]]``."""

    pool_codes: np.ndarray      # pool codes actually used (complete covariates), sorted
    pool_X: np.ndarray
    used: np.ndarray            # positions of treated units with complete covariates
    order: np.ndarray           # (n_used, k) indices into pool_codes
    dist: np.ndarray
    keep: np.ndarray            # (n_used, k) within the caliper
    warnings: list[str]


def _standardised(X: np.ndarray, pool_X: np.ndarray) -> np.ndarray:
    """Covariates in pool SDs from the pool mean: the scale balance is judged on."""
    return (X - pool_X.mean(axis=0)) / pool_X.std(axis=0, ddof=1)


def _match_arrays(treated_names: np.ndarray, treated_X: np.ndarray, pool_codes: np.ndarray, pool_X: np.ndarray,
                  columns: list[str], k: int, method: str, w: np.ndarray | None, caliper: float | None,
                  rule: str = RULE_DEFAULT) -> _Matched:
    warnings: list[str] = []
    if caliper is not None and not caliper > 0:
        raise DataError(f"caliper must be a positive distance; got {caliper!r}")
    sort = np.argsort(pool_codes, kind="stable")
    pool_codes, pool_X = pool_codes[sort], pool_X[sort]
    complete = ~np.isnan(pool_X).any(axis=1)
    if not complete.all():
        left = list(pool_codes[~complete])
        warnings.append(f"{len(left)} pool LA(s) lack a covariate value and were left out: {left[:8]}"
                        + (" ..." if len(left) > 8 else ""))
        pool_codes, pool_X = pool_codes[complete], pool_X[complete]
    if not 1 <= k <= len(pool_codes):
        raise DataError(f"k = {k} comparators asked for but the pool has {len(pool_codes)} LAs with complete "
                        "covariates")
    ok = ~np.isnan(treated_X).any(axis=1)
    for i in np.flatnonzero(~ok):
        missing = [c for c, v in zip(columns, treated_X[i]) if np.isnan(v)]
        warnings.append(f"{treated_names[i]}: no comparators, covariate(s) {missing} missing")
    centre, A = pool_transform(pool_X, method, w, columns)
    order, dist, keep = select_comparators((treated_X[ok] - centre) @ A, (pool_X - centre) @ A,
                                           _standardised(treated_X[ok], pool_X), _standardised(pool_X, pool_X),
                                           k, rule, caliper)
    used = np.flatnonzero(ok)
    if caliper is not None:
        for row in np.flatnonzero(~keep.all(axis=1)):
            within = int(keep[row].sum())
            short = "no comparator" if not within else f"only {within} of {k} candidates"
            warnings.append(f"{treated_names[used[row]]}: {short} within caliper {caliper:g} ({method} distance; "
                            f"nearest is {dist[row, 0]:.3g})")
    return _Matched(pool_codes, pool_X, used, order, dist, keep, warnings)


def _long(m: _Matched, treated_names: np.ndarray) -> dict[str, np.ndarray]:
    k = m.order.shape[1]
    keep = m.keep.ravel()
    return {
        "unit": np.repeat(treated_names[m.used], k)[keep],
        "comparator_code": m.pool_codes[m.order].ravel()[keep],
        "rank": np.tile(np.arange(1, k + 1), len(m.used))[keep],
        "distance": m.dist.ravel()[keep],
    }


def match_units(treated: pd.DataFrame, pool: pd.DataFrame, k: int = K_DEFAULT, method: str = "mahalanobis",
                weights: dict | None = None, caliper: float | None = None, *,
                return_warnings: bool = False, rule: str = RULE_DEFAULT):
    """Each treated unit's k nearest pool units on the treated frame's covariate columns.

    ``treated`` and ``pool`` are indexed by unit and hold those numeric columns. Returns a frame
    with columns unit, comparator_code, rank (1 = nearest), distance, in treated order, with
    replacement across treated units. Warnings (a unit with fewer than k candidates within the
    caliper, named; units or pool LAs left out for a missing covariate) are in
    ``frame.attrs["warnings"]``; with ``return_warnings=True`` the result is ``(frame, warnings)``.
    """
    if method not in METHODS:
        raise DataError(f"matching method {method!r} is not one of {METHODS}")
    columns = list(treated.columns)
    missing = [c for c in columns if c not in pool.columns]
    if missing:
        raise DataError(f"pool covariates lack {missing}; treated units are described by {columns}")
    w = _weights_vector(columns, weights, method)
    names = treated.index.to_numpy()
    m = _match_arrays(names, treated.to_numpy(dtype=float), pool.index.to_numpy(),
                      pool[columns].to_numpy(dtype=float), columns, k, method, w, caliper, rule)
    frame = pd.DataFrame(_long(m, names))
    frame.attrs["warnings"] = m.warnings
    return (frame, m.warnings) if return_warnings else frame


# ---------------------------------------------------------------------------------------------
# Comparator sets over a dataset.

@dataclass(frozen=True, eq=False)
class ComparatorSet:
    """Comparators for every site (and indicator), with the parameters that made them.

    ``table``: site_id, indicator_id (missing for per-site sets), comparator_code, rank,
    distance, version. ``version``: short hash of method, parameters, covariates, pool and the
    dataset checksum: the same inputs always give the same version and the same table.
    ``warnings``: caliper shortfalls and missing covariates, each naming the site.
    """

    table: pd.DataFrame
    version: str
    params: dict
    warnings: tuple[str, ...] = ()
    _contexts: tuple = field(default=(), repr=False)
    _balance: pd.DataFrame | None = field(default=None, repr=False)  # k by balance: the chosen k's rows

    def balance(self, thresholds: tuple[float, float] = THRESHOLDS) -> pd.DataFrame:
        """Balance of every site (and indicator) and covariate (see matching.balance), with
        indicator_id and version columns."""
        if self._balance is not None:
            out = self._balance.copy()
            out["balance_before"] = rate_smd(out["smd_before"], thresholds)
            out["balance_after"] = rate_smd(out["smd_after"], thresholds)
            out["version"] = self.version
            return out
        frames = []
        for indicator_id, names, site_X, m, columns in self._contexts:
            comparator_mean = np.full(site_X.shape, np.nan)
            n_comp = np.zeros(len(names), dtype=int)
            if len(m.used):
                vals = np.where(m.keep[:, :, None], m.pool_X[m.order], np.nan)
                n_comp[m.used] = m.keep.sum(axis=1)
                with np.errstate(invalid="ignore"), warnings_module.catch_warnings():
                    warnings_module.simplefilter("ignore", RuntimeWarning)
                    comparator_mean[m.used] = np.nanmean(vals, axis=1)
            b = balance_frame("site_id", names, columns, site_X, comparator_mean, n_comp, m.pool_X, thresholds)
            b.insert(1, "indicator_id", indicator_id)
            frames.append(b)
        out = pd.concat(frames, ignore_index=True)
        out["indicator_id"] = out["indicator_id"].astype("string")
        out["version"] = self.version
        return out.sort_values(["site_id", "indicator_id"], na_position="first",
                               kind="stable").reset_index(drop=True)

    def comparators(self, site_id: str, indicator_id: str | None = None) -> list[str]:
        """Comparator codes of one site (per-indicator sets need the indicator), nearest first."""
        t = self.table
        rows = t[(t["site_id"] == site_id)
                 & (t["indicator_id"].isna() if indicator_id is None else t["indicator_id"] == indicator_id)]
        return rows.sort_values("rank")["comparator_code"].tolist()


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not K_RANGE[0] <= k <= K_RANGE[1]:
        raise DataError(f"k must be a whole number from {K_RANGE[0]} to {K_RANGE[1]}; got {k!r}")


def _covariate_list(covariates: Iterable[str] | None, with_indicator: bool) -> list[str]:
    allowed = list(DEMOGRAPHIC) + (list(BASELINE) if with_indicator else [])
    chosen = list(covariates) if covariates is not None else allowed
    bad = [c for c in chosen if c not in allowed]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise DataError(f"covariates {chosen} must be distinct names from {allowed}"
                        + ("" if with_indicator else " (baseline level and slope need per-indicator matching)"))
    return chosen


def comparator_version(params: dict) -> str:
    """Short stable hash of everything that decides a comparator set."""
    blob = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _rows(matrix: tuple[pd.Index, list[str], np.ndarray], units: list[str], columns: list[str]) -> np.ndarray:
    index, all_columns, X = matrix
    where = {unit: i for i, unit in enumerate(index.tolist())}
    pos = np.array([where.get(u, -1) for u in units], dtype=int)
    if (pos < 0).any():
        raise DataError(f"no covariates for unit(s) {[u for u, p in zip(units, pos) if p < 0][:5]}")
    return X[np.ix_(pos, [all_columns.index(c) for c in columns])]


@dataclass(frozen=True)
class _Design:
    """What one matching run can use: the covariates kept, the pool LAs kept, and why others were not."""

    columns: list[str]
    pool_codes: np.ndarray  # sorted
    pool_X: np.ndarray
    warnings: tuple[str, ...]


def _preview(codes: list[str], n: int = 8) -> str:
    return f"{codes[:n]}" + (" ..." if len(codes) > n else "")


def _design(dataset: Dataset, indicator_id: str | None, end: pd.Timestamp, columns: list[str],
            codes: list[str]) -> _Design:
    """The pool and covariates one matching run can actually use, with a reason for each loss.

    In order: for an indicator, pool LAs with no data for it are left out (they could show nothing
    about it); covariates no pool LA has are left out; pool LAs lacking a remaining covariate are
    left out; covariates with the same value for every remaining pool LA are left out (they
    cannot tell LAs apart, and Mahalanobis cannot whiten them). Cached per dataset.
    """
    key = ("design", indicator_id, end if indicator_id is not None else None, tuple(columns), tuple(codes))
    cache = _cache(dataset)
    if key in cache:
        return cache[key]
    warnings: list[str] = []
    codes = sorted(codes)
    if indicator_id is not None:
        have = units_with_data(dataset, indicator_id)
        without = [c for c in codes if c not in have]
        codes = [c for c in codes if c in have]
        if without and codes:
            warnings.append(f"{len(without)} pool LA(s) have no {indicator_id} data and cannot be its comparators: "
                            f"{_preview(without)}")
    X = _rows(covariate_matrix(dataset, indicator_id, end), codes, columns) if codes else np.empty((0, len(columns)))
    kept = list(columns)
    if len(codes):
        empty = [c for j, c in enumerate(columns) if np.isnan(X[:, j]).all()]
        for c in empty:
            warnings.append(f"covariate {c!r} left out: no pool LA has a value for it")
        kept = [c for c in columns if c not in empty]
        X = X[:, [columns.index(c) for c in kept]]
        complete = ~np.isnan(X).any(axis=1)
        if not complete.all():
            left = [c for c, ok in zip(codes, complete) if not ok]
            warnings.append(f"{len(left)} pool LA(s) lack a covariate value and were left out: {_preview(left)}")
            codes, X = [c for c, ok in zip(codes, complete) if ok], X[complete]
        if len(codes) >= 2:
            # Exactly equal values can still give a float SD of 1e-17: compare the range with the level.
            spread = np.ptp(X, axis=0)
            flat = [j for j in range(len(kept)) if not spread[j] > 1e-12 * max(1.0, abs(X[0, j]))]
            for j in flat:
                warnings.append(f"covariate {kept[j]!r} left out: every pool LA has the same value ({X[0, j]:.4g}), "
                                "so it cannot tell LAs apart")
            kept = [c for j, c in enumerate(kept) if j not in flat]
            X = X[:, [j for j in range(X.shape[1]) if j not in flat]]
    design = _Design(kept, np.asarray(codes, dtype=object), X, tuple(warnings))
    cache[key] = design
    return design


def _subset_weights(columns: list[str], weights: dict | None, method: str) -> np.ndarray | None:
    if weights is None:
        return None
    return _weights_vector(columns, {c: v for c, v in weights.items() if c in columns}, method)


def _site_design(dataset: Dataset, site_id: str, indicator_id: str | None, end: pd.Timestamp,
                 columns: list[str], codes: list[str]) -> tuple[_Design, str | None]:
    """The design a site is matched with, and the reason when it falls back to demographics only.

    Per-indicator matching needs the indicator's baseline level and slope; a site (or a pool) with
    too little data before the baseline end is matched on the demographic covariates instead.
    """
    design = _design(dataset, indicator_id, end, columns, codes)
    baseline = [c for c in columns if c in BASELINE]
    if indicator_id is None or not baseline:
        return design, None
    kept = [c for c in design.columns if c in BASELINE]
    if kept:
        x = _rows(covariate_matrix(dataset, indicator_id, end), [site_id], kept)
        if not np.isnan(x).any():
            return design, None
    reason = (f"{site_id}: too little {indicator_id} data before its baseline end {end:%Y-%m-%d} for a baseline "
              "level and slope; matched on demographic covariates only")
    demographic = [c for c in columns if c not in BASELINE]
    return _design(dataset, indicator_id, end, demographic, codes), reason


def match(dataset: Dataset, *, k: int = K_DEFAULT, method: str = "mahalanobis", per_indicator: bool = False,
          caliper: float | None = None, weights: dict | None = None, covariates: list[str] | None = None,
          pool: Iterable[str] | None = None, baseline_column: str = "transition_start",
          indicators: Iterable[str] | None = None, rule: str = RULE_DEFAULT) -> ComparatorSet:
    """Comparator sets for every site: one per site on the demographic covariates, or with
    ``per_indicator`` one per site and indicator, adding the indicator's baseline level and slope
    measured before each site's ``baseline_column`` date ([C]: transition_start by default).
    ``pool`` overrides the default candidate pool; ``indicators`` limits per-indicator sets.

    Data that cannot support a covariate never stops the run: covariates no pool LA has, or that
    are the same for every pool LA, are left out; pool LAs lacking a covariate are left out; in
    per-indicator sets only LAs with data for the indicator are candidates, a site without data
    for it gets no comparators, and a site without baseline data for it is matched on the
    demographic covariates. Each case is a warning in ``ComparatorSet.warnings`` naming the site,
    covariate or indicator.
    """
    _check_k(k)
    if method not in METHODS:
        raise DataError(f"matching method {method!r} is not one of {METHODS}")
    if rule not in RULES:
        raise DataError(f"matching rule {rule!r} is not one of {RULES}")
    columns = _covariate_list(covariates, per_indicator)
    w = _weights_vector(columns, weights, method)
    codes = comparator_pool(dataset, pool)
    ends = site_baseline_ends(dataset, baseline_column)
    catalogue = list(dataset.catalogue["indicator_id"])
    if per_indicator:
        wanted = catalogue if indicators is None else list(indicators)
        unknown = [i for i in wanted if i not in catalogue]
        if unknown:
            raise DataError(f"indicator(s) {unknown} are not in the catalogue", column="indicator_id")
    else:
        wanted = [None]
    params = {
        "algorithm": ALGORITHM_VERSION, "rule": rule, "method": method, "k": int(k), "per_indicator": bool(per_indicator),
        "caliper": None if caliper is None else float(caliper),
        "weights": None if w is None else dict(zip(columns, w.tolist())),
        "covariates": columns, "baseline_column": baseline_column,
        "indicators": wanted if per_indicator else None,
        "pool": hashlib.sha256(",".join(codes).encode()).hexdigest()[:12], "pool_size": len(codes),
        "dataset_checksum": dataset.checksum, "geography": dataset.geography,
    }
    version = comparator_version(params)

    parts: dict[str, list] = {"site_id": [], "indicator_id": [], "comparator_code": [], "rank": [], "distance": []}
    warnings, contexts = [], []
    # Sites sharing a baseline end share the pool's covariates: one transform per (date, indicator).
    groups = [(pd.Timestamp(end), list(sites)) for end, sites in ends.groupby(ends, sort=True).groups.items()]
    if not per_indicator:
        groups = [(groups[0][0], sorted(ends.index))]  # demographic covariates do not depend on the date
    for indicator_id in wanted:
        where = f" [indicator {indicator_id}]" if indicator_id else ""
        if indicator_id is not None and not units_with_data(dataset, indicator_id):
            warnings.append(f"no site or pool LA has any {indicator_id} data: no comparators{where}")
            continue
        for end, sites in groups:
            runs: dict[int, tuple[_Design, list[str]]] = {}
            for site_id in sites:
                if indicator_id is not None and site_id not in units_with_data(dataset, indicator_id):
                    warnings.append(f"{site_id}: no {indicator_id} data in any of its LAs, so no comparators{where}")
                    continue
                design, reason = _site_design(dataset, site_id, indicator_id, end, columns, codes)
                if reason:
                    warnings.append(reason + where)
                runs.setdefault(id(design), (design, []))[1].append(site_id)
            for design, members in runs.values():
                warnings.extend(f"{text}{where}" for text in design.warnings)
                if not design.columns:
                    warnings.append(f"{', '.join(members)}: no covariate left to match on, so no comparators{where}")
                    continue
                if len(design.pool_codes) < k:
                    warnings.append(f"{', '.join(members)}: only {len(design.pool_codes)} pool LA(s) usable, fewer than "
                                    f"k = {k}, so no comparators{where}")
                    continue
                matrix = covariate_matrix(dataset, indicator_id, end)
                names = np.asarray(members, dtype=object)
                site_X = _rows(matrix, members, design.columns)
                m = _match_arrays(names, site_X, design.pool_codes, design.pool_X, design.columns, k, method,
                                  _subset_weights(design.columns, weights, method), caliper, rule)
                warnings.extend(f"{text}{where}" for text in m.warnings)
                long = _long(m, names)
                parts["site_id"].append(long["unit"])
                parts["indicator_id"].append(np.full(len(long["unit"]), indicator_id, dtype=object))
                for col in ("comparator_code", "rank", "distance"):
                    parts[col].append(long[col])
                contexts.append((indicator_id, names, site_X, m, design.columns))
    empty = {"site_id": object, "indicator_id": object, "comparator_code": object, "rank": np.int64,
             "distance": float}
    table = pd.DataFrame({col: np.concatenate(chunks) if chunks else np.array([], dtype=empty[col])
                          for col, chunks in parts.items()})
    table["indicator_id"] = table["indicator_id"].astype("string")
    table["version"] = version
    table = table.sort_values(["site_id", "indicator_id", "rank"], na_position="first",
                              kind="stable").reset_index(drop=True)
    return ComparatorSet(table=table, version=version, params=params, warnings=tuple(dict.fromkeys(warnings)),
                         _contexts=tuple(contexts))


@dataclass(frozen=True, eq=False)
class PlaceboSet:
    """Placebo-in-space comparators in array form: pool LA ``codes[i]``'s k nearest other pool LAs
    are ``codes[order[i]]`` at ``distance[i]``. Empty (no rows) when the pool cannot give k."""

    codes: np.ndarray  # pool LAs with complete covariates, sorted
    order: np.ndarray  # (n, k) indices into codes
    distance: np.ndarray  # (n, k)
    covariates: tuple[str, ...]  # what they were matched on (the site's design)
    _frames: list = field(default_factory=list, repr=False)

    def frame(self) -> pd.DataFrame:
        """area_code, comparator_code, rank, distance: k rows per pool LA (a fresh copy each call)."""
        if not self._frames:
            self._frames.append(self._build_frame())
        out = self._frames[0].copy()
        out.attrs["covariates"] = list(self.covariates)
        return out

    def _build_frame(self) -> pd.DataFrame:
        n, k = self.order.shape
        if not n:
            frame = pd.DataFrame({"area_code": pd.Series(dtype=object), "comparator_code": pd.Series(dtype=object),
                                  "rank": pd.Series(dtype="int64"), "distance": pd.Series(dtype=float)})
        else:
            frame = pd.DataFrame({"area_code": np.repeat(self.codes, k), "comparator_code": self.codes[self.order].ravel(),
                                  "rank": np.tile(np.arange(1, k + 1), n), "distance": self.distance.ravel()})
        frame.attrs["covariates"] = list(self.covariates)
        return frame


def placebo_set(dataset: Dataset, site_id: str, indicator_id: str | None = None, k: int = K_DEFAULT,
                method: str = "mahalanobis", weights: dict | None = None,
                covariates: list[str] | None = None, pool: Iterable[str] | None = None,
                baseline_column: str = "transition_start", rule: str = RULE_DEFAULT) -> PlaceboSet:
    """Placebo-in-space comparators: every pool LA, given ``site_id``'s baseline dates, matched to
    its k comparators from the pool minus itself by the same rule, with the pool transform the site was matched with.

    Sites sharing a baseline date and design share the answer (the same object), cached per
    dataset, date, indicator and settings.
    """
    _check_k(k)
    if method not in METHODS:
        raise DataError(f"matching method {method!r} is not one of {METHODS}")
    ends = site_baseline_ends(dataset, baseline_column)
    if site_id not in ends.index:
        raise DataError(f"site {site_id!r} is not in the sites table", column="site_id")
    columns = _covariate_list(covariates, indicator_id is not None)
    _weights_vector(columns, weights, method)
    codes = comparator_pool(dataset, pool)
    end = pd.Timestamp(ends[site_id])
    design, _ = _site_design(dataset, site_id, indicator_id, end, columns, codes)
    w = _subset_weights(design.columns, weights, method)
    if rule not in RULES:
        raise DataError(f"matching rule {rule!r} is not one of {RULES}")
    key = ("placebo", rule, end if indicator_id else None, indicator_id, int(k), method,
           None if w is None else tuple(w), tuple(design.columns), tuple(codes))
    cache = _cache(dataset)
    if key not in cache:
        names, X = design.pool_codes, design.pool_X
        if not design.columns or k >= len(names):
            found = PlaceboSet(np.array([], dtype=object), np.zeros((0, k), dtype=int), np.zeros((0, k)),
                               tuple(design.columns))
        else:
            centre, A = pool_transform(X, method, w, design.columns)
            Z = (X - centre) @ A
            S = _standardised(X, X)
            order, dist, _ = select_comparators(Z, Z, S, S, k, rule, exclude=np.arange(len(Z)))
            found = PlaceboSet(names, order, dist, tuple(design.columns))
        cache[key] = found
    return cache[key]


# ---------------------------------------------------------------------------------------------
# k chosen by balance as well as by count.

def k_by_balance(worst_smd: Mapping[int, float], threshold: float = THRESHOLDS[1]) -> int:
    """The k to use for one site (and indicator), from each candidate k's largest |SMD| after matching.

    [C] The rule: the largest k whose comparators keep every |SMD| below ``threshold`` (more
    comparators, less noise, as long as they stay alike); when no k does, the k with the smallest
    largest |SMD| (ties: the larger k). A k whose balance cannot be computed is never chosen unless
    none can be (then the largest).
    """
    if not worst_smd:
        raise DataError("k by balance needs at least one candidate k")
    ks = sorted(worst_smd)
    finite = {k: float(v) for k, v in worst_smd.items() if np.isfinite(v)}
    if not finite:
        return ks[-1]
    under = [k for k, v in finite.items() if v < threshold]
    if under:
        return max(under)
    best = min(finite.values())
    return max(k for k, v in finite.items() if np.isclose(v, best, rtol=0, atol=1e-12))


def match_k_by_balance(dataset: Dataset, *, ks: Iterable[int] | None = None, threshold: float = THRESHOLDS[1],
                       **settings) -> ComparatorSet:
    """Comparator sets whose k is chosen per site (and indicator) by ``k_by_balance``.

    ``settings`` are ``match``'s (not k). The table and balance rows are those of each cell's chosen
    k; ``params["k"]`` is "auto by balance" and ``params["chosen_k"]`` maps "site|indicator" to k.
    """
    ks = list(range(K_RANGE[0], K_RANGE[1] + 1)) if ks is None else sorted(set(ks))
    for k in ks:
        _check_k(k)
    sets = {k: match(dataset, k=k, **settings) for k in ks}
    balances = {k: cs.balance() for k, cs in sets.items()}

    def cells(frame: pd.DataFrame) -> list[tuple[str, str]]:
        return list(zip(frame["site_id"], frame["indicator_id"].astype(object).fillna("")))

    # A k counts for a cell only when the caliper left it all k comparators; a cell short at every k gets
    # the smallest k (more would add nothing: the same few comparators).
    worst: dict[tuple[str, str], dict[int, float]] = {}
    for k, b in balances.items():
        a = b["smd_after"].abs().to_numpy(dtype=float)
        full = b["n_comparators"].to_numpy() == k
        for cell, value, ok in zip(cells(b), a, full):
            seen = worst.setdefault(cell, {})
            if ok and not value <= seen.get(k, -np.inf):  # the largest |SMD| of the cell's covariates
                seen[k] = value if np.isfinite(value) else seen.get(k, np.nan)
    chosen = {cell: k_by_balance(by_k, threshold) if by_k else min(ks) for cell, by_k in worst.items()}

    def of_chosen(frames: dict[int, pd.DataFrame]) -> pd.DataFrame:
        return pd.concat([f[[chosen.get(c) == k for c in cells(f)]] for k, f in frames.items()], ignore_index=True)

    def relevant(warning: str, k: int) -> bool:  # a caliper shortfall counts only at the site's chosen k
        site = warning.split(":", 1)[0]
        return "caliper" not in warning or any(s == site and c == k for (s, _), c in chosen.items())

    params = {**sets[ks[0]].params, "k": "auto by balance", "k_candidates": ks, "k_threshold": threshold,
              "chosen_k": {f"{s}|{i}": int(k) for (s, i), k in sorted(chosen.items())}}
    version = comparator_version(params)
    table = of_chosen({k: cs.table for k, cs in sets.items()}).assign(version=version)
    table["indicator_id"] = table["indicator_id"].astype("string")
    table = table.sort_values(["site_id", "indicator_id", "rank"], na_position="first",
                              kind="stable").reset_index(drop=True)
    balance = of_chosen(balances).sort_values(["site_id", "indicator_id"], na_position="first",
                                              kind="stable").reset_index(drop=True)
    warnings = tuple(dict.fromkeys(w for k in ks for w in sets[k].warnings if relevant(w, k)))
    return ComparatorSet(table=table, version=version, params=params, warnings=warnings, _balance=balance)
