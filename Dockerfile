# Serving image: LiteRT + Flask + gunicorn; no TensorFlow, no build tools.

# pdqhash (Meta's reference C++ PDQ, the perceptual hash) is published as source only: this stage
# compiles its wheel with g++, the serving stage installs that wheel, and no compiler reaches the image.
FROM python:3.11-slim-bookworm AS pdqhash
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*
COPY requirements.txt ./
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels $(grep -E '^pdqhash==' requirements.txt)

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080

WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
COPY --from=pdqhash /wheels /wheels
# The serving requirements (pdqhash from the wheel built above) and, at the versions the tests ran
# with, the `video` extra (PyAV, FFmpeg inside) and the review queue's database (SQLAlchemy, Alembic,
# and psycopg for a queue shared by several instances); not matplotlib, which only draws the
# calibration plot
RUN pip install --find-links /wheels --only-binary pdqhash -r requirements.txt \
    $(grep -E '^(av|psycopg\[binary\]|SQLAlchemy|alembic|Mako)==' requirements-dev.txt) \
    && rm -rf /wheels

# The model is baked in: nothing is downloaded at run time.
COPY model/manifest.json model/mobilenet_v2.tflite model/mobilenet_v2_mid.tflite model/LICENSE.nsfwjs model/README.md model/
COPY nsfw/ nsfw/
COPY app.py gunicorn.conf.py LICENSE ./

# A numeric USER: Kubernetes' runAsNonRoot can only verify a number (deploy/kubernetes uses 10001).
RUN groupadd --system --gid 10001 nsfw && useradd --system --uid 10001 --gid 10001 --no-create-home nsfw
# The review queue's SQLite file (NSFW_REVIEW, off by default): mount a volume here to keep it.
RUN mkdir /data && chown 10001:10001 /data
ENV NSFW_DATA_DIR=/data
USER 10001:10001

EXPOSE 8080
# Python is already in the image, so the check needs no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]

# WEB_CONCURRENCY is left unset: one worker per CPU of the container's CPU quota (cgroup),
# not of the host. SIGTERM (docker stop, Kubernetes) lets requests in progress finish
# within NSFW_GRACEFUL_TIMEOUT; give docker stop a longer --time than that.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "app:app"]
