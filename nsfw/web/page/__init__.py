"""The page at ``/``: a client of POST /v1/classify for people, its files in ``static/``."""
