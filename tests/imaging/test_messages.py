"""The worker-decoder messages over a real pipe: one write each way, any size, and no second message."""

from __future__ import annotations

import os
import threading
import time

import pytest

from nsfw.imaging.decoder import read_message, write_message
from nsfw.imaging.sandbox import PIPE_BYTES, _widen


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
    yield reader, writer
    reader.close()
    writer.close()


@pytest.mark.parametrize("size", [0, 1, 16 * 1024 - 40, 16 * 1024, 70_000, 3 * 1024 * 1024 + 7])
def test_a_message_arrives_whole_whatever_its_size(pipe, size):
    reader, writer = pipe
    payload = os.urandom(size)
    # a payload larger than the pipe holds needs the reader running while it is written
    sender = threading.Thread(target=write_message, args=(writer, {"size": 224, "name": "é"}, payload))
    sender.start()
    header, got = read_message(reader, time.monotonic() + 10)
    sender.join()
    assert header == {"size": 224, "name": "é"}
    assert got == payload


def test_a_widened_pipe_takes_an_ordinary_upload_without_a_reader(pipe):
    reader, writer = pipe
    _widen(writer)
    payload = os.urandom(PIPE_BYTES // 2)
    write_message(writer, {"size": 224}, payload)  # would block forever on a 64 KB pipe
    assert read_message(reader)[1] == payload


def test_bytes_after_the_message_break_the_protocol(pipe):
    reader, writer = pipe
    write_message(writer, {"frames": 1})
    writer.write(b"\x00\x00\x00\x02")  # a subverted decoder writes more than it was asked for
    writer.flush()
    with pytest.raises(ValueError):
        read_message(reader, time.monotonic() + 5)


def test_a_silent_peer_times_out_and_a_closed_one_is_eof(pipe):
    reader, writer = pipe
    with pytest.raises(TimeoutError):
        read_message(reader, time.monotonic() + 0.05)
    writer.write(b"\x00\x00")  # half a length field, then gone
    writer.close()
    with pytest.raises(EOFError):
        read_message(reader, time.monotonic() + 5)
