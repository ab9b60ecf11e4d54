"""One decoder process as the worker sees it: its pipes, the shared memory its replies go into, and
why it ended. ``sandbox.DecoderPool`` decides which image it gets; ``wire`` checks what it answers."""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import sys
from typing import IO

import numpy as np

from nsfw.errors import (
    CorruptImage,
    CorruptVideo,
    DeadlineExceeded,
    ImageTooComplex,
    ImageTooLarge,
    ServiceError,
    VideoTooComplex,
    VideoTooLarge,
)
from nsfw.imaging.wire import (
    Header,
    OnFrame,
    Prepared,
    image_prepared,
    image_reply,
    parse_pdq,
    read_message,
    reported_error,
    video_prepared,
    write_message,
)

# glibc's heap settings for decoders (why: see DecoderProcess.__init__); bench/floor.py times the
# exact stages under the same ones.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(8 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(32 * 1024 * 1024)}
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DecoderProcess:
    """One decoder process, its pipes and the shared memory its replies go into; one user at a time."""

    def __init__(self, config: str):
        # Its configuration comes on the command line: no NSFW_* variable is passed on, so the secrets
        # among them (NSFW_SECRET_KEY, the webhook secret, the metrics token, passwords in the database
        # and Redis URLs) never reach the process that parses strangers' bytes.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSFW_")}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        # glibc's default gives each preprocessing temporary (a few MB) fresh pages from the
        # kernel and hands them back at once: page faults made up 60% of preprocessing
        # (4.1 ms of 6.2 for a 640x480 JPEG). Buffers up to 8 MB now come from the heap, which
        # keeps up to 32 MB free for the next image; image-sized buffers are still mapped and
        # returned whole, so the heap cannot grow past what RLIMIT_DATA allows.
        env.update(MALLOC_ENV)
        # the decoder imports this very package, wherever the worker found it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_PARENT, env.get("PYTHONPATH"))))
        self.shared_fd = os.memfd_create("nsfw-decoder", os.MFD_CLOEXEC)
        self.shared: mmap.mmap | None = None
        self.killed = False
        self.ended: str | None = None  # why it ended, once it has (see nsfw.pipeline.Observer.decoder)
        config = json.dumps({**json.loads(config), "shared_fd": self.shared_fd})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nsfw.imaging.decoder", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            pass_fds=(self.shared_fd,),
        )
        if self.proc.stdin is None or self.proc.stdout is None:  # never: both are pipes
            raise RuntimeError("the decoder was started without pipes")
        self._stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.killed:
            return
        self.killed = True
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for pipe in (self._stdin, self._stdout):
            pipe.close()
        if self.shared is not None:
            self.shared.close()
        os.close(self.shared_fd)

    def run(
        self, data: bytes, size: int, deadline: float, max_frames: int, on_frame: OnFrame | None = None
    ) -> Prepared:
        shared = self._shared_memory(max_frames * size * size * 3 * 4)
        header, frames_seen = self._exchange(data, size, deadline, shared, on_frame)
        if "error" in header:
            raise reported_error(header["error"])
        if isinstance(header.get("video"), dict):
            return video_prepared(header, frames_seen)
        try:
            frames, frame_hashes = image_reply(header, size, max_frames)
        except (ValueError, CorruptImage):
            self.ended = "crashed"
            self.kill()
            raise CorruptImage("the decoder answered nonsense") from None
        # copied out: the next image's reply overwrites this memory
        tensors = np.frombuffer(shared, np.float32, count=frames * size * size * 3).copy()
        return image_prepared(header, tuple(tensors.reshape(frames, 1, size, size, 3)), frame_hashes)

    def _shared_memory(self, need: int) -> mmap.mmap:
        """The shared memory the replies go into, grown to ``need`` bytes if it is smaller."""
        if self.shared is None or len(self.shared) < need:
            os.ftruncate(self.shared_fd, need)
            if self.shared is not None:
                self.shared.close()
            self.shared = mmap.mmap(self.shared_fd, need, prot=mmap.PROT_READ)
        return self.shared

    def _exchange(
        self, data: bytes, size: int, deadline: float, shared: mmap.mmap, on_frame: OnFrame | None
    ) -> tuple[Header, int]:
        """Send the image and take the decoder's replies up to its last: a video's frames are handed to
        ``on_frame`` one by one. The final reply and how many video frames came before it."""
        frames_seen = 0
        try:
            write_message(self._stdin, {"size": size, "shared_bytes": len(shared)}, data)
            header, _ = read_message(self._stdout, deadline)
            while "frame" in header:  # a video's next frame, in the first slot of the shared memory
                pdq = parse_pdq(header.get("pdq"), CorruptVideo)
                if header.get("size") != size or header.get("frame") != frames_seen:
                    raise CorruptVideo("the decoder answered nonsense")
                frames_seen += 1
                # copied out at once: no view of the shared memory may outlive this line
                tensor = np.frombuffer(shared, np.float32, count=size * size * 3).reshape(1, size, size, 3).copy()
                go_on = on_frame is None or on_frame(tensor, float(header.get("t", 0.0)), pdq)
                write_message(self._stdin, {"continue": bool(go_on)})
                header, _ = read_message(self._stdout, deadline)
        except TimeoutError:
            self.ended = "deadline"
            self.kill()
            raise DeadlineExceeded("the image was not decoded before the request's deadline") from None
        except (EOFError, OSError, ValueError):
            self.kill()
            raise self._death(video=frames_seen > 0 or _is_video(data)) from None
        except BaseException:  # inference failed or missed the deadline mid-video: the decoder waits on us
            self.ended = self.ended or "abandoned"
            self.kill()
            raise
        return header, frames_seen

    def _death(self, video: bool = False) -> ServiceError:
        code = self.proc.returncode
        self.ended = "crashed"
        if code in (-signal.SIGPROF, -signal.SIGXCPU):
            self.ended = "cpu"
            return VideoTooComplex() if video else ImageTooComplex()
        if code == -signal.SIGKILL:  # the kernel's OOM killer; RLIMIT_DATA should have come first
            self.ended = "memory"
            what = "video" if video else "image"
            return (VideoTooLarge if video else ImageTooLarge)(
                f"decoding the {what} needs more memory than this service allows"
            )
        if video:
            return CorruptVideo("the decoder failed on this video")
        return CorruptImage("the decoder failed on this image")


def _is_video(data: bytes) -> bool:
    from nsfw.imaging.video_headers import HEAD_BYTES, sniff

    return sniff(data[:HEAD_BYTES]) is not None
