"""The same-run baselines of ``bench/http.py``: the smallest apps served the way the service is.

* :func:`app`: a bare ASGI callable answering every request with a small JSON document (what the
  server alone costs: the protocol, the event loop, the accept);
* :func:`fastapi_app`: an empty FastAPI app with one ``async`` route answering the same document
  (what FastAPI's stack adds: its middlewares, routing, response rendering).

Both are factories, as :func:`creditbank.serving.served_app` is (``uvicorn_options`` sets ``factory``).
"""

from typing import Any

BODY = b'{"status":"ok"}'


def app() -> Any:
    async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    return bare


def fastapi_app() -> Any:
    from fastapi import FastAPI

    plain = FastAPI()

    @plain.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return plain
