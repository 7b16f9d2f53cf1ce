"""The dashboard's pages, one module per page (Dash Pages), and reusable pieces in components/.

/                                       home.py            overview grid, basis switch (?basis=did|its|england|spc)
/site/<site_id>                         site.py            a site's 12 trends, effects with readings, comparators
/site/<site_id>/indicator/<indicator>   site_indicator.py  trend, event study, change in trend, SPC + numbers
/indicator/<indicator_id>               indicator.py       definition, caterpillar, pooled event study, funnel, all sites
/indicators, /matching, /data           indicators_index.py, matching.py, data_page.py
anything else                           not_found_404.py

Every page reads its state from the URL (?anon=1, ?present=1, ?basis=, ?chart=): components/urlstate.py.
<site_id> is the site id, or in anonymised mode its anonymous path id ("pioneer-c"): components/anonymise.py.
Numbers come only from analysis/results.py (the service layer over indicators/ and matching/, cached per dataset).
"""
