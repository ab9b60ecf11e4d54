"""Fetching: a URL in, the image's bytes out, without reaching a private network.

Owns URL parsing, the address policy, pinned connections, the bounded download (`body`) and its
Content-Encoding (`inflate`).
Imports only ``nsfw.settings`` and ``nsfw.errors``; never imaging, models, pipeline or web.
"""

from nsfw.fetch.fetcher import Fetcher

__all__ = ["Fetcher"]
