"""Fetching: a URL in, the image's bytes out, without reaching a private network.

Owns URL parsing, the address policy, pinned connections and the bounded download.
Imports only ``nsfw.settings`` and ``nsfw.errors``; never imaging, models, pipeline or web.
"""

from nsfw.fetch.fetcher import Fetcher

__all__ = ["Fetcher"]
