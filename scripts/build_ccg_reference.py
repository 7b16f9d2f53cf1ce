"""Write data/reference/ccgs.csv and the derived rows of data/reference/site_ccgs.csv.

Run from the project root: ``.venv/bin/python scripts/build_ccg_reference.py [--shared DIR]``.
ccgs.csv holds public reference facts only (codes, names, successors) taken from the ONS
lookups in the shared folder. In site_ccgs.csv, the rows of sites made of whole LAs are derived
here (every CCG with most of its mid-2017 population inside the site's LAs); the rows of sites
with a part LA are set by hand and kept exactly as they are in the file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data import ccg  # noqa: E402
from data.loaders.population import district_to_county  # noqa: E402
from data.real import shared_dir, source_paths  # noqa: E402
from data.reference import load_reference  # noqa: E402

SITE_CCG_COLUMNS = ["site_id", "ccg_code", "coverage", "basis", "note"]
MAJORITY = 0.5
"""[C] A CCG belongs to a whole-LA site when more than half its population lives in the site's LAs."""


def derived_site_ccgs(shared: Path) -> pd.DataFrame:
    reference = load_reference()
    sa = reference.site_areas
    whole_sites = sa.groupby("site_id")["coverage"].agg(lambda c: (c == "whole").all())
    shares = ccg.ccg_la_shares(shared, district_to_county(source_paths(shared)["councils"]), "2013/14")
    rows = []
    for site_id in [s for s in reference.site_ids() if whole_sites.get(s, False)]:
        members = sa[sa["site_id"] == site_id]
        inside = shares[shares["area_code"].isin(members["area_code"])].groupby("ccg_code")["share"].sum()
        basis = "C" if (members["basis"] == "C").any() else "S"
        for code, share in inside[inside > MAJORITY].sort_index().items():
            note = "derived from the site's LAs (ONS lookup)"
            if share < 0.99:
                note += f"; {share:.0%} of the CCG's population in the site's LAs"
            rows.append({"site_id": site_id, "ccg_code": code, "coverage": "whole", "basis": basis, "note": note})
    return pd.DataFrame(rows, columns=SITE_CCG_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    table = ccg.ccg_vintages(shared)
    table.to_csv(ccg.CCGS_CSV, index=False)
    print(f"wrote {ccg.CCGS_CSV}: {len(table)} rows; CCGs per vintage "
          f"{table.groupby('vintage').size().to_dict()}")
    derived = derived_site_ccgs(shared)
    reference = load_reference()
    part_sites = set(reference.site_areas.loc[reference.site_areas["coverage"] == "part", "site_id"])
    if ccg.SITE_CCGS_CSV.exists():
        by_hand = pd.read_csv(ccg.SITE_CCGS_CSV, dtype=str, keep_default_na=False)
        by_hand = by_hand[by_hand["site_id"].isin(part_sites)]
    else:
        by_hand = pd.DataFrame(columns=SITE_CCG_COLUMNS)
    order = {s: i for i, s in enumerate(reference.site_ids())}
    out = pd.concat([derived, by_hand[SITE_CCG_COLUMNS]], ignore_index=True)
    out = out.sort_values(["site_id", "ccg_code"], key=lambda s: s.map(order) if s.name == "site_id" else s)
    out.to_csv(ccg.SITE_CCGS_CSV, index=False)
    print(f"wrote {ccg.SITE_CCGS_CSV}: {len(derived)} derived rows, {len(by_hand)} set by hand "
          f"(sites with a part LA: {sorted(part_sites)})")


if __name__ == "__main__":
    main()
