"""``nsfw bulk``'s work on Ray Data: the dataset mapped through actors, each a loaded Detector.

``classify`` runs in the driver and only describes the work; ``Classifier`` is what each Ray
actor holds (a Detector, a few threads, the records' Arrow schema), so it is the only code of
``nsfw bulk`` that runs on the cluster's workers.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from nsfw.batch import records
from nsfw.batch.bulk_io import SOURCE
from nsfw.batch.inputs import is_url
from nsfw.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_BATCH_SIZE = 32  # sources an actor takes at a time (nsfw bulk --batch-size)


def classify(dataset, model=None, batch_size=DEFAULT_BATCH_SIZE, concurrency=None, num_cpus=1.0):
    """``dataset`` (a ``source`` column) mapped to one ``records.COLUMNS`` row per source."""
    import ray
    from ray.data import ActorPoolStrategy

    if concurrency is None:
        cpus = ray.cluster_resources().get("CPU", 1.0)
        concurrency = max(1, int(cpus // num_cpus))
    if hasattr(dataset, "num_blocks"):  # an actor more than there are blocks would only sit idle
        concurrency = max(1, min(concurrency, dataset.num_blocks()))
    # the actors read their settings where they run: the NSFW_* variables travel with them
    env_vars = {name: value for name, value in os.environ.items() if name.startswith("NSFW_")}
    return dataset.map_batches(
        Classifier,
        # relative paths are the driver's: an actor's working directory is Ray's
        fn_constructor_kwargs={"model": model, "base": os.getcwd()},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        runtime_env={"env_vars": env_vars},
    )


class Classifier:
    """One Ray actor's worth of the service: a loaded Detector and a few threads to keep it busy.

    NSFW_BATCH_CONCURRENCY sources of a batch are in flight at once, so downloads overlap
    with decoding (in NSFW_DECODERS decoder processes) and inference. Every source gets its
    own deadline (NSFW_REQUEST_TIMEOUT) when its turn comes, not one for the batch.
    """

    def __init__(self, model: str | None = None, base: str | None = None):
        from nsfw.pipeline import Detector
        from nsfw.verdict import Thresholds

        settings = Settings.from_env()
        self.model, self.base = model, base or os.getcwd()
        self.thresholds = Thresholds(adult=settings.adult_threshold, safe=settings.safe_threshold)
        self.detector = Detector(settings)
        self.detector.load()
        # never more in flight than the Detector admits (downloads; decoders + their queue):
        # a bulk job must not turn its own concurrency into `overloaded` rows
        admitted = min(settings.max_downloads, settings.decoders + settings.queue_depth)
        self.threads = ThreadPoolExecutor(min(settings.batch_concurrency, admitted), thread_name_prefix="nsfw-bulk")
        self.schema = records.arrow_schema()

    def __call__(self, batch):
        import pyarrow as pa

        sources = batch.column(SOURCE).to_pylist()
        rows = list(self.threads.map(self.one, sources))
        return pa.Table.from_pylist(rows, schema=self.schema)

    def one(self, source) -> dict:
        from nsfw.errors import MissingURL, ServiceError

        source = (source or "").strip() if isinstance(source, str) or source is None else str(source)
        try:
            if not source:
                raise MissingURL("an empty source")
            record = records.success(source, self.classify(source), self.thresholds)
        except (ServiceError, OSError) as exc:
            record = records.from_error(source, exc) if is_url(source) else records.from_file_error(source, exc)
        except ValueError as exc:  # pyarrow: a URI no filesystem understands
            record = records.from_file_error(source, OSError(str(exc)))
        except Exception:  # a bug must cost one row, not the job
            log.exception("unexpected error classifying %s", source)
            record = records.from_error(source, ServiceError())
        return records.flat(record)

    def classify(self, source: str):
        if source.startswith(("http://", "https://")):
            return self.detector.classify_url(source, self.model)
        if "://" in source:  # s3://, gs://, hdfs://, file://: whatever pyarrow can open
            import pyarrow.fs

            filesystem, path = pyarrow.fs.FileSystem.from_uri(source)
            with filesystem.open_input_stream(path) as stream:
                return self.detector.classify_bytes(stream.read(), self.model)
        with open(os.path.join(self.base, source), "rb") as fh:
            return self.detector.classify_bytes(fh, self.model)

    def __del__(self):
        detector = getattr(self, "detector", None)
        if detector is not None:
            detector.close()
