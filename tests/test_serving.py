"""TCP_NODELAY on the connections of a server whose listening socket came from elsewhere.

uvicorn's multi-worker mode hands workers a listening socket that reports protocol 0, so asyncio
leaves Nagle's algorithm on for the connections it accepts (each kept-alive response then waits
about 40 ms for a delayed ACK). The project's protocol class sets the option itself.
"""

import asyncio
import socket
from pathlib import Path

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from creditbank.db import allow_write_behind, write_behind_allowed
from creditbank.serving import NoDelayH11Protocol, served_app


async def _nodelay_of_accepted(protocol_class: type[H11Protocol]) -> int:
    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn binds it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    config = Config(app=None)  # type: ignore[arg-type]
    state = ServerState()

    def factory() -> H11Protocol:
        return protocol_class(config=config, server_state=state, app_state={}, _loop=loop)

    server = await loop.create_server(factory, sock=listener)
    client = socket.create_connection(listener.getsockname())
    try:
        for _ in range(100):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        [connection] = list(state.connections)
        sock = connection.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        client.close()
        server.close()


def test_uvicorn_protocol_leaves_nagle_on_for_a_proto_zero_listener() -> None:
    # the behaviour the project works around: if this starts failing, uvicorn fixed it upstream
    assert asyncio.run(_nodelay_of_accepted(H11Protocol)) == 0


def test_project_protocol_turns_nagle_off() -> None:
    assert asyncio.run(_nodelay_of_accepted(NoDelayH11Protocol)) == 1


def test_a_served_process_writes_without_the_write_behind_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path))
    assert write_behind_allowed()
    try:
        app = served_app()
        assert app.state.warm_pool
        assert not write_behind_allowed()
    finally:
        allow_write_behind(True)
