"""The embedded broker never hands a reader a message that is still being written: a writer process
puts large messages while this process takes them as fast as it can (real kombu filesystem channels
on one folder, two processes); every message arrives whole, once, in order."""

from __future__ import annotations

import multiprocessing as mp
import time

from persistence.queue import make_celery
from tests.factories import make_settings

N, SIZE = 40, 2_000_000  # large messages: each write takes long enough for a reader to come between


def _writer(home: str, n: int, size: int) -> None:
    from pathlib import Path

    app = make_celery(make_settings(Path(home)))
    with app.connection_for_write() as conn:
        q = conn.SimpleQueue("fsbroker-check")
        for i in range(n):
            q.put({"i": i, "blob": "x" * size})
        q.close()


def test_a_reader_never_sees_a_message_half_written(home):
    app = make_celery(make_settings(home))
    received, errors = [], []
    with app.connection_for_read() as conn:
        q = conn.SimpleQueue("fsbroker-check")  # declared before the writer starts: its bindings exist
        writer = mp.get_context("spawn").Process(target=_writer, args=(str(home), N, SIZE))
        writer.start()
        deadline = time.monotonic() + 60
        try:
            while len(received) < N and time.monotonic() < deadline:
                try:
                    msg = q.get(block=True, timeout=0.01)
                except q.Empty:
                    continue
                except Exception as exc:  # noqa: BLE001 - the old transport raised JSONDecodeError here
                    errors.append(repr(exc)[:200])
                    break
                body = msg.payload
                received.append((body["i"], len(body["blob"])))
                msg.ack()
        finally:
            writer.join(60)
            q.close()
    assert not errors, errors[:3]
    assert received == [(i, SIZE) for i in range(N)]
