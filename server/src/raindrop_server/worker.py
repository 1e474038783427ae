"""Celery entry point: celery -A raindrop_server.worker:celery worker."""

from raindrop_server.factory import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
