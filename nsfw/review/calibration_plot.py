"""The calibration drawn as one PNG a person reads at a glance (matplotlib, the ``review`` extra).

Top: for each threshold, the precision of the automatic adult and safe verdicts (solid) and the
share of decided items each would decide by itself (dashed), the target precision, the current
thresholds (grey, dotted) and the suggested ones (solid), with the band left for review shaded.
Bottom: where the decided items lie, by decision. Rendered on the server with the Agg backend
(no display, no pyplot state: a Figure per call) at a fixed size, so an answer is bounded
(about 60 KB) whatever the number of decisions; the last few are kept per process by
:attr:`Calibration.version`, so an unchanged queue is drawn once.

matplotlib is optional (about 45 MB; the 'review' extra, ``pip install '.[review]'`` from a clone): without it
:func:`available` is False and the page shows the numbers without the picture. Its cache and
config directory is a private temporary directory, removed at exit, unless MPLCONFIGDIR is set,
so a read-only root file system works.
"""

from __future__ import annotations

import atexit
import collections
import io
import os
import shutil
import tempfile
import threading

import numpy as np

from nsfw.errors import PlotUnavailable
from nsfw.review.calibration_result import THRESHOLDS, Calibration
from nsfw.verdict import Verdict

EXTRA = "review"  # the extra that brings matplotlib
SIZE = (10.0, 5.6)  # inches, at DPI: 1000 x 560 pixels
DPI = 100
CACHED = 8  # plots kept per process, by calibration version
ADULT, SAFE, MUTED = "#b3261e", "#1e7a34", "#5a6270"

_lock = threading.Lock()  # matplotlib's font and text caches are not made for concurrent drawing
_cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()


def available() -> bool:
    try:
        _matplotlib()
    except ImportError:
        return False
    return True


def _matplotlib():
    """The two classes drawing needs; an ImportError when the ``review`` extra is not installed."""
    if "MPLCONFIGDIR" not in os.environ:  # before matplotlib's first import, which reads it
        path = tempfile.mkdtemp(prefix="nsfw-matplotlib-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["MPLCONFIGDIR"] = path
    import matplotlib  # noqa: F401  # first, so a missing package fails here whatever is cached
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


def png(calibration: Calibration) -> bytes:
    """The plot as PNG bytes; raises :class:`PlotUnavailable` without matplotlib."""
    try:
        Figure, FigureCanvasAgg = _matplotlib()
    except ImportError:
        raise PlotUnavailable() from None
    with _lock:
        cached = _cache.get(calibration.version)
        if cached is not None:
            _cache.move_to_end(calibration.version)
            return cached
        data = _draw(calibration, Figure, FigureCanvasAgg)
        _cache[calibration.version] = data
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
        return data


def _draw(c: Calibration, Figure, FigureCanvasAgg) -> bytes:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    title = f"{c.decided} decided items ({c.adult} adult, {c.safe} safe), target precision {c.target:g}"
    figure.suptitle(title, fontsize=11)

    top.plot(THRESHOLDS, c.precision(Verdict.ADULT), color=ADULT, lw=2, label="adult calls right (nsfw ≥ t)")
    top.plot(THRESHOLDS, c.precision(Verdict.SAFE), color=SAFE, lw=2, label="safe calls right (nsfw ≤ t)")
    top.plot(THRESHOLDS, c.coverage(Verdict.ADULT), color=ADULT, lw=1.2, ls="--", label="share called adult")
    top.plot(THRESHOLDS, c.coverage(Verdict.SAFE), color=SAFE, lw=1.2, ls="--", label="share called safe")
    top.axhline(c.target, color="black", lw=0.8, ls=(0, (1, 3)), label=f"target precision {c.target:g}")

    def mark(value, colour, style, label):
        top.axvline(value, color=colour, lw=1.5 if style == "-" else 1, ls=style, label=label)
        bottom.axvline(value, color=colour, lw=1.5 if style == "-" else 1, ls=style)

    cur, sug = c.current, c.suggested
    mark(cur.safe_threshold, MUTED, ":", f"now: safe {cur.safe_threshold:g}, adult {cur.adult_threshold:g}")
    mark(cur.adult_threshold, MUTED, ":", None)
    if sug is not None:
        low = sug.safe_threshold if sug.safe_threshold is not None else 0.0
        high = sug.adult_threshold if sug.adult_threshold is not None else 1.0
        if sug.safe_threshold is not None:
            mark(sug.safe_threshold, SAFE, "-", f"suggested safe {sug.safe_threshold:g}")
        if sug.adult_threshold is not None:
            mark(sug.adult_threshold, ADULT, "-", f"suggested adult {sug.adult_threshold:g}")
        top.axvspan(low, high, color=MUTED, alpha=0.12, lw=0, label=f"left for review: {sug.review} (now {cur.review})")
    top.set_ylim(-0.02, 1.02)
    top.set_ylabel("share")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)

    bins = np.linspace(0.0, 1.0, 51)
    bottom.hist(
        [c.scores[c.is_adult], c.scores[~c.is_adult]],
        bins=bins,
        stacked=True,
        color=[ADULT, SAFE],
        label=["decided adult", "decided safe"],
    )
    bottom.set_xlim(0.0, 1.0)
    bottom.set_xlabel("threshold t on nsfw = porn + hentai + sexy")
    bottom.set_ylabel("items")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
