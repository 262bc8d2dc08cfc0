"""The one client of pnsboxd's control socket (CLI and web UI alike): typed answers, typed errors,
patience with a busy socket. Against the real control API on a real Unix socket, no kernel."""

import json
import socket
import threading
import time

import pytest
from test_lockout import EXAMPLE

from pnsbox.control import messages as m
from pnsbox.control.client import ControlClient
from pnsbox.daemon.api import serve
from pnsbox.daemon.core import Daemon
from pnsbox.errors import BadRequest, ConfigError, NotFound, Unreachable
from pnsbox.problems import Problem
from pnsbox.store import site_files


@pytest.fixture
def client(tmp_path):
    daemon = Daemon(str(tmp_path / "state"), netns="pnsbox-test-no-such-namespace")
    server = serve(str(tmp_path / "control.sock"), daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield ControlClient(str(tmp_path / "control.sock"), timeout=10)
    server.shutdown()
    server.server_close()


def test_answers_come_back_as_the_messages_both_sides_import(client):
    status = client.status()
    assert isinstance(status, m.Status) and status.running is None and status.pending is None
    assert client.history() == []
    assert client.audit() == []
    usage = client.usage("2026-11")
    assert isinstance(usage, m.Usage) and usage.month == "2026-11" and usage.opds == {}


def test_a_broken_config_comes_back_as_a_config_error_with_its_problems(client):
    files = site_files(EXAMPLE)
    files["pnsbox.yaml"] = files["pnsbox.yaml"].replace("bandwidth: 1gbit", "bandwidth: 1g")
    with pytest.raises(ConfigError) as caught:
        client.apply(m.ApplyRequest(files=files, where="/etc/pnsbox", author="ani"))
    problem, = caught.value.problems
    assert isinstance(problem, Problem) and problem.file == "/etc/pnsbox/pnsbox.yaml" and problem.line > 1
    assert problem.path == "site.uplink.bandwidth"


def test_refusals_come_back_as_the_errors_of_pnsbox_errors(client):
    with pytest.raises(NotFound, match="nothing is waiting for a confirm"):
        client.confirm(m.ConfirmRequest(author="ani"))
    with pytest.raises(NotFound, match="no version 7"):
        client.version(7)
    with pytest.raises(BadRequest, match="`files` is an object of names to strings"):
        client.call("POST", "/plan", {"files": ["pnsbox.yaml"]})


def test_a_missing_daemon_is_unreachable_not_a_traceback(tmp_path):
    with pytest.raises(Unreachable, match="not reachable"):
        ControlClient(str(tmp_path / "none.sock")).status()


def test_a_busy_socket_is_waited_for_not_called_unreachable(tmp_path):
    """A full listen backlog answers EAGAIN at once; the client tries again until there is room."""
    path = str(tmp_path / "busy.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    queued = []
    for _ in range(8):  # fill the backlog: the next connect answers EAGAIN
        extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        extra.setblocking(False)
        try:
            extra.connect(path)
        except BlockingIOError:
            extra.close()
            break
        queued.append(extra)
    else:
        pytest.fail("the backlog never filled")

    def serve_later():
        time.sleep(0.3)
        for _ in range(len(queued) + 1):
            connection, _ = listener.accept()
            connection.settimeout(0.5)
            try:
                if connection.recv(65536):
                    body = json.dumps({"ok": True}).encode()
                    connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            connection.close()

    threading.Thread(target=serve_later, daemon=True).start()
    started = time.monotonic()
    assert ControlClient(path, timeout=10).get("/anything") == {"ok": True}
    assert time.monotonic() - started >= 0.25
    for extra in queued:
        extra.close()
    listener.close()


def _one_answer(path: str, parts: list[bytes]) -> threading.Thread:
    """A socket that answers one request with `parts`, written one by one, then closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer():
        connection, _ = listener.accept()
        with connection, listener:
            connection.recv(65536)
            for part in parts:
                connection.sendall(part)
                time.sleep(0.01)
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_large_answer_arriving_in_pieces_is_read_whole_and_a_cut_off_one_is_unreachable(tmp_path):
    """The client speaks HTTP itself (no http.client): it reads to the Content-Length, across reads."""
    body = json.dumps({"rows": ["x" * 100] * 5000}).encode()  # ~0.5 MB
    head = f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    _one_answer(str(tmp_path / "a.sock"), [head[:10], head[10:] + body[:1000], body[1000:300_000], body[300_000:]])
    assert ControlClient(str(tmp_path / "a.sock"), timeout=5).get("/status") == json.loads(body)
    _one_answer(str(tmp_path / "b.sock"), [head + body[:1000]])
    with pytest.raises(Unreachable, match="cut off"):
        ControlClient(str(tmp_path / "b.sock"), timeout=5).get("/status")
