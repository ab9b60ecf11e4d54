"""The reviewer's thumbnail: a small JPEG made from the model's own input, never from the upload.

The decoded image never leaves its sandboxed decoder process; what comes back is the model input,
the picture stretched to a 224 px square exactly as the model saw it. That is the right thing to
show a reviewer (what the model judged), it is larger than the thumbnail, and it costs no change to
the sandbox and nothing when review is off. The stretch is undone from the image's own size, so the
thumbnail has the picture's proportions.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIZE = 160  # the longer side, in pixels
QUALITY = 80


def from_model_input(tensor: np.ndarray, width: int, height: int, size: int = SIZE) -> bytes:
    """A JPEG, ``size`` px on its longer side, from a (1, n, n, 3) float tensor in [0, 1] of a width x height image."""
    pixels = np.asarray(tensor, dtype=np.float32).reshape(tensor.shape[-3:])
    rgb = np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
    longer = max(1, width, height)
    target = (max(1, round(size * width / longer)), max(1, round(size * height / longer)))
    image = Image.fromarray(rgb, "RGB").resize(target, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
