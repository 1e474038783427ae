"""Issue 13: backups that restore, proven on the sandbox host with its real MariaDB, uploads and supervisor.

The tests run in file order on one host and build on each other: a backup of posts, comments and uploads;
more writes, a dropped database and a deleted upload, then the restore; refused archives; a deploy that
migrates and leaves its pre-migration backup, undone with rollback + restore; the bench data set's figures.
The host is left as found (the session's release live, healthy) for test_site.py, which runs after.

"Equal" means every table's `CHECKSUM TABLE` and every upload's sha256, taken on the host.
"""

from __future__ import annotations

import os
import secrets as tokens
import time

import pytest
import requests
from e2e_client import png_bytes, register

from app.sandbox.deploy import deploy
from app.steps.script import Script
from app.steps.shell import q

if os.geteuid() != 0:  # a failure, not a skip: a suite that silently did nothing would read as passing
    pytest.fail("the sandbox tests need root (network namespaces, systemd-nspawn)", pytrace=False)

BACKUPS = "/srv/raindrop/shared/backups"
UPLOADS = "/srv/raindrop/shared/uploads"
DB = "raindrop"  # config/defaults.yml raindrop_db_name
TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema='raindrop' ORDER BY 1"
ALEMBIC = "SELECT version_num FROM raindrop.alembic_version"
RUN = tokens.token_hex(3)
# What the tests hand on to each other, in file order.
STATE: dict[str, object] = {}


def sh(ssh, name: str, body: str, check: bool = True):
    return ssh.run(Script(name, body), check=check)


def sql(ssh, query: str) -> str:
    return sh(ssh, "sql", f"mariadb --protocol=socket --user=root --batch --skip-column-names -e {q(query)}").stdout


def table_checksums(ssh) -> dict[str, str]:
    """`CHECKSUM TABLE` of every table of the app's database, by name."""
    tables = sql(ssh, TABLES).split()
    assert tables, f"the {DB} database has no tables"
    rows = sql(ssh, "CHECKSUM TABLE " + ", ".join(f"{DB}.{table}" for table in tables)).splitlines()
    return dict(row.split("\t")[:2] for row in rows)


def upload_hashes(ssh) -> dict[str, str]:
    """Every upload's sha256, with its mode and owner (nginx must still read it, the app still write it)."""
    out = sh(ssh, "uploads", f"cd {UPLOADS} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum").stdout
    modes = sh(ssh, "modes", f"cd {UPLOADS} && find . -printf '%p %m %u\\n' | sort").stdout.splitlines()
    hashes = {path: digest for digest, path in (line.split("  ", 1) for line in out.splitlines())}
    return {**hashes, "modes": "\n".join(modes)}


def state(ssh) -> dict[str, dict[str, str]]:
    return {"tables": table_checksums(ssh), "uploads": upload_hashes(ssh)}


def backups(ssh) -> list[str]:
    return sh(ssh, "backups", f"ls -1 {BACKUPS} | sed -n 's/\\.tar\\.gz$//p'").stdout.split()


def healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/api/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def png(seed: int) -> bytes:
    return png_bytes(40 + seed, 40)


def write_some(base_url: str, session: requests.Session, tag: str) -> dict[str, object]:
    """Two posts, a comment on each, and two uploads (one of them attached to a post)."""
    uploads = []
    for n in range(2):
        response = session.post(f"{base_url}/api/uploads", files={"file": (f"{tag}{n}.png", png(n), "image/png")})
        assert response.status_code == 201, response.text
        uploads.append(response.json()["url"])
    posts = []
    for n in range(2):
        body = {"body": f"{tag} post {n} {RUN}", **({"image_url": uploads[0]} if n == 0 else {})}
        post = session.post(f"{base_url}/api/posts", json=body)
        assert post.status_code == 201, post.text
        post_id = post.json()["post"]["id"]
        comment = session.post(f"{base_url}/api/posts/{post_id}/comments", json={"body": f"{tag} comment {n}"})
        assert comment.status_code == 201, comment.text
        posts.append(post_id)
    return {"posts": posts, "uploads": uploads}


@pytest.fixture(scope="module")
def carol(base_url):
    session = requests.Session()
    register(session, base_url, f"carol{RUN}")
    yield session
    session.close()


def test_backup_holds_a_dump_the_uploads_and_a_manifest(ssh, base_url, carol, figure):
    written = write_some(base_url, carol, "before")
    before = state(ssh)
    assert any(path.endswith(".png") for path in before["uploads"])
    started = time.monotonic()
    result = sh(ssh, "raindrop-backup", "raindrop-backup")
    figure("raindrop-backup (e2e data)", time.monotonic() - started)
    assert state(ssh) == before  # nothing wrote meanwhile: this is the state at backup time
    name = result.stdout.splitlines()[-1]
    assert name.startswith("raindrop-") and name.endswith("-manual")
    listing = sh(ssh, "listing", f"stat -c '%a %U %n' {BACKUPS} {BACKUPS}/{name}.tar.gz; "
                 f"tar -tzf {BACKUPS}/{name}.tar.gz; tar -xzOf {BACKUPS}/{name}.tar.gz MANIFEST").stdout.splitlines()
    assert listing[:5] == [f"700 root {BACKUPS}", f"600 root {BACKUPS}/{name}.tar.gz", "MANIFEST", "db.sql",
                           "uploads.tar"]
    manifest = listing[5:]
    assert manifest[0] == "raindrop-backup 1" and f"database {DB}" in manifest and "alembic 0001" in manifest
    assert [line.split()[1] for line in manifest if line.startswith("file ")] == ["db.sql", "uploads.tar"]
    STATE.update(name=name, at_backup=before, written=written)


def test_restore_brings_back_the_state_at_backup_time(ssh, base_url, carol, figure):
    name, at_backup = STATE["name"], STATE["at_backup"]
    later = write_some(base_url, carol, "after")
    assert state(ssh) != at_backup
    deleted = STATE["written"]["uploads"][1].rsplit("/", 1)[-1]
    sh(ssh, "break-things", f"mariadb --protocol=socket --user=root -e 'DROP DATABASE {DB}'; "
       f"find {UPLOADS} -name {q(deleted)} -delete")
    assert DB not in sql(ssh, "SHOW DATABASES").split()
    assert deleted not in " ".join(upload_hashes(ssh))
    started = time.monotonic()
    sh(ssh, "raindrop-restore", f"raindrop-restore {q(name)}")
    figure("raindrop-restore (e2e data)", time.monotonic() - started)
    assert state(ssh) == at_backup
    assert healthy(base_url)
    # Through the site: the backed-up post and its upload are back, what came later is gone.
    kept = requests.get(f"{base_url}/api/posts/{STATE['written']['posts'][0]}", timeout=10)
    assert kept.status_code == 200 and kept.json()["post"]["body"] == f"before post 0 {RUN}"
    assert requests.get(f"{base_url}{STATE['written']['uploads'][1]}", timeout=10).status_code == 200
    assert requests.get(f"{base_url}/api/posts/{later['posts'][0]}", timeout=10).status_code == 404
    # The restored uploads directory is the app's own again: a new upload lands.
    again = carol.post(f"{base_url}/api/uploads", files={"file": ("again.png", png(7), "image/png")})
    assert again.status_code == 201, again.text
    sh(ssh, "forget-again", f"find {UPLOADS} -name {q(again.json()['url'].rsplit('/', 1)[-1])} -delete")
    assert state(ssh) == at_backup


def gunicorn_pids(ssh) -> str:
    return sh(ssh, "pids", "pgrep -f 'gunicorn' | sort").stdout


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_archive_is_refused_and_nothing_changes(ssh, base_url, damage):
    name = STATE["name"]
    bad = f"{name.rsplit('-', 1)[0]}-{damage}"
    archive, copy = f"{BACKUPS}/{name}.tar.gz", f"{BACKUPS}/{bad}.tar.gz"
    if damage == "truncated":
        # The archive cut short, with the checksum file of the whole one.
        make = (f"cp {archive} {copy} && truncate -s $(( $(stat -c %s {copy}) / 2 )) {copy} && "
                f"sed 's/{name}/{bad}/' {archive}.sha256 > {copy}.sha256")
        why = "the archive does not match its sha256 (truncated or altered)"
    else:
        # One row changed inside the dump and the archive repacked with a checksum file that matches it: only the
        # manifest inside can tell.
        make = (f"work=$(mktemp -d) && tar -xzf {archive} -C $work && echo '-- altered' >> $work/db.sql && "
                f"tar -czf {copy} -C $work MANIFEST db.sql uploads.tar && rm -rf $work && "
                f"printf '%s  %s\\n' $(sha256sum < {copy} | cut -d' ' -f1) {bad}.tar.gz > {copy}.sha256")
        why = "db.sql is not the"
    sh(ssh, f"make-{damage}", make)
    before, pids = state(ssh), gunicorn_pids(ssh)
    result = sh(ssh, "raindrop-restore", f"raindrop-restore {bad}", check=False)
    sh(ssh, "remove-damaged", f"rm -f {copy} {copy}.sha256")
    assert result.exit_code == 1
    assert f"refusing {bad}: {why}" in result.stderr and "nothing was restored" in result.stderr
    assert state(ssh) == before
    assert gunicorn_pids(ssh) == pids  # the app was never stopped
    assert healthy(base_url)


def test_a_deploy_that_migrates_leaves_a_pre_migration_backup_then_undone(sandbox, ssh, base_url, release,
                                                                         migration_release):
    before, kept = state(ssh), backups(ssh)
    deploy(sandbox, release=migration_release)
    made = [name for name in backups(ssh) if name not in kept]
    assert len(made) == 1 and made[0].endswith("-pre-migration")
    manifest = sh(ssh, "manifest", f"tar -xzOf {BACKUPS}/{made[0]}.tar.gz MANIFEST").stdout.splitlines()
    assert "alembic 0001" in manifest  # taken before the new migration ran
    assert sql(ssh, ALEMBIC).split() == ["9001"]
    # Undoing a bad migration: the previous release back, then its data.
    sh(ssh, "rollback", "raindrop-rollback")
    sh(ssh, "raindrop-restore", f"raindrop-restore {made[0]}")
    assert state(ssh) == before
    assert sql(ssh, ALEMBIC).split() == ["0001"]
    assert release.hash in sh(ssh, "current", "readlink /srv/raindrop/current").stdout
    assert healthy(base_url)


def test_bench_data_set_backup_and_restore_figures(sandbox, ssh, base_url, figure):
    """The issue's data set: 100 authors with 1,000 posts (bench's seed), plus 200 uploads of 100 KB."""
    from bench.host import BenchHost

    host = BenchHost(sandbox)
    seeded = host.python("hostside.py", "seed-feed")
    assert seeded["authors"] == 100 and seeded["posts"] >= 1000
    sh(ssh, "bench-uploads", f"for i in $(seq 200); do head -c 100000 /dev/urandom > {UPLOADS}/bench-$i.jpg; done; "
       f"chown raindrop:raindrop {UPLOADS}/bench-*.jpg")
    before = state(ssh)
    started = time.monotonic()
    name = sh(ssh, "raindrop-backup", "raindrop-backup bench").stdout.splitlines()[-1]
    figure("raindrop-backup, bench data set", time.monotonic() - started)
    size = int(sh(ssh, "size", f"stat -c %s {BACKUPS}/{name}.tar.gz").stdout)
    figure("bench archive size in MB (not seconds)", size / 1e6)
    started = time.monotonic()
    sh(ssh, "raindrop-restore", f"raindrop-restore {name}")
    figure("raindrop-restore, bench data set (to healthy)", time.monotonic() - started)
    assert state(ssh) == before
    assert healthy(base_url)
    sh(ssh, "bench-uploads-gone", f"rm -f {UPLOADS}/bench-*.jpg")
