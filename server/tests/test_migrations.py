import subprocess

from conftest import BIN


def test_models_and_migrations_agree(test_env):
    # `db check` compares the migrated database with the models and fails on any difference.
    result = subprocess.run([BIN / "raindrop", "db", "check"], env=test_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_database_is_at_the_head_revision(test_env):
    current = subprocess.run([BIN / "raindrop", "db", "current"], env=test_env, capture_output=True, text=True)
    heads = subprocess.run([BIN / "raindrop", "db", "heads"], env=test_env, capture_output=True, text=True)
    head = heads.stdout.split()[0]
    assert f"{head} (head)" in current.stdout
