"""Batch front-ends: many sources in, one record per source out (``nsfw classify``, ``nsfw bulk``).

Owns the record every batch front-end writes (``records``), so a file classified by the
command line, by Ray or through the HTTP API gets the same scores under the same names.
Calls the core (``nsfw.pipeline``) and ``nsfw.verdict``; never imports ``nsfw.web``.
"""
