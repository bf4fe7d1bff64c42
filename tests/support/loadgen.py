"""A lean HTTP/1.1 client for load generators: kept-alive connections, little CPU per request.

The benchmarks and the failover rehearsal run their load generator on the same two cores as the
service, so what the generator spends is taken from the service: httpx spent 2.0 ms of CPU per
single posting (``bench/posting.py --cpu``), a tenth of the whole budget at 100 postings a second.
:class:`Connection` sends a request as one ``sendall`` of a head built from pre-encoded parts and reads
the answer with a small parser: the status line, the headers, and a body of exactly ``Content-Length``
bytes or of chunks (``Transfer-Encoding: chunked``, as a streamed batch report), or up to the end of
the connection when the answer has neither. ``bench/loadgen.py`` measures it against httpx.

Errors are reported, never taken for answers: a connection the server closed or reset before the
whole answer arrived raises :class:`ConnectionCut` (with how many bytes of the answer had come), a
connection refused :class:`ConnectFailed`, a silent server :class:`TimedOut`; all are
:class:`TransportError`. A request is never re-sent by this module (a re-sent POST is the caller's
decision, with its ``Idempotency-Key``). A kept-alive connection that the server closed while it was
idle is noticed before the next request is written (the socket reads as ready), and a new connection
is made for it, as httpx does. :func:`retry_delay` says when a client sends a request again, as a
client of the service does: a 503 or 429 after its ``Retry-After``, no answer after a second; never
another answer.

One :class:`Connection` is for one thread at a time.
"""

import json
import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RECV_BYTES = 65536
RETRY_WITHOUT_ANSWER_S = 1.0  # how long a client waits before re-sending a request that got no answer


class TransportError(Exception):
    """No (whole) answer: the request may or may not have been acted on."""


class ConnectFailed(TransportError):
    """The connection could not be made (refused, unreachable)."""


class ConnectionCut(TransportError):
    """The server closed or reset the connection before the whole answer arrived."""


class TimedOut(TransportError):
    """No answer within the connection's timeout."""


class ProtocolError(TransportError):
    """The answer is not HTTP/1.1 as this parser reads it."""


@dataclass(slots=True)
class Answer:
    """One answer: its status, headers (names in lower case; a repeated header's values joined by
    ``", "``) and body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def is_problem(self) -> bool:
        return self.content_type.startswith("application/problem+json")


def retry_delay(answer: "Answer | None") -> float | None:
    """Seconds to wait before sending the same request again (a POST with the same
    ``Idempotency-Key``), or None when ``answer`` settles it. A 503 (the database down, restarting or
    read-only) or a 429 (too many at once) is re-sent after its ``Retry-After`` in seconds
    (:data:`RETRY_WITHOUT_ANSWER_S` if it has none a client can read); no answer at all (``None``: a
    :class:`TransportError`, which may or may not have been acted on) after
    :data:`RETRY_WITHOUT_ANSWER_S`; any other answer is final (a 4xx would be the same again)."""
    if answer is None:
        return RETRY_WITHOUT_ANSWER_S
    if answer.status not in (429, 503):
        return None
    value = answer.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else RETRY_WITHOUT_ANSWER_S


def encode_json(payload: Any) -> bytes:
    """A JSON body as the service reads it (UTF-8, no ASCII escapes, no spaces)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Connection:
    """One kept-alive HTTP/1.1 connection to ``base_url`` (``http://host:port``), made on first use
    and again after the server closed it. ``headers`` go with every request."""

    base_url: str
    timeout: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)
    connections_made: int = 0
    _sock: socket.socket | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _fixed: bytes = b""
    _address: tuple[str, int] = ("", 0)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(self.base_url)
        self._address = (parts.hostname, parts.port or 80)
        fixed = {"Host": parts.netloc, **self.headers}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode("latin-1")

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, payload: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return self.request("POST", path, encode_json(payload), headers, content_type="application/json")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str | None = None,
    ) -> Answer:
        """Send one request and read its whole answer (see the module's docstring for the errors)."""
        head = [f"{method} {path} HTTP/1.1\r\n".encode("latin-1"), self._fixed]
        if headers:
            head.append("".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1"))
        if content_type is not None:
            head.append(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d\r\n" % len(body or b""))
        head.append(b"\r\n")
        sock = self._ready_socket()
        try:
            sock.sendall(b"".join(head) + (body or b""))
            return self._read_answer(sock, head_only=method == "HEAD")
        except TransportError:
            self.close()
            raise
        except TimeoutError as exc:
            self.close()
            raise TimedOut(f"no answer within {self.timeout} s") from exc
        except OSError as exc:  # reset, broken pipe
            self.close()
            raise ConnectionCut(f"{type(exc).__name__}: {exc}") from exc

    # -- the connection ------------------------------------------------------------------------------

    def _ready_socket(self) -> socket.socket:
        if self._sock is not None and not self._buffer:
            # readable while idle: the server closed it (or sent what no request asked for)
            readable, _, _ = select.select([self._sock], [], [], 0)
            if readable:
                self.close()
        if self._sock is None:
            try:
                sock = socket.create_connection(self._address, timeout=self.timeout)
            except TimeoutError as exc:
                raise TimedOut(f"connect to {self.base_url}") from exc
            except OSError as exc:
                raise ConnectFailed(f"{self.base_url}: {exc}") from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self.connections_made += 1
        return self._sock

    def _fill(self, sock: socket.socket, got_so_far: int) -> None:
        """Read more into the buffer; a closed connection is a cut answer."""
        data = sock.recv(RECV_BYTES)
        if not data:
            raise ConnectionCut(f"closed after {got_so_far} bytes of the answer")
        self._buffer += data

    # -- the answer ----------------------------------------------------------------------------------

    def _read_answer(self, sock: socket.socket, *, head_only: bool) -> Answer:
        while True:
            answer, keep_alive = self._read_one(sock, head_only=head_only)
            if answer.status >= 200 or answer.status == 101:
                break  # an interim answer (100 Continue) is followed by the real one
        if not keep_alive:
            self.close()
        return answer

    def _read_one(self, sock: socket.socket, *, head_only: bool) -> tuple[Answer, bool]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            self._fill(sock, len(buffer))
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[: end + 4]
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"status line {lines[0][:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise ProtocolError(f"header line {line[:80]!r}")
            key, text = name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        keep_alive = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if head_only or status < 200 or status in (204, 304):
            return Answer(status, headers), keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Answer(status, headers, self._read_chunked(sock)), keep_alive
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(buffer) < length:
                self._fill(sock, len(buffer))
            body = bytes(buffer[:length])
            del buffer[:length]
            return Answer(status, headers, body), keep_alive
        while True:  # no length: the body ends with the connection
            data = sock.recv(RECV_BYTES)
            if not data:
                body = bytes(buffer)
                buffer.clear()
                return Answer(status, headers, body), False
            buffer += data

    def _read_chunked(self, sock: socket.socket) -> bytes:
        buffer, got = self._buffer, 0
        parts: list[bytes] = []
        while True:
            while (end := buffer.find(b"\r\n")) < 0:
                self._fill(sock, got)
            size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ProtocolError(f"chunk size {size_text[:40]!r}") from exc
            del buffer[: end + 2]
            if size == 0:
                while (end := buffer.find(b"\r\n")) != 0:  # trailers, then the empty line
                    if end < 0:
                        self._fill(sock, got)
                    else:
                        del buffer[: end + 2]
                del buffer[:2]
                return b"".join(parts)
            while len(buffer) < size + 2:
                self._fill(sock, got + len(buffer))
            parts.append(bytes(buffer[:size]))
            got += size
            del buffer[: size + 2]
