"""Celery entry point: celery -A raindrop_server.worker:celery worker."""

import gc
import logging
from typing import Any

from celery.signals import celeryd_after_setup

from raindrop_server.factory import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
log = logging.getLogger(__name__)


# Why the worker freezes what it loaded, as each gunicorn worker does (gunicorn.conf.py says more): a full
# (generation 2) collection walks every tracked object, the loaded app's included, and pauses every task meanwhile.
# Measured on the bench host, one fan-out to 5,000 followers in eight had a full collection in the middle of its
# followers query: that query took 127 ms instead of 8-15, and the live `feed:new` waited for it.
# `celeryd_after_setup` is sent once, in the main process, with the app finalized and logging set up, before the
# pool starts: that process runs the tasks of the gevent, threads and solo pools, and the prefork pool's children
# inherit its frozen objects when they fork.
def freeze_loaded_app(**_signal: Any) -> None:
    gc.freeze()
    log.info("raindrop: the worker froze %d objects of the loaded app out of the collector", gc.get_freeze_count())


celeryd_after_setup.connect(freeze_loaded_app, weak=False)
