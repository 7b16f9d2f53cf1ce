"""Population-share weighting of part-covered members (issue 15 part 3)."""
import numpy as np
import pandas as pd
import pytest

from analysis.estimates import estimates_table
from data.errors import DataError
from data.panels import indicator_panels, membership, site_aggregate

SITE_AREAS = pd.DataFrame({"site_id": ["s", "s"], "area_code": ["A", "B"], "coverage": ["whole", "part"],
                           "population_share": [1.0, 0.25], "basis": "S", "note": ""})


def test_hand_made_part_covered_site():
    # LA A (whole): 30 events / 1,000 people; LA B (a quarter of it inside the footprint): 10 / 4,000.
    # Whole members: (30 + 10) / (1,000 + 4,000) = 800 per 100,000. Weighted by the share inside:
    # (30 + 0.25 x 10) / (1,000 + 0.25 x 4,000) = 32.5 / 2,000 = 1,625 per 100,000.
    num, den = np.array([[30.0], [10.0]]), np.array([[1000.0], [4000.0]])
    value = num / den * 100_000
    sites, areas = pd.Index(["s"]), pd.Index(["A", "B"])
    whole = membership(sites, areas, SITE_AREAS)
    shared = membership(sites, areas, SITE_AREAS, "population_share")
    assert whole.tolist() == [[1.0, 1.0]] and shared.tolist() == [[1.0, 0.25]]
    assert site_aggregate(num, den, value, whole, 100_000.0)[2][0, 0] == pytest.approx(800.0)
    s_num, s_den, s_value = site_aggregate(num, den, value, shared, 100_000.0)
    assert (s_num[0, 0], s_den[0, 0], s_value[0, 0]) == pytest.approx((32.5, 2000.0, 1625.0))
    # Rates only (no counts): A 2,000 and B 1,000 per 100,000, weighted by denominator x share:
    # (2,000 x 1,000 + 1,000 x 0.25 x 3,000) / (1,000 + 750) = 1,571.43.
    rates = np.array([[2000.0], [1000.0]])
    _, _, rate_value = site_aggregate(np.full((2, 1), np.nan), np.array([[1000.0], [3000.0]]), rates, shared, 1.0)
    assert rate_value[0, 0] == pytest.approx((2000 * 1000 + 1000 * 750) / 1750)


def test_weighting_changes_only_sites_with_part_members(demo, demo_estimates):
    part_sites = set(demo.site_areas.loc[demo.site_areas["coverage"] == "part", "site_id"])
    whole = indicator_panels(demo)["ea_all"]
    shared = indicator_panels(demo, "population_share")["ea_all"]
    assert shared is indicator_panels(demo, "population_share")["ea_all"]  # cached per weighting
    differs = ~np.isclose(whole.site_frame, shared.site_frame, equal_nan=True).all(axis=1)
    changed = set(whole.site_ids[differs])
    assert changed and changed <= part_sites
    table = estimates_table(demo, weighting="population_share")
    base = demo_estimates
    did = table[table["method"] == "did"].set_index(["site_id", "indicator_id"])["effect_pct"]
    did0 = base[base["method"] == "did"].set_index(["site_id", "indicator_id"])["effect_pct"]
    moved = set(did.index[~np.isclose(did, did0.reindex(did.index), equal_nan=True)].get_level_values(0))
    assert moved and moved <= part_sites
    with pytest.raises(DataError, match="site weighting"):
        indicator_panels(demo, "by_area")
