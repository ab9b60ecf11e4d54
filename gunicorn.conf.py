"""gunicorn settings for ``gunicorn app:app`` from a checkout (gunicorn reads this file by name).

The settings themselves are the package's, in ``nsfw/server/gunicorn_conf.py``, which
``nsfw serve`` uses too: both ways of starting the service behave alike.
"""

from nsfw.server.gunicorn_conf import *  # noqa: F403
