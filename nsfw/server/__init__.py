"""Serving: gunicorn's configuration and the worker class it runs.

The gunicorn master imports this package, so nothing here imports the web layer, the
pipeline or a model at import time; workers load those after the fork.
"""
