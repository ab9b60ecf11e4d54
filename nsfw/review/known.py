"""Each worker's matcher of known content: decided items and hash lists, in memory, kept fresh.

The Detector consults it (``nsfw.pipeline.Matcher``) for every image, so it never touches the
database on the request path: three immutable indexes (``nsfw.known.index.HashIndex``) answer in
about a millisecond at 1,000,000 hashes, and a thread of this worker reloads one when the database
says it changed. That thread reads the two rows of ``known_versions`` every NSFW_MATCH_REFRESH_S
(one indexed query; every decision and every list change raises them in its own transaction), so
every worker of every instance sharing the database sees a change within that interval.

Precedence, as ``nsfw.web.api.v1`` applies it: ``reject`` lists (``rejected``, before inference),
review decisions (the exact bytes first, then the nearest decided near-duplicate), other lists.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
from sqlalchemy.engine import Engine

from nsfw.imaging.pdq import Pdq
from nsfw.known.index import HashIndex, codes_from_hex
from nsfw.known.match import Match
from nsfw.pipeline import Matcher
from nsfw.review.hashlists import HashLists, versions
from nsfw.review.store import ReviewStore

log = logging.getLogger(__name__)
MIN_QUALITY = 50  # PDQ's authors discard hashes below this (a flat colour scores 0); they match nothing
FIRST_LOAD_WAIT_S = 5.0  # the first request of a worker waits this long, at most, for the first load


VERDICTS = ("adult", "safe", "reject")


@dataclasses.dataclass(frozen=True)
class _Part:
    """One index and what each of its rows stands for, in 3 bytes a row beside the index's 96."""

    index: HashIndex
    verdicts: np.ndarray  # uint8 per row: the decision or the list's action, as a VERDICTS position
    labels: np.ndarray  # per row: the review item id, or the list's position in ``names``
    names: tuple = ()  # the lists' names


_EMPTY = _Part(HashIndex(np.zeros((0, 32), np.uint8)), np.zeros(0, np.uint8), np.zeros(0, np.int64))


class KnownContent(Matcher):
    """Decisions and lists for the Detector; ``refresh`` (tests, the thread) reloads what changed."""

    def __init__(self, store: ReviewStore, distance: int = 31, refresh_s: float = 5.0, min_quality: int = MIN_QUALITY):
        self.store = store
        self.lists = HashLists(store.engine)
        self.distance = distance
        self.min_quality = min_quality
        self.refresh_s = refresh_s
        self._decisions = self._reject = self._others = _EMPTY
        self._seen: dict[str, int] = {}
        self._loaded = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, store: ReviewStore) -> KnownContent:
        return cls(store, settings.match_distance, settings.match_refresh_s)

    @property
    def engine(self) -> Engine:
        return self.store.engine

    # --- the request side (nsfw.pipeline.Matcher) -------------------------------------
    def rejected(self, pdq: Pdq) -> Match | None:
        return self._find(self._ready()._reject, pdq, "list")

    def match(self, pdq: Pdq) -> Match | None:
        """The nearest decided item within reach, or else the nearest ``adult``/``safe`` list entry."""
        ready = self._ready()
        return self._find(ready._decisions, pdq, "review") or self._find(ready._others, pdq, "list")

    def _find(self, part: _Part, pdq: Pdq, source: str) -> Match | None:
        if pdq.quality < self.min_quality or not len(part.index):
            return None
        query = np.frombuffer(bytes.fromhex(pdq.hash), dtype=np.uint8)
        rows, found = part.index.search(query, self.distance)
        if not len(rows):
            return None
        row, distance = int(rows[0]), int(found[0])
        verdict, label = VERDICTS[part.verdicts[row]], int(part.labels[row])
        if source == "review":
            return Match("review", verdict, distance, item=label)
        return Match("list", verdict, distance, list=part.names[label])

    def _ready(self) -> KnownContent:
        """Start the refresh thread on first use (after the fork) and wait, once, for the first load."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="nsfw-known", daemon=True)
                    self._thread.start()
        if not self._loaded.is_set():
            self._loaded.wait(FIRST_LOAD_WAIT_S)
        return self

    # --- the refresh side ----------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload what changed since the last look; True when something was reloaded."""
        now = versions(self.engine)
        changed = False
        if now.get("decisions") != self._seen.get("decisions") or "decisions" not in self._seen:
            self._decisions = self._load_decisions()
            changed = True
        if now.get("lists") != self._seen.get("lists") or "lists" not in self._seen:
            self._reject, self._others = self._load_lists()
            changed = True
        self._seen = now
        self._loaded.set()
        return changed

    def _load_decisions(self) -> _Part:
        rows = self.store.decided_hashes(self.min_quality)
        if not rows:
            return _EMPTY
        ids, hexes, decisions = zip(*rows, strict=True)
        index = HashIndex(codes_from_hex(list(hexes)))
        verdicts = np.array([VERDICTS.index(d) for d in decisions], dtype=np.uint8)
        return _Part(index, verdicts, np.array(ids, dtype=np.int64))

    def _load_lists(self) -> tuple[_Part, _Part]:
        return self._list_part(reject=True), self._list_part(reject=False)

    def _list_part(self, reject: bool) -> _Part:
        hexes, radii, names, labels = self.lists.loaded(reject, self.min_quality)
        if not hexes:
            return _EMPTY
        actions = self.lists.actions()
        per_list = np.array([VERDICTS.index(actions[name]) for name in names], dtype=np.uint8)
        index = HashIndex(codes_from_hex(hexes), radii)
        return _Part(index, per_list[labels], labels.astype(np.uint32), tuple(names))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.refresh():
                    log.info(
                        "known content loaded: %d decided hashes, %d reject-listed, %d other listed",
                        len(self._decisions.index),
                        len(self._reject.index),
                        len(self._others.index),
                    )
            except Exception as exc:
                log.warning("known content: the database could not be read (%s: %s)", type(exc).__name__, exc)
                self._loaded.set()  # requests go on with what was loaded, or nothing
            self._stop.wait(self.refresh_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
