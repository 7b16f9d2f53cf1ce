"""Reusable dashboard pieces: URL state, anonymisation, figure and table builders, exports.

Everything here is pure (frames and options in, figures, tables or bytes out) except
`results`, which adapts the statistics packages to the pages and caches per dataset.
"""
