"""The client's version: the API version of the service's OpenAPI document (``info.version``)."""

__version__ = "1.0.0"
