"""Static publish against a small OSS stand-in on loopback: the real oss2 client signs and sends its
requests (path-style, as oss2 does for an IP endpoint) to http://127.0.0.1:PORT/<bucket>/<key>."""

from __future__ import annotations

import tarfile
import threading
from http.server import ThreadingHTTPServer

import oss2
import pytest
from bs4 import BeautifulSoup
from helpers import BUCKET, FakeOss, write_client_build

from app.publish import IMMUTABLE, PublishError, content_type, hashed_assets, main, rewrite_index, upload_client

PUBLIC_BASE = "https://cdn.example.com/"


@pytest.fixture
def oss_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOss)
    server.objects, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def bucket(oss_server):
    endpoint = f"http://127.0.0.1:{oss_server.server_address[1]}"
    return oss2.Bucket(oss2.Auth("test-key-id", "test-key-secret"), endpoint, BUCKET)


def test_uploads_hashed_assets_with_type_and_cache_headers(oss_server, bucket, tmp_path):
    build = write_client_build(tmp_path)
    uploaded, skipped = upload_client(bucket, build)
    assert (sorted(uploaded), skipped) == (["main-BBBBBBBB.js", "media/logo-CCCCCCCC.svg", "styles-AAAAAAAA.css"], [])
    assert set(oss_server.objects) == set(uploaded)  # index.html and favicon.ico stay with nginx
    body, headers = oss_server.objects["main-BBBBBBBB.js"]
    assert body == (build / "main-BBBBBBBB.js").read_bytes()
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == IMMUTABLE
    assert oss_server.objects["styles-AAAAAAAA.css"][1]["Content-Type"] == "text/css; charset=utf-8"
    assert oss_server.objects["media/logo-CCCCCCCC.svg"][1]["Content-Type"] == "image/svg+xml"
    # oss2 really signed them.
    assert headers["authorization"].startswith("OSS test-key-id:")


def test_objects_already_there_are_skipped(oss_server, bucket, tmp_path):
    build = write_client_build(tmp_path)
    upload_client(bucket, build)
    oss_server.requests.clear()
    uploaded, skipped = upload_client(bucket, build)
    assert uploaded == []
    assert len(skipped) == 3
    assert {method for method, _, _ in oss_server.requests} == {"HEAD"}


def test_prefix_goes_into_keys_and_urls(oss_server, bucket, tmp_path):
    build = write_client_build(tmp_path)
    uploaded, _skipped = upload_client(bucket, build, prefix="v1/")
    assert sorted(uploaded) == ["v1/main-BBBBBBBB.js", "v1/media/logo-CCCCCCCC.svg", "v1/styles-AAAAAAAA.css"]
    assert set(oss_server.objects) == set(uploaded)
    html = rewrite_index((build / "index.html").read_text(), hashed_assets(build), "https://cdn.example.com/v1/")
    assert 'src="https://cdn.example.com/v1/main-BBBBBBBB.js"' in html


def test_index_points_at_the_public_base_and_the_rest_is_kept(oss_server, bucket, tmp_path):
    build = write_client_build(tmp_path)
    soup = BeautifulSoup(rewrite_index((build / "index.html").read_text(), hashed_assets(build), PUBLIC_BASE),
                         "html.parser")
    assert soup.find("script")["src"] == "https://cdn.example.com/main-BBBBBBBB.js"
    assert soup.find("link", rel="stylesheet")["href"] == "https://cdn.example.com/styles-AAAAAAAA.css"
    assert soup.find("base")["href"] == "/"
    assert (build / "index.html").read_text().count("cdn.example.com") == 0  # the source build is untouched
    # the whole page: only the two asset attributes changed, everything else kept
    assert rewrite_index((build / "index.html").read_text(), hashed_assets(build), PUBLIC_BASE) == (
        '<!DOCTYPE html>\n<html><head><base href="/"/><link href="https://cdn.example.com/styles-AAAAAAAA.css" '
        'rel="stylesheet"/></head><body><app-root></app-root><script src="https://cdn.example.com/main-BBBBBBBB.js" '
        'type="module"></script></body></html>\n'
    )


def test_rewrite_touches_only_attributes_naming_an_asset():
    html = (
        '<!doctype html><html><head><base href="/"><link rel="icon" href="favicon.ico">'
        '<link rel="stylesheet" href="styles-AAAAAAAA.css" media="print" onload="this.media=\'all\'">'
        '<noscript><link rel="stylesheet" href="./styles-AAAAAAAA.css"></noscript></head><body>'
        '<link rel="modulepreload" href="chunk-DDDDDDDD.js">'
        '<a href="https://elsewhere.example/main-BBBBBBBB.js">x</a>'
        '<p>main-BBBBBBBB.js stays text</p>'
        '<script src="main-BBBBBBBB.js" type="module"></script></body></html>'
    )
    out = rewrite_index(html, ["main-BBBBBBBB.js", "styles-AAAAAAAA.css", "chunk-DDDDDDDD.js"], "https://cdn.x/")
    soup = BeautifulSoup(out, "html.parser")
    assert soup.find("link", rel="icon")["href"] == "favicon.ico"
    assert [link["href"] for link in soup.find_all("link", rel="stylesheet")] == [
        "https://cdn.x/styles-AAAAAAAA.css",
        "https://cdn.x/styles-AAAAAAAA.css",
    ]
    assert soup.find("link", rel="modulepreload")["href"] == "https://cdn.x/chunk-DDDDDDDD.js"
    assert soup.find("a")["href"] == "https://elsewhere.example/main-BBBBBBBB.js"
    assert soup.find("p").text == "main-BBBBBBBB.js stays text"
    assert soup.find("script")["type"] == "module"
    assert soup.find("link", rel="stylesheet")["onload"] == "this.media='all'"


def test_hashed_assets_follow_the_nginx_rule(tmp_path):
    build = write_client_build(tmp_path)
    (build / "main.1a2b3c4d5e6f7a8b.js").write_text("webpack style\n")
    (build / "notes-lowercase.js").write_text("not hashed\n")
    assert hashed_assets(build) == [
        "main-BBBBBBBB.js",
        "main.1a2b3c4d5e6f7a8b.js",
        "media/logo-CCCCCCCC.svg",
        "styles-AAAAAAAA.css",
    ]


def test_content_types():
    assert content_type("a-XXXXXXXX.woff2") == "font/woff2"
    assert content_type("a-XXXXXXXX.png") == "image/png"
    assert content_type("a-XXXXXXXX.unknownext") == "application/octet-stream"


def test_bad_inputs_are_named(bucket, tmp_path):
    with pytest.raises(PublishError, match="has no index"):
        upload_client(bucket, tmp_path)
    build = write_client_build(tmp_path)
    with pytest.raises(PublishError, match="must be an http"):
        rewrite_index((build / "index.html").read_text(), hashed_assets(build), "cdn.example.com")
    with pytest.raises(PublishError, match="must end with '/'"):
        upload_client(bucket, build, prefix="v1")


def test_the_command_uploads_a_bundles_client_with_the_keys_from_the_environment(oss_server, tmp_path, monkeypatch):
    """`python -m app.publish` as app/cloud.py runs it: the bundle's client build, uploaded under the prefix."""
    build = write_client_build(tmp_path / "release")
    bundle = tmp_path / "raindrop-0123456789abcdef.tar.gz"
    with tarfile.open(bundle, "w:gz") as archive:
        archive.add(build, arcname="client")
    endpoint = f"http://127.0.0.1:{oss_server.server_address[1]}"
    argv = ["--bundle", str(bundle), "--endpoint", endpoint, "--bucket", BUCKET, "--prefix", "assets/"]
    monkeypatch.delenv("RAINDROP_OSS_ACCESS_KEY_ID", raising=False)
    assert main(argv) == 2  # no keys, no request
    assert oss_server.objects == {}
    monkeypatch.setenv("RAINDROP_OSS_ACCESS_KEY_ID", "test-key-id")
    monkeypatch.setenv("RAINDROP_OSS_ACCESS_KEY_SECRET", "test-key-secret")
    assert main(argv) == 0
    assert sorted(oss_server.objects) == ["assets/main-BBBBBBBB.js", "assets/media/logo-CCCCCCCC.svg",
                                          "assets/styles-AAAAAAAA.css"]


def test_the_real_client_build_rewrites_cleanly(tmp_path):
    from app.release import client_build

    build = client_build()  # the real production build, made with npm when client/dist lacks one
    assets = hashed_assets(build)
    html = rewrite_index((build / "index.html").read_text(), assets, PUBLIC_BASE)
    soup = BeautifulSoup(html, "html.parser")
    sources = [tag.get("src") or tag.get("href") for tag in soup.find_all(["script", "link"])]
    local = [s for s in sources if s and not s.startswith(PUBLIC_BASE) and s != "favicon.ico"]
    assert local == []
