"""Directory expansion (nsfw.batch.sources): images found by their bytes, links kept inside the tree."""

from __future__ import annotations

import os

from helpers import IMAGES

from nsfw.batch.sources import is_image, walk_images

JPEG = (IMAGES / "astronaut_640x480.jpg").read_bytes()
PNG = (IMAGES / "chelsea.png").read_bytes()


def test_images_are_found_by_their_bytes_not_their_extension(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(JPEG)
    (tmp_path / "really_a_png.txt").write_bytes(PNG)  # a wrong extension: kept
    (tmp_path / "notes.jpg").write_text("not an image")  # an image's extension: skipped
    (tmp_path / "empty.png").write_bytes(b"")
    assert list(walk_images(tmp_path)) == [str(tmp_path / "photo.jpg"), str(tmp_path / "really_a_png.txt")]
    assert is_image(tmp_path / "really_a_png.txt") and not is_image(tmp_path / "notes.jpg")
    assert not is_image(tmp_path / "missing.jpg")


def test_walks_subdirectories_in_a_stable_order_and_keeps_the_given_root(tmp_path, monkeypatch):
    for name in ("b/2.jpg", "a/z.jpg", "a/deeper/1.jpg", "0.jpg"):
        path = tmp_path / "root" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(JPEG)
    monkeypatch.chdir(tmp_path)
    assert list(walk_images("root")) == [
        os.path.join("root", "0.jpg"),
        os.path.join("root", "a", "z.jpg"),
        os.path.join("root", "a", "deeper", "1.jpg"),
        os.path.join("root", "b", "2.jpg"),
    ]


def test_a_symlink_leaving_the_tree_is_skipped_one_inside_is_kept(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(JPEG)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "photo.jpg").write_bytes(JPEG)
    (tree / "inside.jpg").symlink_to(tree / "sub" / "photo.jpg")
    (tree / "relative.jpg").symlink_to(os.path.join("sub", "photo.jpg"))
    (tree / "escape.jpg").symlink_to(outside / "secret.jpg")
    (tree / "escape_dir").symlink_to(outside, target_is_directory=True)
    (tree / "dangling.jpg").symlink_to(tmp_path / "nothing.jpg")
    (tree / "loop.jpg").symlink_to(tree / "loop.jpg")
    found = list(walk_images(tree))
    assert found == [str(tree / "inside.jpg"), str(tree / "relative.jpg"), str(tree / "sub" / "photo.jpg")]
