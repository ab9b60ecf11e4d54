"""Content-Encoding for downloads: gzip and deflate, inflated a bounded piece at a time.

The service asks for ``identity``, but servers send gzip anyway. urllib3's own decoding
keeps reading from the socket until it has the decoded bytes it was asked for, so a body of
endless empty deflate blocks (which inflates to nothing) would be read until the deadline;
here the caller reads raw bytes under its own cap and hands them in.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from nsfw.errors import FetchFailed


class Inflater:
    """Content-Encoding gzip or deflate, inflated at most ``limit`` bytes per step.

    ``identity`` passes through. Each zlib call is given a ``max_length``, so one call
    never produces more than the cap allows, and its input is the raw bytes just read.
    """

    def __init__(self, mode: str | None):
        self._mode = mode  # None, "gzip" or "deflate"
        self._obj = self._new() if mode else None
        self._started = False

    @classmethod
    def for_encoding(cls, header: str) -> Inflater:
        codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
        if not codings:
            return cls(None)
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            return cls("deflate" if codings[0] == "deflate" else "gzip")
        raise FetchFailed(f"the image server sent an unsupported Content-Encoding: {header[:40]!r}")

    def _new(self, wbits: int | None = None) -> zlib._Decompress:
        return zlib.decompressobj(wbits if wbits is not None else (31 if self._mode == "gzip" else 15))

    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        if self._obj is None:
            yield data
            return
        while data:
            try:
                out = self._obj.decompress(data, max(1, limit))
            except zlib.error:
                if self._mode == "deflate" and not self._started:  # raw deflate, without zlib's header
                    self._obj, self._started = self._new(-15), True
                    continue
                raise FetchFailed("the image server sent a body that could not be decompressed") from None
            self._started = True
            limit -= len(out)
            yield out
            if limit <= 0:
                return  # the caller refuses the body now
            data = self._obj.unconsumed_tail
            if self._obj.eof and self._obj.unused_data:  # gzip: the next member
                data, self._obj = self._obj.unused_data, self._new()

    def finish(self) -> Iterator[bytes]:
        if self._obj is not None and self._started and not self._obj.eof:
            raise FetchFailed("the image server sent a body that could not be decompressed (truncated)")
        return iter(())
