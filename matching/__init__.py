"""Comparator selection and balance diagnostics (pure pandas/numpy; no Dash)."""
