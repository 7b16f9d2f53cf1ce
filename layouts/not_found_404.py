"""Unknown addresses get a friendly page, never a stack trace."""
from __future__ import annotations

import dash

from layouts.components.page import not_found
from layouts.components.urlstate import parse_query

dash.register_page(__name__, path="/404", title="Not found - Integrated Care Pioneers", name="Not found", order=9)


def layout(**query):
    return not_found("page", parse_query(query))
