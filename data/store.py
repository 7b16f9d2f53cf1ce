"""The parquet dataset store: verified reads, atomic writes.

A dataset directory holds one parquet file per table and manifest.json (schema version, label,
sources, row counts, SHA-256 of every file). Reading verifies every checksum, so an altered or
missing file is refused by name. Writing builds the whole dataset in a temporary sibling
directory, renames it to a new version and points the dataset's link at it in one atomic step,
under an exclusive lock, so an interrupted write leaves the previous dataset intact.
"""
from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import threading
import uuid
from contextlib import contextmanager
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
            # type(base): a disclosure-controlled dataset's views stay controlled and say so (data.hes.disclosure)
            views[geography] = type(base)(path=self.path, manifest=self.manifest, tables=self.tables,
                                          derived={"base": base}, geography=geography)
        return views[geography]

    @property
    def is_demo(self) -> bool:
        return self.label == "demo"

    @property
    def provenance(self) -> dict[str, str]:
        """Per indicator with data: ``generated``, ``real`` or ``mixed`` (some rows generated)."""
        if "provenance" in self.manifest:
            return dict(self.manifest["provenance"])
        if self.is_demo:
            return {ind: "generated" for ind in self.tables["observations"]["indicator_id"].unique()}
        return indicator_provenance(self.tables.get("observations"))

    @property
    def generated_indicators(self) -> list[str]:
        """Indicators any of whose figures are generated: every view names them as generated."""
        return sorted(i for i, p in self.provenance.items() if p != "real")

    def is_generated(self, indicator_id: str) -> bool:
        return self.is_demo or self.provenance.get(indicator_id, "real") != "real"

    @property
    def notice(self) -> str:
        """What every view and export made from this dataset must say about its origin."""
        if self.is_demo:
            return DEMO_NOTICE
        generated = self.generated_indicators
        if generated:
            return (f"{DEMO_NOTICE}: {', '.join(generated)} (generated figures; the other indicators are "
                    f"from published files)")
        return f"Dataset: {self.label}"

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

    ``out`` is a symbolic link to a versioned sibling directory (``.NAME.vN``). The new version
    is written and verified in a ``.NAME.writing-*`` sibling, renamed to the next version, and
    then the link is replaced by one ``os.replace``: a reader sees the old dataset or the new
    one, never neither. A folder that holds something other than a dataset is refused; files a
    user keeps in a dataset folder (notes, sub-folders) are carried into the new version; the
    folder's mode is kept. Writers hold an exclusive lock (``.NAME.lock``) for the whole write.
    """
    out = Path(os.path.abspath(out))
    if label not in LABELS:
        raise DataError(f"dataset label {label!r} is not one of {LABELS}")
    unknown = set(tables) - set(TABLES) - set(OPTIONAL_TABLES)
    if unknown or set(TABLES) - set(tables):
        raise DataError(f"dataset tables must be {sorted(TABLES)} (+ optional {sorted(OPTIONAL_TABLES)}); "
                        f"got {sorted(tables)}")
    with dataset_lock(out):
        recover(out)
        current = _current_version(out)
        tmp = out.parent / f".{out.name}.writing-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()  # the default mode (umask), as a plain mkdir gives; the old folder's mode below
        try:
            files, rows = {}, {}
            for name in sorted(tables):
                schema = TABLES.get(name) or OPTIONAL_TABLES[name]
                table = _frame_to_table(name, tables[name], schema)
                target = tmp / f"{name}.parquet"
                # Fixed settings and no pandas metadata keep the bytes identical for identical data.
                pq.write_table(table.replace_schema_metadata(None), target, compression="zstd",
                               use_dictionary=True, write_statistics=True, store_schema=False)
                _fsync(target)
                files[f"{name}.parquet"] = sha256_file(target)
                rows[name] = table.num_rows
                fault_point("writing")
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
                "provenance": indicator_provenance(tables["observations"]),
            }
            with open(tmp / MANIFEST, "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True, default=str)
                f.flush()
                os.fsync(f.fileno())
            fault_point("written")
            verify(tmp)
            if current is not None:
                _carry_user_files(current, tmp)
                os.chmod(tmp, stat.S_IMODE(current.stat().st_mode))
            version = _next_version(out)
            os.rename(tmp, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync(out.parent)
        fault_point("versioned")
        _point_link(out, version)
        fault_point("swapped")
        _prune(out, keep={version.name, current.name if current is not None else ""})
    return out


# ---- versioned layout, locking and recovery ------------------------------------------------

KILL_ENV = "PIONEERS_KILL_AT"
"""Fault injection for the kill tests: the name of a write step at which the process SIGKILLs itself."""
_VERSION = re.compile(r"^\.(?P<name>.+)\.v(?P<n>\d+)$")
_held: dict[str, int] = {}
_held_guard = threading.Lock()


def fault_point(step: str) -> None:
    """Steps of a write (writing, written, versioned, linked, swapped, migrated): a test may kill here."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _versions(out: Path) -> list[Path]:
    """The complete versions beside ``out``, oldest first (only verified copies are ever renamed to .vN)."""
    found = []
    for p in out.parent.glob(f".{glob.escape(out.name)}.v*"):
        m = _VERSION.match(p.name)
        if m and m.group("name") == out.name and p.is_dir() and not p.is_symlink():
            found.append((int(m.group("n")), p))
    return [p for _, p in sorted(found)]


def _next_version(out: Path) -> Path:
    versions = _versions(out)
    n = int(_VERSION.match(versions[-1].name).group("n")) + 1 if versions else 1
    return out.parent / f".{out.name}.v{n}"


def _point_link(out: Path, version: Path) -> None:
    """Make ``out`` a link to ``version`` in one atomic step (a relative link: the pair can be moved)."""
    link = out.parent / f".{out.name}.link-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.symlink(version.name, link)
    fault_point("linked")
    os.replace(link, out)
    _fsync(out.parent)


def _current_version(out: Path) -> Path | None:
    """The directory the dataset at ``out`` lives in now (None if there is none yet); refuses what is not ours.

    A plain dataset directory (the layout before versions) is first moved to ``.NAME.v1`` and linked."""
    if out.is_symlink():
        try:
            target = out.resolve(strict=True)
        except (OSError, RuntimeError):
            raise DataError("is a broken symbolic link or a symlink loop, not a dataset folder", file=str(out)) from None
        if not target.is_dir():
            raise DataError("is a link to a file, not to a dataset folder", file=str(out))
        return target
    if not out.exists():
        return None
    if not out.is_dir():
        raise DataError("is a file, not a dataset folder: choose a folder name", file=str(out))
    entries = list(out.iterdir())
    if not entries:
        out.rmdir()  # an empty folder: the link takes its place
        return None
    if not (out / MANIFEST).is_file():
        raise DataError("folder is not empty and holds no dataset (no manifest.json): nothing was written; "
                        "choose a new or empty folder", file=str(out))
    version = _next_version(out)
    os.rename(out, version)
    fault_point("migrated")
    _point_link(out, version)
    return version


def _carry_user_files(current: Path, new: Path) -> None:
    """Files in the dataset folder that the project did not write (notes, sub-folders) go with the data."""
    try:
        ours = set(json.loads((current / MANIFEST).read_text()).get("files", {})) | {MANIFEST}
    except (OSError, ValueError, AttributeError):
        ours = {MANIFEST} | {p.name for p in current.glob("*.parquet")}
    for entry in current.iterdir():
        if entry.name in ours or (new / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        else:
            _link_or_copy(entry, new / entry.name)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _prune(out: Path, keep: set[str]) -> None:
    """Delete versions older than the previous one (kept for readers still on it) and leftovers."""
    for version in _versions(out):
        if version.name not in keep:
            shutil.rmtree(version, ignore_errors=True)


def recover(out: Path | str) -> None:
    """Undo what a killed write left (call with the lock held): leftover ``.writing-*`` and link
    files are removed, and a missing or dangling dataset link is pointed at the newest version."""
    out = Path(os.path.abspath(out))
    for leftover in [*out.parent.glob(f".{glob.escape(out.name)}.writing-*"),
                     *out.parent.glob(f".{glob.escape(out.name)}.link-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    dangling = out.is_symlink() and not out.exists()
    if (dangling or not out.exists() and not out.is_symlink()) and _versions(out):
        if dangling:
            try:
                out.resolve(strict=True)
            except RuntimeError:
                return  # a symlink loop the user made: not ours to replace
            except OSError:
                pass
        _point_link(out, _versions(out)[-1])


@contextmanager
def dataset_lock(out: Path | str, *, wait: bool = True):
    """Hold the exclusive write lock of the dataset at ``out`` (re-entrant within a process).

    A second writer waits, saying so on stderr; with ``wait=False`` it raises BlockingIOError."""
    out = Path(os.path.abspath(out))
    key = str(out)
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            print(f"waiting: another write to {out} is in progress...", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        os.close(fd)  # closing releases the lock


def dataset_dir(path: Path | str) -> Path:
    """The real directory of the dataset at ``path`` (following its link), recovering a link a
    killed write left missing when no write is in progress."""
    path = Path(os.path.abspath(path))
    if not path.is_dir() and _versions(path):
        try:
            with dataset_lock(path, wait=False):
                recover(path)
        except (BlockingIOError, OSError):
            pass  # a writer holds the lock (it will finish the swap), or the folder is read-only
    if not path.is_dir():
        raise DataError("no dataset directory here (build one with `pioneers build-demo --out DIR`)", file=str(path))
    return path.resolve()


# ---- provenance ----------------------------------------------------------------------------

GENERATED_MARK = "generated"
"""Prefix (before ':') of a loader's source for figures it knows are generated (a synthetic HES extract)."""
GENERATED_SOURCES = ("demo", GENERATED_MARK)
"""Observation ``source`` values (or prefixes before ':') that mark generated numbers."""


def indicator_provenance(observations: pd.DataFrame) -> dict[str, str]:
    """Per indicator: ``generated`` (every row generated), ``real`` (none) or ``mixed`` (some)."""
    if observations is None or observations.empty or "source" not in observations:
        return {}
    generated = observations["source"].astype(str).str.split(":").str[0].isin(GENERATED_SOURCES)
    share = generated.groupby(observations["indicator_id"].astype(str)).mean()
    return {ind: "generated" if s == 1 else "real" if s == 0 else "mixed" for ind, s in share.items()}


def read_manifest(path: Path | str) -> dict:
    real = dataset_dir(path)
    mpath = real / MANIFEST
    shown = str(Path(os.path.abspath(path)) / MANIFEST)
    if not mpath.exists():
        raise DataError("not a dataset: manifest.json is missing", file=shown)
    if not mpath.is_file():
        raise DataError("manifest.json is not a regular file", file=shown)
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"manifest is not valid JSON ({exc})", file=shown) from exc
    except OSError as exc:
        raise DataError(f"cannot read the manifest ({exc.strerror})", file=shown) from exc
    if not isinstance(manifest, dict):
        raise DataError(f"manifest is not a JSON object (got {type(manifest).__name__})", file=shown)
    for key in ("schema_version", "label", "files", "row_counts", "dataset_checksum"):
        if key not in manifest:
            raise DataError(f"manifest lacks {key!r}", file=shown)
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise DataError(f"schema version {manifest['schema_version']} is not the supported {SCHEMA_VERSION}; "
                        "rebuild the dataset", file=shown)
    files = manifest["files"]
    if not (isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) and "/" not in k
                                             and k not in ("", ".", "..") for k, v in files.items())):
        raise DataError("manifest 'files' is not a map of file names to SHA-256 digests", file=shown)
    if not isinstance(manifest["dataset_checksum"], str) or manifest["label"] not in LABELS:
        raise DataError(f"manifest 'label' must be one of {LABELS} and 'dataset_checksum' text", file=shown)
    if not isinstance(manifest["row_counts"], dict):
        raise DataError("manifest 'row_counts' is not a map of tables to row counts", file=shown)
    return manifest


def regular_file(fpath: Path, shown: Path | None = None) -> os.stat_result:
    """stat() a dataset file, refusing anything but a regular file (a FIFO would block every reader)."""
    shown = shown or fpath
    try:
        st = fpath.stat()
    except FileNotFoundError:
        raise DataError("file listed in the manifest is missing", file=str(shown)) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror})", file=str(shown)) from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError("is not a regular file (a directory, pipe or device took its place)", file=str(shown))
    return st


def verify(path: Path | str) -> dict:
    """Check every file the manifest lists exists and has its recorded SHA-256."""
    shown = Path(os.path.abspath(path))
    real = dataset_dir(path)
    manifest = read_manifest(path)
    for fname, digest in manifest["files"].items():
        regular_file(real / fname, shown / fname)
        try:
            actual = sha256_file(real / fname)
        except OSError as exc:
            raise DataError(f"cannot read the file ({exc.strerror})", file=str(shown / fname)) from None
        if actual != digest:
            raise DataError("file has been altered since the dataset was written (SHA-256 differs from the "
                            "manifest); rebuild or re-ingest the dataset", file=str(shown / fname))
    for name in TABLES:
        if f"{name}.parquet" not in manifest["files"]:
            raise DataError(f"manifest lists no {name}.parquet", file=str(shown / MANIFEST))
    return manifest


def deep_verify(path: Path | str) -> dict:
    """verify() and then read every table in full against the schema: what a byte-level check
    cannot see (a file rewritten with its recorded hash is impossible, but a schema-breaking
    file written by another tool with a matching manifest is not)."""
    manifest = verify(path)
    real = dataset_dir(path)
    shown = Path(os.path.abspath(path))
    for fname in manifest["files"]:
        try:
            table = pq.read_table(real / fname)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read parquet ({exc})", file=str(shown / fname)) from exc
        name = fname[: -len(".parquet")]
        schema = TABLES.get(name) or OPTIONAL_TABLES.get(name)
        if schema is not None:
            missing = [f.name for f in schema if f.name not in table.column_names]
            if missing:
                raise DataError(f"table lacks column(s) {missing}", file=str(shown / fname))
        if manifest["row_counts"].get(name) not in (None, table.num_rows):
            raise DataError(f"has {table.num_rows} rows; the manifest says {manifest['row_counts'][name]}",
                            file=str(shown / fname))
    return manifest


def load_dataset(path: Path | str, tables: list[str] | None = None) -> Dataset:
    """Load and verify a dataset. ``tables`` limits which tables are read (all by default)."""
    given = Path(os.path.abspath(path))
    path = dataset_dir(path)  # one version throughout, even if a write swaps the link meanwhile
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
    return Dataset(path=given, manifest=manifest, tables=frames)
