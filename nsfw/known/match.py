"""What a match of known content answers: where the hash was found, how far, and the verdict it gives."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Match:
    """A hash within reach of a decided review item (``source`` "review") or of a list entry ("list").

    ``verdict`` is the decision or the list's action (``adult``, ``safe`` or ``reject``).
    """

    source: str
    verdict: str
    distance: int
    item: int | None = None  # the review item whose decision this follows
    list: str | None = None  # the hash list's name

    def to_dict(self) -> dict[str, str | int]:
        """The answer's ``match``: ``{"source", "item" | "list", "distance"}``."""
        found: dict[str, str | int] = {"source": self.source}
        if self.item is not None:
            found["item"] = self.item
        if self.list is not None:
            found["list"] = self.list
        found["distance"] = self.distance
        return found
