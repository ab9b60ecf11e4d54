"""What ``nsfw bulk`` reads and writes, through pyarrow (so from any filesystem it opens); no Ray.

The sources: a directory (``sources.walk_images``), a .txt list, a CSV or Parquet file with a
``url`` or ``path`` column, read by the driver into one list. The output: one Parquet or JSON
Lines file written as the rows arrive, or a Parquet directory the Ray workers write.
"""

from __future__ import annotations

import contextlib
import json
import os

from nsfw.batch import records
from nsfw.errors import UsageError

SOURCE = "source"  # the dataset's one column
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
SOURCE_COLUMNS = ("url", "path")  # the column of a CSV or Parquet input, in this order of preference


def list_sources(src: str) -> list:
    """Every source SRC names, in order (``UsageError`` for an input the command cannot use)."""
    from nsfw.batch.sources import walk_images

    filesystem, path = _filesystem(src)
    kind = filesystem.get_file_info(path).type.name
    lower = src.rstrip("/").lower()
    try:
        if lower.endswith(".parquet"):
            sources = _parquet_sources(src, filesystem, path)
        elif kind == "Directory":
            if "://" in src and not src.startswith("file://"):
                raise UsageError(f"{src}: only a local directory is listed; give a list of its files instead")
            sources = list(walk_images(path if "://" in src else src))
        elif kind == "NotFound":
            raise UsageError(f"{src}: no such file or directory")
        elif lower.endswith(".txt"):
            with filesystem.open_input_stream(path) as stream:
                text = stream.read().decode("utf-8", errors="replace")
            sources = [line.strip() for line in text.splitlines() if line.strip()]
        elif lower.endswith(".csv"):
            sources = _csv_sources(src, filesystem, path)
        else:
            raise UsageError(f"{src}: give a directory, a .txt, .csv or .parquet file")
    except OSError as exc:
        raise UsageError(f"{src}: {exc}") from None
    if not sources:
        raise UsageError(f"{src}: no images to classify")
    return sources


def _filesystem(src: str):
    import pyarrow.fs

    if "://" in src:
        try:
            return pyarrow.fs.FileSystem.from_uri(src)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{src}: {exc}") from None
    return pyarrow.fs.LocalFileSystem(), os.path.abspath(src)


def _csv_sources(src: str, filesystem, path: str) -> list:
    import csv
    import io

    with filesystem.open_input_stream(path) as stream:
        text = stream.read().decode("utf-8-sig", errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    names = [name.strip().lower() for name in rows[0]]
    column = next((name for name in SOURCE_COLUMNS if name in names), None)
    if column is not None:
        index = names.index(column)
        return [row[index].strip() if index < len(row) else "" for row in rows[1:]]
    if len(rows[0]) != 1:
        raise UsageError(f"{src}: no 'url' or 'path' column, and more than one column")
    return [row[0].strip() for row in rows]


def _parquet_sources(src: str, filesystem, path: str) -> list:
    import pyarrow.dataset

    try:
        dataset = pyarrow.dataset.dataset(path, filesystem=filesystem, format="parquet")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{src}: not readable as Parquet: {exc}") from None
    column = next((name for name in SOURCE_COLUMNS if name in dataset.schema.names), None)
    if column is None:
        raise UsageError(f"{src}: no 'url' or 'path' column (it has {', '.join(dataset.schema.names) or 'none'})")
    values = dataset.to_table(columns=[column]).column(column).to_pylist()
    return ["" if value is None else str(value) for value in values]


class Output:
    """Where the rows go: one file written here as they arrive, or a directory the workers write."""

    def __init__(self, dst: str, fmt: str, directory: bool):
        self.dst, self.format, self.directory = dst, fmt, directory

    @classmethod
    def parse(cls, dst: str, fmt: str | None) -> Output:
        filesystem, path = _filesystem(dst)
        info = filesystem.get_file_info(path)
        directory = dst.endswith("/") or info.type.name == "Directory"
        if fmt is None:
            lower = dst.rstrip("/").lower()
            if directory or lower.endswith(".parquet"):
                fmt = "parquet"
            elif lower.endswith(JSONL_SUFFIXES):
                fmt = "jsonl"
            else:
                raise UsageError(f"--output {dst}: end it in .parquet, .jsonl or /, or give --format")
        if directory:
            if fmt != "parquet":
                raise UsageError(f"--output {dst}: a directory output is Parquet; JSON Lines goes to one file")
            if info.type.name == "Directory" and filesystem.get_file_info(_selector(path)):
                raise UsageError(f"--output {dst}: the directory is not empty")
        else:
            parent = filesystem.get_file_info(os.path.dirname(path.rstrip("/")) or "/")
            if "://" not in dst and parent.type.name != "Directory":
                raise UsageError(f"--output {dst}: {os.path.dirname(path)} is not a directory")
        return cls(dst, fmt, directory)

    def write(self, dataset) -> tuple[int, int]:
        """Run the job; (rows, failed rows)."""
        if self.directory:
            return self._write_directory(dataset)
        filesystem, path = _filesystem(self.dst)
        total = failed = 0
        with filesystem.open_output_stream(path) as stream, self._writer(stream) as write:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                total += batch.num_rows
                failed += batch.num_rows - batch.column("error_code").null_count
                write(batch)
        return total, failed

    @contextlib.contextmanager
    def _writer(self, stream):
        if self.format == "parquet":
            import pyarrow.parquet

            with pyarrow.parquet.ParquetWriter(stream, records.arrow_schema()) as writer:
                yield writer.write_table
            return

        def write(batch):
            lines = (json.dumps(records.unflat(row)) + "\n" for row in batch.to_pylist())
            stream.write("".join(lines).encode())

        yield write

    def _write_directory(self, dataset) -> tuple[int, int]:
        import pyarrow.dataset

        # a write task needs no CPU of its own: the actors may hold every one
        dataset.write_parquet(self.dst, ray_remote_args={"num_cpus": 0})
        filesystem, path = _filesystem(self.dst)
        written = pyarrow.dataset.dataset(path, filesystem=filesystem, format="parquet")
        table = written.to_table(columns=["error_code"])
        return table.num_rows, table.num_rows - table.column("error_code").null_count


def _selector(path: str):
    import pyarrow.fs

    return pyarrow.fs.FileSelector(path, recursive=False)
