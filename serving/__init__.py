"""Running the dashboard for an audience: the production server, its HTTP hardening, the
shared results cache wiring and what a page shows when the data goes wrong.

Sits at the app level (it may import Dash) but imports neither app.py nor callbacks/ (the app
factory is passed in); nothing under data/, indicators/, matching/ or analysis/
imports it.
"""
