"""Orchestration, the service layer between the pages and the statistics.

Loading the active dataset, picking comparators (matching/), running the estimators
(indicators/) and assembling what a page shows live here, and only here:

- results.py    the numbers every page asks for, per active dataset (cached; one call clears all)
- estimates.py  the estimates table and the detail frames behind a site's and the pooled charts
- cache.py      the caching policy: keys, the shared results store, clearing
- names.py      site names, anonymous labels and URL path ids

No Dash here: pages and callbacks import this package, never the reverse; indicators/ and
matching/ stay pure peers that this package calls.
"""
