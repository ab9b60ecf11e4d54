"""LiteRT's start-up INFO line stays off stderr; everything else written there gets through."""

from __future__ import annotations

import os

from nsfw.models.runner import _without_litert_info


def test_only_litert_info_lines_are_held_back(capfd):
    with _without_litert_info():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: a real failure from the native library\n")
        os.write(2, b"INFO: another info line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "ERROR: a real failure from the native library\nafter\n"


def test_stderr_is_restored_when_creation_fails(capfd):
    try:
        with _without_litert_info():
            os.write(2, b"ERROR: cannot open the model\n")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    os.write(2, b"still stderr\n")
    assert capfd.readouterr().err == "ERROR: cannot open the model\nstill stderr\n"
