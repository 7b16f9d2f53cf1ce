"""Anonymisation: labels, path ids that resolve server-side, comparators unnamed, the leak scanner."""
from __future__ import annotations

import pytest

from layouts.components.anonymise import (SiteNames, comparator_labels, find_real_names, real_names,
                                          translate_path)


@pytest.fixture(scope="module")
def names(demo):
    return SiteNames.from_sites(demo.sites)


def test_labels_are_the_fixed_shuffled_key(names, demo):
    assert names.display("barnsley", anon=True) == "Pioneer C"
    assert names.display("barnsley", anon=False) == "Barnsley"
    labels = [names.labels[s] for s in sorted(names.names, key=names.names.get)]
    assert labels != sorted(labels), "labels must not follow alphabetical order of the sites"
    assert len(set(names.labels.values())) == 25


def test_path_ids_hide_the_site_and_resolve_back(names):
    for site_id in names.names:
        anon_id = names.path_id(site_id, anon=True)
        assert site_id not in anon_id and anon_id.startswith("pioneer-")
        assert names.resolve(anon_id) == site_id
        assert names.resolve(site_id) == site_id
    assert names.resolve("nowhere") is None
    assert names.resolve(None) is None


def test_translate_path_switches_site_paths_only(names):
    assert translate_path("/site/barnsley/indicator/ea_all", names, True) == "/site/pioneer-c/indicator/ea_all"
    assert translate_path("/site/pioneer-c", names, False) == "/site/barnsley"
    assert translate_path("/indicator/ea_all", names, True) == "/indicator/ea_all"
    assert translate_path("/site/unknown", names, True) == "/site/unknown"


def test_anonymised_order_does_not_follow_names(names):
    order = names.ordered(anon=True)
    waves = [names.waves[s] for s in order]
    assert waves == sorted(waves)
    wave1 = [names.labels[s] for s in order if names.waves[s] == 1]
    assert wave1 == sorted(wave1)


def test_comparators_are_numbered_in_rank_order():
    codes = ["E06000001", "E06000002"]
    area_names = {"E06000001": "Hartlepool", "E06000002": "Middlesbrough"}
    assert comparator_labels(codes, area_names, True) == {"E06000001": "Comparator 1", "E06000002": "Comparator 2"}
    assert comparator_labels(codes, area_names, False) == area_names


def test_scanner_finds_whole_names_only(demo):
    forbidden = real_names(demo.sites, demo.areas)
    assert "Barnsley" in forbidden and "E08000016" in forbidden and "Hartlepool" in forbidden
    assert find_real_names("Pioneer C against Comparator 3", forbidden) == []
    assert find_real_names("hover: Barnsley 2014/15", forbidden) == ["Barnsley"]
    assert "Kent" not in find_real_names("Kentish", forbidden)


# --- the synthetic-control view (est=scm): page, figure, tables and its CSV name no one ------------------

def _scm_view_texts(demo_dir, site_path: str, indicator_id: str, anon: bool) -> list[str]:
    """Everything the SCM view sends: the page layout JSON (figures, tables, links, headings), the page
    title, and the chart's CSV download (rows, headers, file name, title)."""
    import json

    import dash
    import plotly

    from data.active import set_active_dataset
    from layouts.components import charts
    from tests.serving_support import shared_app

    set_active_dataset(demo_dir)
    shared_app()
    page = dash.page_registry["layouts.site_indicator"]
    query = {"est": "scm", **({"anon": "1"} if anon else {})}
    layout = page["layout"](site_id=site_path, indicator_id=indicator_id, **query)
    texts = [json.dumps(layout, cls=plotly.utils.PlotlyJSONEncoder), page["title"](site_id=site_path,
                                                                                 indicator_id=indicator_id)]
    chart = charts.build(charts.ChartSpec("scm", site=site_path, indicator_id=indicator_id, anon=anon))
    texts += [chart.table.to_csv(index=False), chart.filename, chart.title, chart.colour_note]
    return texts


@pytest.mark.parametrize("site_id", ["barnsley", "greater-manchester", "waltham-forest-elc"])
@pytest.mark.parametrize("indicator_id", ["ea_all", "dtoc"])
def test_scm_view_names_no_site_or_donor_when_anonymised(demo_dir, demo, names, site_id, indicator_id):
    forbidden = real_names(demo.sites, demo.areas)
    texts = _scm_view_texts(demo_dir, names.path_id(site_id, anon=True), indicator_id, anon=True)
    found = [n for t in texts for n in find_real_names(t, forbidden)]
    assert found == []
    assert '"Donor 1"' in texts[0] and "scm-reading" in texts[0]


def test_scm_view_scan_finds_donor_names_when_named(demo_dir, demo):
    """Negative control: the same view with names on does show the site and its donors."""
    forbidden = real_names(demo.sites, demo.areas)
    texts = _scm_view_texts(demo_dir, "barnsley", "ea_all", anon=False)
    found = {n for t in texts for n in find_real_names(t, forbidden)}
    assert "Barnsley" in found and len(found) > 5  # the site and its named donors


def test_scanner_matches_the_plain_longest_first_alternation(demo):
    """The prefix-tree pattern finds exactly what one alternation of every name, longest first, finds:
    names inside longer names, names followed by a hyphen, letter or digit, names side by side."""
    import random
    import re

    forbidden = real_names(demo.sites, demo.areas)
    plain = re.compile(r"(?<![A-Za-z0-9-])(?:" + "|".join(re.escape(n) for n in sorted(forbidden, key=len, reverse=True))
                       + r")(?![A-Za-z0-9-])")
    rng = random.Random(7)
    pieces = ["Pioneer C", "Kentish", "Cheshire East-x", "Cheshire Eastern", "2014/15", "<br>", '"'] + list(forbidden)
    for _ in range(100):
        text = "".join(rng.choice(pieces) + rng.choice(["", " ", "s", "-", "1", ",", "\n"]) for _ in range(60))
        assert find_real_names(text, forbidden) == sorted(set(plain.findall(text)))
