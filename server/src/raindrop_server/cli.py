"""The `raindrop` console script: the Flask CLI of the app (`raindrop db upgrade` runs the migrations)."""

from flask.cli import FlaskGroup

from raindrop_server.config import EnvSettingError
from raindrop_server.factory import create_app


def main() -> None:
    try:
        FlaskGroup(create_app=create_app).main()
    except EnvSettingError as error:
        # A missing setting is an operator's mistake: say which, without a traceback.
        raise SystemExit(f"raindrop: {error}") from None
