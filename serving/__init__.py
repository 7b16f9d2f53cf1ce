"""Running the dashboard for an audience: the production server, its HTTP hardening, the
shared results cache wiring, warming, and what a page shows when the data goes wrong.

Sits at the app level (it may import Dash); nothing under data/, indicators/ or matching/
imports it.
"""
