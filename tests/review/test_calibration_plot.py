"""nsfw.review.calibration_plot: a bounded PNG, drawn once per data version, optional, and safe on a read-only root."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nsfw.errors import PlotUnavailable
from nsfw.review import calibration_plot
from nsfw.review.calibration import Decided, calibrate
from nsfw.verdict import Thresholds

NOW = Thresholds(adult=0.8, safe=0.2)
ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 200_000


def spread(n_adult: int, n_safe: int) -> list[Decided]:
    adult = [Decided(0.4 + 0.6 * (i % 97) / 97, "adult") for i in range(n_adult)]
    safe = [Decided(0.6 * (i % 89) / 89, "safe") for i in range(n_safe)]
    return adult + safe


@pytest.mark.parametrize("n_adult, n_safe", [(0, 0), (2, 1), (60, 60), (5000, 5000)])
def test_the_plot_is_a_png_of_one_size_whatever_the_data(n_adult, n_safe):
    result = calibrate(spread(n_adult, n_safe), NOW)
    data = calibration_plot.png(result)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size == (int(calibration_plot.SIZE[0] * calibration_plot.DPI), 560)
    assert len(data) < MAX_BYTES


def test_an_unchanged_calibration_is_drawn_once_and_the_cache_is_bounded():
    first = calibrate(spread(30, 30), NOW)
    data = calibration_plot.png(first)
    again = calibrate(spread(30, 30), NOW)  # a new object, the same data: the same version
    assert again.version == first.version
    assert calibration_plot.png(again) is data
    for target in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.99, 1.0):
        calibration_plot.png(calibrate(spread(30, 30), NOW, target))
    assert len(calibration_plot._cache) == calibration_plot.CACHED
    assert first.version not in calibration_plot._cache


def test_without_matplotlib_the_plot_is_unavailable_and_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what Python does for a package that is not there
    assert calibration_plot.available() is False
    with pytest.raises(PlotUnavailable) as caught:
        calibration_plot.png(calibrate(spread(20, 20), NOW, 0.93))
    assert caught.value.status == 501 and caught.value.code == "plot_unavailable"
    assert "pip install '.[review]'" in caught.value.message


DRAW = """
import os, sys
from nsfw.review import calibration_plot
from nsfw.review.calibration import Decided, calibrate
from nsfw.verdict import Thresholds
data = calibration_plot.png(calibrate([Decided(0.9, "adult")] * 10 + [Decided(0.1, "safe")] * 10, Thresholds(0.8, 0.2)))
print(os.environ["MPLCONFIGDIR"])
print(len(data))
"""


def test_with_no_writable_home_matplotlib_uses_a_private_directory_removed_at_exit(tmp_path):
    """A read-only root: HOME and the XDG directories cannot be written; nothing is left behind either."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env.update(HOME="/nonexistent", PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", DRAW], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    directory, size = done.stdout.split()
    assert Path(directory).parent == tmp_path and int(size) > 0
    assert "Matplotlib created a temporary" not in done.stderr and "not a writable directory" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "the matplotlib directory outlived the process"
