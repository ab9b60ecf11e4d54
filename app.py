"""gunicorn entry point: ``gunicorn app:app``."""

from nsfw import create_app

app = create_app()
