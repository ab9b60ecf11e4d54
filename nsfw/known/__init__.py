"""Known content (issue 20): PDQ hashes compared against review decisions and operators' hash lists.

``index`` is the in-memory exact radius search (multi-index hashing over numpy arrays); ``hashes``
reads, checks and writes hash-list files (hex lines, ThreatExchange/HMA CSV or TSV); ``match`` is the
answer a match gives. None of it reads a database: ``nsfw.review.known`` loads the decided items and
the lists into these indexes and hands the Detector a matcher (``nsfw.pipeline.Matcher``).
"""
