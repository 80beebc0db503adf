"""The request-size limit over a real HTTP server (uvicorn on a free port, raw sockets as the client):
a chunked body over the limit is answered 413 while the client is still sending (the terminating
chunk is never sent), so the server cannot have buffered it whole; one within the limit goes through."""

from __future__ import annotations

import json
import select
import socket

import pytest

from persistence.schema import upgrade
from tests import service
from tests.factories import make_settings, make_spec

CHUNK = 64 * 1024


@pytest.fixture
def server(home):
    from api.main import create_app

    settings = make_settings(home, f"sqlite:///{home / 'skipcore.db'}")
    upgrade(str(settings.database_url))
    with service.in_thread(create_app(settings, sweeper=False), lifespan="on") as port:
        yield port, settings


def _head(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/experiments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    return sock


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:  # the reset that followed the answer; what came before it was read
        return b""


def _response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = _recv(sock)
        if not part:
            break
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(rest) < length:
        part = _recv(sock)
        if not part:
            break
        rest += part
    return status, rest


def test_chunked_body_over_the_limit_is_answered_413_before_the_client_finishes(server):
    port, settings = server
    limit = settings.max_body_bytes
    sock = _head(port)
    sent = 0
    try:
        sock.sendall(_chunk(b'{"name": "'))
        # Keep sending until the answer is readable; the terminating 0-chunk never goes out. The
        # server closes once it has answered, so a send may meet a reset: the answer arrived before
        # the reset and is still in the receive queue.
        while sent <= limit + CHUNK and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(_chunk(b"x" * CHUNK))
            except (ConnectionResetError, BrokenPipeError):
                break
            sent += CHUNK
        status, body = _response(sock)
    finally:
        sock.close()
    assert status == 413, (status, body[:200])
    assert "limit" in json.loads(body)["detail"]
    print(f"\n413 after {sent:,} bytes sent of an unfinished chunked body (limit {limit:,})")


def test_chunked_body_within_the_limit_goes_through(server):
    port, _ = server
    payload = json.dumps(make_spec(name="chunked")).encode()
    sock = _head(port)
    try:
        for i in range(0, len(payload), 50):  # many small chunks, replayed to the app as one body
            sock.sendall(_chunk(payload[i : i + 50]))
        sock.sendall(b"0\r\n\r\n")
        status, body = _response(sock)
    finally:
        sock.close()
    assert status == 201, (status, body[:300])
    assert json.loads(body)["name"] == "chunked"
