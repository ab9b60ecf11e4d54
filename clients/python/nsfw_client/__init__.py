"""Client of nsfw-service: classify images and videos, and guard uploads in Flask, Django and FastAPI.

``Client`` and ``AsyncClient`` speak the service's /v1 API; their only dependency is httpx.
The guards (``nsfw_client.flask``, ``nsfw_client.django``, ``nsfw_client.fastapi``) need their
framework, installed with the extra of the same name (``pip install 'nsfw-client[flask]'``).
"""

from nsfw_client._version import __version__
from nsfw_client.aio import AsyncClient
from nsfw_client.client import Client
from nsfw_client.errors import APIError, NsfwError, ServiceUnreachable
from nsfw_client.guard import Decision, Guard
from nsfw_client.result import Frame, Image, Match, Pdq, Result, Verdict, Video

__all__ = [
    "APIError",
    "AsyncClient",
    "Client",
    "Decision",
    "Frame",
    "Guard",
    "Image",
    "Match",
    "NsfwError",
    "Pdq",
    "Result",
    "ServiceUnreachable",
    "Verdict",
    "Video",
    "__version__",
]
