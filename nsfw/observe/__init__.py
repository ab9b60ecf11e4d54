"""Observability: request ids, Prometheus metrics, structured logs.

Knows nothing of Flask or gunicorn: the web layer (``nsfw.web.observability``) and the server
(``nsfw.server``) call it. ``request_ids`` and ``logs`` are safe to import in the gunicorn
master; ``metrics`` imports prometheus-client, which must only happen once
``PROMETHEUS_MULTIPROC_DIR`` is set (see ``nsfw.server.gunicorn_conf``).
"""
