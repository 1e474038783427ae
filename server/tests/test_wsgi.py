import subprocess
import sys


def test_wsgi_patches_with_gevent_before_anything_imports_socket_or_ssl(test_env):
    script = (
        "import raindrop_server.wsgi, socket, ssl, gevent.socket, gevent.ssl; "
        "print(socket.socket is gevent.socket.socket, ssl.SSLContext is gevent.ssl.SSLContext, "
        "raindrop_server.wsgi.app.name)"
    )
    result = subprocess.run([sys.executable, "-c", script], env=test_env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "raindrop_server"]
    # gevent warns when ssl or socket users were imported before the patch (gunicorn #1816).
    assert "MonkeyPatchWarning" not in result.stderr, result.stderr
