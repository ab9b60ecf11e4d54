"""Reading a response body into the spool, held to its byte cap on the wire and once decoded.

Apart from the fetcher's hops and address checks: what bounds a body is the cap (the image's,
or the one ``cap_for`` names after seeing its first bytes), read a bounded piece at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import requests

from nsfw.errors import TooLarge
from nsfw.fetch.inflate import Inflater
from nsfw.fetch.transport import TRANSPORT_ERRORS, transport_error

# first bytes of a body -> (its byte cap, what it is); None -> the largest cap it may name
CapFor = Callable[[bytes | None], tuple[int, str]]

READ_CHUNK = 64 * 1024  # bounds what one read may decompress, too
SNIFF_BYTES = 64  # what a cap_for callback is shown of a body


def read_body(
    response: requests.Response, deadline: float, spool: IO[bytes], max_bytes: int, cap_for: CapFor | None = None
) -> None:
    """Copy the decoded body to ``spool``, refusing it as soon as it passes the cap.

    The cap holds for the bytes on the wire as well as for the decoded ones, and the
    body is inflated here a bounded piece at a time: a stream of empty deflate blocks
    inflates to nothing, so a cap on decoded bytes alone would read it until the deadline.
    """
    cap, what = max_bytes, "image"
    head = None if cap_for is None else bytearray()  # None once the cap is decided
    if cap_for is not None:
        cap, what = max((cap, what), cap_for(None), key=lambda pair: pair[0])
    length = response.headers.get("Content-Length", "").strip()
    if length.isascii() and length.isdigit() and int(length) > cap:
        raise TooLarge(f"the {what} is larger than {cap} bytes")
    inflater = Inflater.for_encoding(response.headers.get("Content-Encoding", ""))
    raw_total = total = 0
    while True:
        try:
            raw = response.raw.read(min(READ_CHUNK, cap + 1 - raw_total), decode_content=False)
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, deadline) from None
        raw_total += len(raw)
        if raw_total > cap:
            raise TooLarge(f"the {what} is larger than {cap} bytes")
        for chunk in inflater.feed(raw, cap + 1 - total) if raw else inflater.finish():
            if head is not None and len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            total += len(chunk)
            spool.write(chunk)
            if head is not None and cap_for is not None and len(head) >= SNIFF_BYTES:
                cap, what = cap_for(bytes(head))
                head = None
            if total > cap or raw_total > cap:
                raise TooLarge(f"the {what} is larger than {cap} bytes")
        if not raw:
            if head is not None and cap_for is not None:  # a body shorter than SNIFF_BYTES
                cap, what = cap_for(bytes(head))
                if total > cap:
                    raise TooLarge(f"the {what} is larger than {cap} bytes")
            return
