"""The parquet dataset store: verified reads, atomic writes.

A dataset directory holds one parquet file per table and manifest.json (schema version, label,
sources, row counts, SHA-256 of every file). Reading verifies every checksum, so an altered or
missing file is refused by name. Writing builds the whole dataset in a temporary sibling
directory and renames it into place, so an interrupted write leaves the previous dataset intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.errors import DataError
from data.reference import ENGLAND_CODE
from data.schema import OPTIONAL_TABLES, SCHEMA_VERSION, TABLES

MANIFEST = "manifest.json"
GEOGRAPHIES = ("la", "ccg")
"""Upper-tier local authorities (the default everywhere) and CCG units (areas of type "CCG")."""
CCG_TYPE = "CCG"

_BY_GEOGRAPHY = ("areas", "site_areas", "population", "observations")
LABELS = ("demo", "real", "mixed")
DEMO_NOTICE = "Generated demonstration data, not real"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Dataset:
    """A loaded, verified dataset. Tables are pandas frames with the schema's columns."""

    path: Path
    manifest: dict
    tables: dict[str, pd.DataFrame] = field(repr=False)
    derived: dict = field(default_factory=dict, repr=False, compare=False)
    """Results computed from these tables (panels, covariates), kept as long as the Dataset is."""
    geography: str = "la"
    """Which units the default tables hold: ``la`` (upper-tier LAs) or ``ccg`` (CCG units); see ``on``."""

    @property
    def label(self) -> str:
        return self.manifest["label"]

    @property
    def checksum(self) -> str:
        """One hash for the whole dataset: identifies it in caches and comparator versions."""
        return self.manifest["dataset_checksum"]

    @property
    def cache_key(self) -> str:
        """Dataset checksum and geography: what every cache of results from this view is keyed by."""
        return f"{self.checksum}-{self.geography}"

    def on(self, geography: str) -> Dataset:
        """The same dataset seen on ``geography``: its areas, site_areas, population and
        observations are that geography's units (plus England), so every reader (panels,
        matching, estimators) runs on CCG units unchanged. The view shares the tables and keeps
        its own derived results; one view per geography, kept on the LA dataset."""
        if geography not in GEOGRAPHIES:
            raise DataError(f"geography {geography!r} is not one of {GEOGRAPHIES}")
        if geography == self.geography:
            return self
        base = self.derived.get("base", self)
        if geography == base.geography:
            return base
        views = base.derived.setdefault("views", {})
        if geography not in views:
            views[geography] = Dataset(path=self.path, manifest=self.manifest, tables=self.tables,
                                       derived={"base": base}, geography=geography)
        return views[geography]

    @property
    def is_demo(self) -> bool:
        return self.label == "demo"

    @property
    def notice(self) -> str:
        """What every view and export made from this dataset must say about its origin."""
        return DEMO_NOTICE if self.is_demo else f"Dataset: {self.label}"

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            # The one place tables are read by geography: every reader of areas, site_areas,
            # population and observations sees this view's geography only (LAs by default).
            return self._view(name, self.__dict__.get("geography", "la")) if name in _BY_GEOGRAPHY else tables[name]
        raise AttributeError(name)

    def units(self, geography: str = "la") -> pd.DataFrame:
        """The areas table's rows of one geography (``la``: the 152 LAs; ``ccg``: CCG units)."""
        return self._view("areas", geography)

    def site_units(self, geography: str = "la") -> pd.DataFrame:
        """site_areas rows whose area is a unit of ``geography``."""
        return self._view("site_areas", geography)

    def population_for(self, geography: str = "la") -> pd.DataFrame:
        return self._view("population", geography)

    def observations_for(self, geography: str = "la", frequency: str | None = None) -> pd.DataFrame:
        """Observations on one geography, at the catalogue's frequency unless ``frequency`` is given.

        An indicator may be stored at a second frequency too (ea_all: monthly as well as the
        catalogue's quarters); only this call with ``frequency`` returns those rows.
        """
        obs = self._view("observations", geography)
        if frequency is None:
            return obs
        key = ("geography", "observations", geography, frequency)
        if key not in self.derived:
            full = self.tables["observations"]
            self.derived[key] = full[self._in_geography(full["area_code"], geography)
                                     & (full["frequency"] == frequency)].reset_index(drop=True)
        return self.derived[key]

    def _ccg_codes(self) -> set:
        if "ccg_codes" not in self.derived:
            areas = self.tables.get("areas")
            if areas is not None and "type" in areas.columns:
                codes = set(areas.loc[areas["type"] == CCG_TYPE, "area_code"])
            else:  # areas not loaded (load_dataset(tables=...)): CCG units carry E38 codes
                codes = {c for name in _BY_GEOGRAPHY if name in self.tables
                         for c in self.tables[name]["area_code"].unique() if str(c).startswith("E38")}
            self.derived["ccg_codes"] = codes
        return self.derived["ccg_codes"]

    def _in_geography(self, codes: pd.Series, geography: str):
        if geography not in GEOGRAPHIES:
            raise DataError(f"geography {geography!r} is not one of {GEOGRAPHIES}")
        is_ccg = codes.isin(self._ccg_codes())
        # England belongs to both geographies: the benchmark every unit is compared with.
        return (is_ccg | (codes == ENGLAND_CODE)) if geography == "ccg" else ~is_ccg

    def _view(self, name: str, geography: str) -> pd.DataFrame:
        key = ("geography", name, geography)
        if key in self.derived:
            return self.derived[key]
        frame = self.tables[name]
        ccg = self._ccg_codes()
        if geography == "la" and not ccg and name != "observations":
            return frame  # a dataset without CCG units: nothing to hide, no copy
        keep = self._in_geography(frame["area_code"], geography)
        if name == "observations" and "catalogue" in self.tables:
            # Rows at a second frequency (see observations_for) stay out of the default view.
            freq = frame["indicator_id"].map(self.tables["catalogue"].set_index("indicator_id")["frequency"])
            keep &= (frame["frequency"] == freq) | freq.isna()
        view = frame if bool(keep.all()) else frame[keep].reset_index(drop=True)
        self.derived[key] = view
        return view


def _frame_to_table(name: str, frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    missing = [f.name for f in schema if f.name not in frame.columns]
    if missing:
        raise DataError(f"table {name!r} lacks column(s) {missing}")
    frame = frame[[f.name for f in schema]]
    try:
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"table {name!r} does not fit the schema: {exc}") from exc


def write_dataset(out: Path | str, tables: dict[str, pd.DataFrame], *, label: str,
                  sources: list[dict] | None = None, extra: dict | None = None) -> Path:
    """Write a complete dataset to ``out`` atomically, replacing any dataset already there.

    The new dataset is written and checked in a temporary sibling directory; only then is the
    old one moved aside and the new one renamed into place. If anything fails before the
    rename, ``out`` is untouched.
    """
    out = Path(out).resolve()
    if label not in LABELS:
        raise DataError(f"dataset label {label!r} is not one of {LABELS}")
    unknown = set(tables) - set(TABLES) - set(OPTIONAL_TABLES)
    if unknown or set(TABLES) - set(tables):
        raise DataError(f"dataset tables must be {sorted(TABLES)} (+ optional {sorted(OPTIONAL_TABLES)}); "
                        f"got {sorted(tables)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        files, rows = {}, {}
        for name in sorted(tables):
            schema = TABLES.get(name) or OPTIONAL_TABLES[name]
            table = _frame_to_table(name, tables[name], schema)
            target = tmp / f"{name}.parquet"
            # Fixed settings and no pandas metadata keep the bytes identical for identical data.
            pq.write_table(table.replace_schema_metadata(None), target, compression="zstd",
                           use_dictionary=True, write_statistics=True, store_schema=False)
            files[f"{name}.parquet"] = sha256_file(target)
            rows[name] = table.num_rows
        combined = hashlib.sha256("".join(f"{k}:{v}" for k, v in sorted(files.items())).encode()).hexdigest()
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "label": label,
            "notice": DEMO_NOTICE if label == "demo" else "",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": sources or [],
            "row_counts": rows,
            "files": files,
            "dataset_checksum": combined[:16],
            **(extra or {}),
        }
        with open(tmp / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        verify(tmp)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new`` with renames only: the old dataset exists until the new one does."""
    if not out.exists():
        os.rename(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(path: Path | str) -> dict:
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise DataError("no dataset directory here (build one with `pioneers build-demo --out DIR`)", file=str(path))
    if not mpath.exists():
        raise DataError("not a dataset: manifest.json is missing", file=str(mpath))
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"manifest is not valid JSON ({exc})", file=str(mpath)) from exc
    for key in ("schema_version", "label", "files", "row_counts", "dataset_checksum"):
        if key not in manifest:
            raise DataError(f"manifest lacks {key!r}", file=str(mpath))
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise DataError(f"schema version {manifest['schema_version']} is not the supported {SCHEMA_VERSION}; "
                        "rebuild the dataset", file=str(mpath))
    return manifest


def verify(path: Path | str) -> dict:
    """Check every file the manifest lists exists and has its recorded SHA-256."""
    path = Path(path)
    manifest = read_manifest(path)
    for fname, digest in manifest["files"].items():
        fpath = path / fname
        if not fpath.exists():
            raise DataError("file listed in the manifest is missing", file=str(fpath))
        if sha256_file(fpath) != digest:
            raise DataError("file has been altered since the dataset was written (SHA-256 differs from the "
                            "manifest); rebuild or re-ingest the dataset", file=str(fpath))
    for name in TABLES:
        if f"{name}.parquet" not in manifest["files"]:
            raise DataError(f"manifest lists no {name}.parquet", file=str(path / MANIFEST))
    return manifest


def load_dataset(path: Path | str, tables: list[str] | None = None) -> Dataset:
    """Load and verify a dataset. ``tables`` limits which tables are read (all by default)."""
    path = Path(path).resolve()
    manifest = verify(path)
    names = tables or [f[: -len(".parquet")] for f in manifest["files"]]
    frames = {}
    for name in names:
        fpath = path / f"{name}.parquet"
        if f"{name}.parquet" not in manifest["files"]:
            raise DataError(f"dataset has no table {name!r}", file=str(path))
        try:
            frame = pq.read_table(fpath).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read parquet ({exc})", file=str(fpath)) from exc
        for col in ("period_start", "start", "transition_start", "transition_end"):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col])
        frames[name] = frame
    return Dataset(path=path, manifest=manifest, tables=frames)
