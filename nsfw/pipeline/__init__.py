"""The core: url or image bytes in, scores out.

This is the library API the HTTP layer, the CLI and batch runs share: a :class:`Detector` per
worker process (``detector.py``), the :class:`Classification` it answers and its two extension
points, :class:`Observer` and :class:`Matcher` (``interface.py``). Beside them: the model's side of
a call (``inference.py``), the video path (``video.py``) and the result cache's encoding
(``cached.py``). Data flows one way: fetch -> decode -> preprocess -> model; nothing here knows
about Flask.
"""

from nsfw.pipeline.detector import Detector
from nsfw.pipeline.interface import Classification, Matcher, Observer
from nsfw.pipeline.video import require_video

__all__ = ["Classification", "Detector", "Matcher", "Observer", "require_video"]
