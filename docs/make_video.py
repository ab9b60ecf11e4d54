"""Make an example video from still images, for trying the video API (needs the `video` extra).

    python docs/make_video.py clip.mp4 tests/data/images/chelsea.png tests/data/images/drawing_flat.png

Each image is shown for SECONDS (default 2) in turn, at 25 frames a second, as H.264 in an MP4
(or VP9 in a WebM when the output ends in .webm); every image is scaled to the first one's size.
"""

from __future__ import annotations

import argparse

import av
import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="the video to write: .mp4 (H.264) or .webm (VP9)")
    parser.add_argument("images", nargs="+", help="still images, shown in turn")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each image is shown")
    args = parser.parse_args()
    stills = [Image.open(path).convert("RGB") for path in args.images]
    width, height = (side - side % 2 for side in stills[0].size)  # 4:2:0 wants even sides
    webm = args.output.endswith(".webm")
    with av.open(args.output, "w") as out:
        stream = out.add_stream("libvpx-vp9" if webm else "libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for still in stills:
            frame = av.VideoFrame.from_ndarray(np.asarray(still.resize((width, height))), format="rgb24")
            for _ in range(round(args.seconds * 25)):
                out.mux(stream.encode(frame))
        out.mux(stream.encode())
    print(f"{args.output}: {len(stills) * args.seconds:g} s, {width}x{height}")


if __name__ == "__main__":
    main()
