"""The lean load generator's client reads answers exactly, and reports a cut connection as a failure.

A scripted server on a real socket answers each request with bytes the test chose, so every case of
the parser is exact: lengths, chunks, keep-alive over several answers, a close mid-answer.
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.loadgen import (
    RETRY_WITHOUT_ANSWER_S,
    Answer,
    ConnectFailed,
    Connection,
    ConnectionCut,
    TimedOut,
    encode_json,
    retry_delay,
)

CLOSE = b""  # in a script: close the connection instead of answering


class ScriptedServer(threading.Thread):
    """Reads whole requests (head and ``Content-Length`` body) and answers each with the next entry
    of ``script``; records the requests and how many connections were accepted."""

    def __init__(self, script: list[bytes], *, split: bool = False) -> None:
        super().__init__(daemon=True)
        self.script = list(script)
        self.split = split  # send each answer a few bytes at a time
        self.requests: list[bytes] = []
        self.accepted = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def run(self) -> None:
        while self.script:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        while self.script:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                buffer += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
            answer = self.script.pop(0)
            if answer == CLOSE:
                return
            if answer.endswith(b"|CUT"):  # part of an answer, then the close
                conn.sendall(answer[:-4])
                return
            if answer.endswith(b"|THENCLOSE"):  # a whole answer, then the close while idle
                conn.sendall(answer[:-10])
                return
            if self.split:
                for i in range(0, len(answer), 7):
                    conn.sendall(answer[i : i + 7])
            else:
                conn.sendall(answer)
            if b"connection: close" in answer.lower():
                return


@contextmanager
def scripted(script: list[bytes], *, split: bool = False) -> Iterator[ScriptedServer]:
    server = ScriptedServer(script, split=split)
    server.start()
    try:
        yield server
    finally:
        server.listener.close()
        server.join(timeout=5)


def _json(status: bytes, body: bytes, *extra: bytes) -> bytes:
    head = [
        b"HTTP/1.1 " + status,
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


CREATED = _json(b"201 Created", b'{"id":"out_1","status":"recognised"}')
UNAVAILABLE = _json(
    b"503 Service Unavailable", b'{"type":"urn:x:unavailable","status":503}', b"retry-after: 1"
)
UNAVAILABLE = UNAVAILABLE.replace(b"application/json", b"application/problem+json")


@pytest.mark.parametrize("split", [False, True], ids=["whole", "seven-bytes-at-a-time"])
def test_answers_are_read_exactly_over_one_kept_alive_connection(split: bool) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/x-ndjson\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n\n\r\n6\r\nworld!\r\n0\r\nx-trailer: 1\r\n\r\n"
    )
    empty = b"HTTP/1.1 204 No Content\r\nx-a: 1\r\nx-a: 2\r\n\r\n"
    with (
        scripted([CREATED, UNAVAILABLE, chunked, empty, CREATED], split=split) as server,
        Connection(server.base_url, timeout=5, headers={"Authorization": "Bearer t"}) as http,
    ):
        first = http.post_json("/api/v1/outcomes", {"title": "课程"}, {"Idempotency-Key": "k-1"})
        busy = http.post_json("/api/v1/outcomes", {"title": "课程"}, {"Idempotency-Key": "k-2"})
        streamed = http.get("/stream")
        nothing = http.get("/empty")
        again = http.get("/again")
    assert first == Answer(201, {"content-type": "application/json", "content-length": "36"}, CREATED[-36:])
    assert first.json() == {"id": "out_1", "status": "recognised"}
    assert busy.status == 503 and busy.is_problem and busy.headers["retry-after"] == "1"
    assert busy.json()["status"] == 503
    assert streamed.status == 200 and streamed.body == b"hello\nworld!"
    assert nothing.status == 204 and nothing.body == b"" and nothing.headers["x-a"] == "1, 2"
    assert again.status == 201
    assert server.accepted == 1  # five answers, one connection
    request = server.requests[0]
    assert request.startswith(b"POST /api/v1/outcomes HTTP/1.1\r\n")
    assert b"Authorization: Bearer t\r\n" in request and b"Idempotency-Key: k-1\r\n" in request
    body = encode_json({"title": "课程"})
    assert request.endswith(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert server.requests[2].startswith(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:")


def test_a_connection_cut_mid_answer_is_reported_not_taken_for_an_answer() -> None:
    with (
        scripted([CREATED[:-10] + b"|CUT", CREATED]) as server,
        Connection(server.base_url, timeout=5) as http,
    ):
        with pytest.raises(ConnectionCut, match="closed after"):
            http.post_json("/api/v1/outcomes", {})
        assert http.post_json("/api/v1/outcomes", {}).status == 201  # on a new connection
    assert server.accepted == 2


def test_a_connection_closed_before_any_answer_is_cut() -> None:
    with scripted([CLOSE, CREATED]) as server, Connection(server.base_url, timeout=5) as http:
        with pytest.raises(ConnectionCut, match="closed after 0 bytes"):
            http.get("/")
        assert http.get("/").status == 201


def test_an_answer_saying_close_ends_the_connection_and_the_next_request_opens_another() -> None:
    closing = _json(b"503 Service Unavailable", b"{}", b"connection: close", b"retry-after: 2")
    with scripted([closing, CREATED]) as server, Connection(server.base_url, timeout=5) as http:
        answer = http.get("/")
        assert (answer.status, answer.headers["retry-after"], answer.body) == (503, "2", b"{}")
        assert http.get("/").status == 201
        assert http.connections_made == 2
    assert server.accepted == 2


def test_an_idle_connection_the_server_closed_is_replaced_before_writing() -> None:
    with (
        scripted([CREATED + b"|THENCLOSE", CREATED]) as server,
        Connection(server.base_url, timeout=5) as http,
    ):
        assert http.get("/").status == 201
        time.sleep(0.3)  # the server has closed the kept-alive connection meanwhile
        assert http.get("/").status == 201  # written on a new connection, not lost on the old
        assert http.connections_made == 2
    assert server.accepted == 2


def test_an_answer_without_length_ends_with_the_connection() -> None:
    with (
        scripted([b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end|CUT"]) as server,
        Connection(server.base_url, timeout=5) as http,
    ):
        answer = http.get("/")
        assert (answer.status, answer.body) == (200, b"until the end")
        assert http._sock is None  # not kept alive


def test_a_silent_server_times_out_and_a_refused_connection_fails() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does) but never answers
    port = listener.getsockname()[1]
    try:
        with Connection(f"http://127.0.0.1:{port}", timeout=0.3) as http, pytest.raises(TimedOut):
            http.get("/")
    finally:
        listener.close()
    with Connection(f"http://127.0.0.1:{port}", timeout=1) as http, pytest.raises(ConnectFailed):
        http.get("/")


def test_a_client_retries_a_503_or_429_after_its_retry_after_and_no_answer_after_a_second() -> None:
    with scripted([UNAVAILABLE, CREATED, CLOSE]) as server, Connection(server.base_url, timeout=5) as http:
        busy = http.post_json("/api/v1/outcomes", {}, {"Idempotency-Key": "k-1"})
        created = http.post_json("/api/v1/outcomes", {}, {"Idempotency-Key": "k-1"})
        with pytest.raises(ConnectionCut):
            http.post_json("/api/v1/outcomes", {}, {"Idempotency-Key": "k-2"})
    assert retry_delay(busy) == 1.0  # its Retry-After
    assert retry_delay(None) == RETRY_WITHOUT_ANSWER_S  # no answer: it may or may not have been acted on
    assert retry_delay(created) is None
    assert retry_delay(Answer(503, {"retry-after": "5"})) == 5.0
    assert (
        retry_delay(Answer(503, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})) == RETRY_WITHOUT_ANSWER_S
    )
    assert retry_delay(Answer(503, {})) == RETRY_WITHOUT_ANSWER_S
    assert retry_delay(Answer(429, {"retry-after": "10"})) == 10.0  # too many at once
    for final in (200, 400, 409, 422, 500):  # the same again: not re-sent
        assert retry_delay(Answer(final, {"retry-after": "1"})) is None
