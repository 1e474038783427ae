"""gunicorn entry point: raindrop_server.wsgi:app.

gevent must patch the standard library before anything imports socket or ssl (gunicorn #1816,
Flask-SocketIO #851), so this happens before every other import.
"""

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402

from raindrop_server import dbpool  # noqa: E402
from raindrop_server.factory import create_app  # noqa: E402

app = create_app()
# In the background: it runs once the worker serves, so a restarted process does not wait for it to take requests.
gevent.spawn(dbpool.fill, app)
