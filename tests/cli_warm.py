"""Imported by the forkserver of tests/cli_process.py, once, and by nothing else: it reads the published
files every ingest reads (the reference tables, the ONS populations and the district lookup) into their
per-process caches, so every CLI forked from that server starts with them, as an ingest does that is not
its process's first. Each forked CLI otherwise read them again: about 0.5 of the 0.7 core-seconds
that a first ingest in a process takes here (0.12 when it is not the first).
"""
from data.ingest import context_for
from data.reference import default_reference

context_for(default_reference(), None, None)
