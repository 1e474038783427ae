"""Celery bound to the Flask app, after the pattern in pallets/flask examples/celery."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        # Tasks use the database and config, so each runs inside the app context.
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def enqueue(task: Task, *args: Any) -> bool:
    """Queue `task` after a commit. The write is already durable, so a broker that is down must not turn it into
    an error (a client retry would duplicate it): log, and let the readers' MySQL fallback cover the gap."""
    try:
        task.delay(*args)
    except OperationalError as error:
        log.warning("broker unavailable, %s%r not queued: %s", task.name, args, error)
        return False
    return True
