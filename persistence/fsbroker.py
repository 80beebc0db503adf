"""The embedded profile's broker: kombu's filesystem transport, with each message written whole
before a reader can see it.

kombu's `_put` opens the message file under its final name and then writes it; a reader in another
process lists the folder, moves the file away and reads it, so a reader that comes between the
open and the write gets an empty or partial file and the worker's consumer dies on the JSON
decode ("Unrecoverable error: JSONDecodeError"). Here the message is written under a name the
reader ignores (it takes only names `<stamp>.<queue>.msg`), flushed to disk, then renamed into
place: a rename within one folder is atomic, so a reader sees no file or the whole message.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL = ".part"  # `<stamp>.<queue>.msg.part` is not `<queue>.msg` after the first dot: never read


def message_name(queue: str) -> str:
    """The name kombu's reader orders and takes messages by: time stamp, a unique id, the queue."""
    return f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written under a partial name, then renamed into place."""
        final = os.path.join(self.data_folder_out, message_name(queue))
        partial = final + PARTIAL
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, final)
        except OSError as exc:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
