import os
import subprocess

import pytest
from conftest import BIN
from raindrop_server.config import EnvSettingError, config_from_env

BASE = {"RAINDROP_SECRET_KEY": "s", "RAINDROP_DATABASE_URL": "mysql+pymysql://u:p@127.0.0.1/raindrop"}


def test_defaults_follow_the_contract():
    config = config_from_env(BASE)
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert config["CELERY"]["broker_url"] == config["REDIS_URL"]
    assert config["UPLOAD_DIR"] == "/srv/raindrop/shared/uploads"
    assert config["UPLOAD_URL_PREFIX"] == "/static/uploads/"
    assert config["SESSION_COOKIE_SECURE"] is False
    assert config["FEED_CACHE"] is True
    assert config["OSS"] == {}
    assert config["CELERY"]["broker_transport_options"]["visibility_timeout"] > 0


def test_environment_overrides():
    config = config_from_env({
        **BASE, "RAINDROP_COOKIE_SECURE": "1", "RAINDROP_FEED_CACHE": "0", "RAINDROP_BROKER_URL": "redis://b/1",
        "RAINDROP_OSS_BUCKET": "bucket", "RAINDROP_UPLOAD_URL_PREFIX": "/u",
    })  # fmt: skip
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["FEED_CACHE"] is False
    assert config["CELERY"]["broker_url"] == "redis://b/1"
    assert config["OSS"] == {"bucket": "bucket"}
    assert config["UPLOAD_URL_PREFIX"] == "/u/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAINDROP_DATABASE_URL": "x"}, "RAINDROP_SECRET_KEY is not set"),
        ({"RAINDROP_SECRET_KEY": "s"}, "RAINDROP_DATABASE_URL is not set"),
        ({**BASE, "RAINDROP_FEED_CACHE": "maybe"}, "RAINDROP_FEED_CACHE must be 0 or 1"),
        ({**BASE, "RAINDROP_AUTH_RATE": "ten"}, "RAINDROP_AUTH_RATE must look like COUNT/SECONDS"),
        ({**BASE, "RAINDROP_DB_POOL_SIZE": "0"}, "RAINDROP_DB_POOL_SIZE must be a positive integer"),
    ],
)
def test_bad_configuration_names_the_problem(env, message):
    with pytest.raises(EnvSettingError, match=message):
        config_from_env(env)


def test_cli_names_a_missing_setting_without_a_traceback():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAINDROP_")}
    result = subprocess.run([BIN / "raindrop", "db", "upgrade"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == "raindrop: RAINDROP_SECRET_KEY is not set"
