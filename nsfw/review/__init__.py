"""The review queue (issue 13): people decide the images the model could not, and the service remembers.

A stage after ``verdict``: it never imports the web layer. ``tables`` and ``schema`` (with the
Alembic migrations in ``migrations/``) hold the database; ``store.ReviewStore`` is the queue;
``reviewers`` the tokens of the people who decide; ``thumbnails`` makes the small JPEG a reviewer
sees from the model's own input; ``service.Review`` ties them to a running service (queueing in a
background thread, retention, the webhook of ``webhook``).
"""
