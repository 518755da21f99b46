"""The released-weights download, against an HTTP server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import http.server
import threading

import pytest

import elir_mobile
from elir_mobile.download import BASE_URL_ENV, released_checkpoint
from elir_mobile.errors import ElirError
from elir_mobile.tasks import TASKS

BODY = b"x" * 300_000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/elir_sr.pth"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path.endswith("/elir_bsr.pth"):  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(monkeypatch, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_port}/v1.0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield tmp_path / "cache" / "elir-mobile"
    httpd.shutdown()
    httpd.server_close()


def test_download_lands_in_cache_and_is_reused(server):
    path = released_checkpoint(TASKS["sr"])
    assert path == server / "elir_sr.pth" and path.read_bytes() == BODY
    path.write_bytes(b"cached")  # a second call must not fetch again
    assert released_checkpoint(TASKS["sr"]).read_bytes() == b"cached"
    assert [p.name for p in server.iterdir()] == ["elir_sr.pth"]


def test_http_404_is_a_clear_error(server):
    with pytest.raises(ElirError, match="HTTP 404.*--checkpoint"):
        released_checkpoint(TASKS["bfr"])
    assert not server.exists() or not any(server.iterdir())


def test_truncated_body_leaves_nothing(server):
    with pytest.raises(ElirError, match="--checkpoint"):
        released_checkpoint(TASKS["bsr"])
    assert not any(server.iterdir())


def test_offline_error_says_pass_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9/none")  # discard port: connection refused
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ElirError, match="pass --checkpoint"):
        elir_mobile.load_model("denoising")
