"""A ``LocalRuntime`` worker process: one plugin, one request at a time.

Started by ``chalicelib.runtime.local`` as
``python -P -m chalicelib.runtime.worker --source-dir DIR --handler module:Class``
in its own session, with a clean environment, an address-space limit and (when
permitted) its own empty network namespace. This module must import only the
standard library and ``mocklib_plugin_sdk``: the process is the sandbox, so
nothing of the gateway (settings, clients, credentials) may ever be loaded here.

Wire format on the channel (the worker's original stdin/stdout), both ways:
a 4-byte big-endian length, then that many bytes of one UTF-8 JSON object.

parent -> worker
    ``{"op": "invoke", "event": <protocol event>}``
    ``{"op": "storage_result", "ok": true, "value": ...}``
    ``{"op": "storage_result", "ok": false, "kind": "permission"|"exists"|"invalid"|"error", "message": str}``
worker -> parent
    ``{"op": "ready", "pid": int, "plugin": <manifest name>}`` once the plugin is loaded
    ``{"op": "load_error", "message": str}`` instead, then the worker exits
    ``{"op": "storage", "call": "get"|"put"|"put_many"|"delete"|"query", ...}`` while an invocation runs
    ``{"op": "result", "result": <protocol result>}`` ends an invocation
    ``{"op": "oversized", "bytes": int}`` ends it instead when the result is over 6 MB
    ``{"op": "oom"}`` the invocation ran out of memory; the worker exits

Storage is the only thing a worker asks of its parent, and the parent decides
(from the event *it* sent) which partition the invocation may touch.

Plain writes an invocation makes to its own partition wait in the worker and go in one
``put_many`` before its result (``IpcStateStore``): a Stripe create is one round trip
to the database instead of four, and the invocation still reads its own writes.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import struct
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.errors import StorageError
from mocklib_plugin_sdk.host import PluginHost
from mocklib_plugin_sdk.http import Response
from mocklib_plugin_sdk.manifest import PluginManifest
from mocklib_plugin_sdk.plugin import Plugin
from mocklib_plugin_sdk.protocol import build_result
from mocklib_plugin_sdk.state import ItemExistsError, StateStore, StoredItem

FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 16 * 1024 * 1024
# Lambda caps a synchronous response at 6 MB; the local runtime refuses the
# same results so a plugin cannot work locally and fail when deployed.
MAX_RESULT_FRAME_BYTES = 6 * 1024 * 1024
# Exit codes the parent understands (anything else is a crash).
EXIT_OUT_OF_MEMORY = 86
EXIT_LOAD_ERROR = 87
# A query page carries at most this many bytes of documents, so a page of
# 100 large documents (350 KB each) never becomes one 35 MB frame.
QUERY_PAGE_MAX_BYTES = 4 * 1024 * 1024
# Writes waiting in a worker go out early past this many bytes of documents (one frame each).
PENDING_MAX_BYTES = 4 * 1024 * 1024


class FrameError(Exception):
    """The peer sent something that is not a frame of a JSON object."""


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return FRAME_HEADER.pack(len(body)) + body


def decode_frame_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("frame is not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise FrameError("frame is not an object with an 'op'")
    return message


def item_to_wire(item: StoredItem) -> dict[str, Any]:
    return {"pk": item.pk, "sk": item.sk, "doc": item.doc, "updated_at": item.updated_at.isoformat(),
            "expires_at": item.expires_at}


def item_from_wire(raw: Any) -> StoredItem:
    """A ``StoredItem`` from its wire form; ``ValueError`` if it is not one."""
    if not isinstance(raw, dict):
        raise ValueError("item must be an object")
    pk, sk, doc, updated, expires = (raw.get("pk"), raw.get("sk"), raw.get("doc"), raw.get("updated_at"),
                                     raw.get("expires_at"))
    if not all(isinstance(v, str) for v in (pk, sk, doc, updated)):
        raise ValueError("item pk, sk, doc and updated_at must be strings")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
        raise ValueError("item expires_at must be an integer or null")
    return StoredItem(pk=pk, sk=sk, doc=doc, updated_at=datetime.fromisoformat(str(updated)), expires_at=expires)


class _Channel:
    """The worker's end: blocking reads and writes on the two saved fds.

    ``lock`` pairs a storage request with its reply and also covers the main
    loop's wait for the next event, so a thread a plugin left running can
    never read a frame meant for someone else.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.lock = threading.RLock()

    def send(self, message: dict[str, Any]) -> None:
        self.write_raw(encode_frame(message))

    def write_raw(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def _read_exactly(self, size: int) -> bytes | None:
        chunks = []
        remaining = size
        while remaining:
            chunk = os.read(self.read_fd, min(remaining, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None when the parent closed the channel."""
        header = self._read_exactly(FRAME_HEADER.size)
        if header is None:
            return None
        (size,) = FRAME_HEADER.unpack(header)
        if size > MAX_FRAME_BYTES:
            raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
        body = self._read_exactly(size)
        if body is None:
            return None
        return decode_frame_body(body)

    def request(self, message: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            self.send(message)
            return self.recv()


class StoragePermissionError(StorageError):
    """The worker asked for a partition outside the invocation in flight."""

    CODE = "storage_permission_denied"


class IpcStateStore(StateStore):
    """The worker's ``StateStore``: every call is a frame to the parent, which
    checks the partition against the invocation in flight and runs the call on
    the real store. The worker itself holds no database client or credential.

    Between ``begin`` and ``finish``, plain puts the invocation's own thread makes to the
    invocation's own partition wait here and go to the parent as one ``put_many`` when the
    invocation ends (``finish``, before its result), so a create that writes four items
    costs one round trip. Reads see them: a get of a waiting key answers from here, a query
    whose prefix covers a waiting key, a conditional put or a delete of one sends them
    first (or drops the one deleted). No isolation is lost: DynamoDB gave other invocations
    none between single writes either, and nothing is answered before its writes are
    stored. Anything else (another thread, another partition) goes straight through, and
    is refused or served by the parent as before.
    """

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._pending: dict[tuple[str, str], StoredItem] = {}
        self._pending_bytes = 0
        self._partition: str | None = None
        self._owner: int | None = None

    def begin(self, partition: str | None) -> None:
        """An invocation on ``partition`` starts on this thread (None: nothing waits)."""
        self._pending, self._pending_bytes = {}, 0
        self._partition, self._owner = partition, threading.get_ident()

    def finish(self) -> None:
        """Store what waits; ``StorageError`` if the parent did not."""
        try:
            self._flush()
        finally:
            self._pending, self._pending_bytes, self._partition, self._owner = {}, 0, None, None

    def _waits(self, pk: str) -> bool:
        return pk == self._partition and threading.get_ident() == self._owner

    def _flush(self) -> None:
        if not self._pending:
            return
        items = [item_to_wire(item) for item in self._pending.values()]
        self._pending, self._pending_bytes = {}, 0
        self._call("put_many", items=items)

    def _call(self, call: str, **args: Any) -> Any:
        reply = self._channel.request({"op": "storage", "call": call, **args})
        if reply is None or reply.get("op") != "storage_result":
            raise StorageError("the runtime did not answer the storage call")
        if reply.get("ok"):
            return reply.get("value")
        kind, message = reply.get("kind"), str(reply.get("message") or "storage call failed")
        if kind == "permission":
            raise StoragePermissionError(message)
        if kind == "exists":
            raise ItemExistsError(message)
        raise StorageError(message)

    def get(self, pk: str, sk: str) -> StoredItem | None:
        if self._waits(pk) and (pk, sk) in self._pending:
            return self._pending[(pk, sk)]
        raw = self._call("get", pk=pk, sk=sk)
        return item_from_wire(raw) if raw is not None else None

    def put(self, item: StoredItem, *, if_absent: bool = False) -> None:
        if not self._waits(item.pk):
            self._call("put", item=item_to_wire(item), if_absent=bool(if_absent))
            return
        if if_absent:
            if (item.pk, item.sk) in self._pending:
                raise ItemExistsError(f"{item.sk} already exists")
            self._call("put", item=item_to_wire(item), if_absent=True)
            return
        self._pending[(item.pk, item.sk)] = item
        self._pending_bytes += len(item.doc)
        if self._pending_bytes > PENDING_MAX_BYTES:
            self._flush()

    def delete(self, pk: str, sk: str) -> bool:
        waiting = self._waits(pk) and self._pending.pop((pk, sk), None) is not None
        return bool(self._call("delete", pk=pk, sk=sk)) or waiting

    def query(self, pk: str, sk_prefix: str, *, start_after_sk: str | None = None,
              descending: bool = False, page_size: int = 100) -> Iterator[StoredItem]:
        if self._waits(pk) and any(key[1].startswith(sk_prefix) for key in self._pending):
            self._flush()
        # Lazy like the DynamoDB adapter: one page per round trip, resumed
        # after the last key seen.
        after = start_after_sk
        while True:
            page = self._call("query", pk=pk, sk_prefix=sk_prefix, start_after_sk=after,
                              descending=bool(descending), page_size=int(page_size))
            items = [item_from_wire(raw) for raw in page.get("items", [])]
            yield from items
            if page.get("done", True) or not items:
                return
            after = items[-1].sk


def invocation_partition(plugin: str, event: Any) -> str | None:
    """The partition an event's invocation writes (``Storage.partition_key``), or None. Only a
    hint for what may wait in the worker: the parent decides what the invocation may touch."""
    context = event.get("context") if isinstance(event, dict) else None
    if not isinstance(context, dict) or not isinstance(context.get("user_id"), str):
        return None
    return f"{plugin}#{'sandbox' if context.get('sandbox') else 'live'}#{context['user_id']}"


def _unsaved(event: Any, exc: StorageError) -> dict[str, Any]:
    """The answer when an invocation's writes could not be stored: a 500, no webhooks."""
    request = event.get("request") if isinstance(event, dict) else None
    request_id = request.get("request_id") if isinstance(request, dict) else None
    response = Response.error(500, exc.code, f"the plugin's writes were not stored: {exc.message}",
                              request_id=request_id if isinstance(request_id, str) else "")
    return build_result(response, error={"code": exc.code, "message": exc.message[:1000],
                                         "exception": type(exc).__name__})


def _take_stdio() -> _Channel:
    """Keep the real stdin/stdout for frames only; everything else the plugin
    prints (``print``, C extensions writing to fd 1) goes to stderr."""
    read_fd, write_fd = os.dup(0), os.dup(1)  # os.dup fds are not inherited by the plugin's children
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return _Channel(read_fd, write_fd)


def _load(source_dir: str, handler: str, store: IpcStateStore) -> PluginHost:
    directory = Path(source_dir).resolve()
    manifest = PluginManifest.load(directory / "manifest.json")
    module_name, _, class_name = handler.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"handler {handler!r} must look like 'module:Class'")
    sys.path.insert(0, str(directory))
    plugin_class = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(plugin_class, type) or not issubclass(plugin_class, Plugin):
        raise TypeError(f"{handler} is not a mocklib_plugin_sdk.Plugin subclass")
    host = PluginHost(plugin_class, manifest, store=store, log_stream=sys.stderr)
    try:
        # Like a Lambda init phase: pay for initialize() before the first
        # request. A failure here is retried (and reported) by the first invoke.
        host.plugin()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - PluginHost turns it into a 500 result on the first call
        pass
    return host


def _ran_out_of_memory(result: Any) -> bool:
    # PluginHost.invoke catches every Exception, MemoryError included, and
    # answers 500 plugin_exception; the runtime must report OOM instead.
    error = result.get("error") if isinstance(result, dict) else None
    return isinstance(error, dict) and error.get("exception") == "MemoryError"


def _report_oom(channel: _Channel, frame: bytes) -> None:
    try:
        channel.write_raw(frame)
    finally:
        os._exit(EXIT_OUT_OF_MEMORY)


def serve(channel: _Channel, source_dir: str, handler: str) -> int:
    oom_frame = encode_frame({"op": "oom"})  # built now: reporting OOM must not need memory
    store = IpcStateStore(channel)
    try:
        host = _load(source_dir, handler, store)
    except MemoryError:
        _report_oom(channel, oom_frame)
    except BaseException as exc:  # noqa: BLE001 - includes SystemExit from a plugin module's import
        channel.send({"op": "load_error", "message": f"{type(exc).__name__}: {exc}"[:2000]})
        return EXIT_LOAD_ERROR
    channel.send({"op": "ready", "pid": os.getpid(), "plugin": host.manifest.name})
    while True:
        with channel.lock:
            message = channel.recv()
        if message is None:
            break
        if message.get("op") != "invoke":
            raise FrameError(f"unexpected {message.get('op')!r} while idle")
        try:
            event = message.get("event")
            store.begin(invocation_partition(host.manifest.name, event))
            result = host.invoke(event)
            if _ran_out_of_memory(result):
                _report_oom(channel, oom_frame)
            try:
                store.finish()
            except StorageError as exc:
                result = _unsaved(event, exc)
            try:
                frame = encode_frame({"op": "result", "result": result})
            except FrameError:
                frame = b""
            if frame and len(frame) <= MAX_RESULT_FRAME_BYTES:
                channel.write_raw(frame)
            else:
                channel.send({"op": "oversized", "bytes": len(frame) or MAX_FRAME_BYTES})
        except MemoryError:
            _report_oom(channel, oom_frame)
    host.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    channel = _take_stdio()
    parser = argparse.ArgumentParser(prog="chalicelib.runtime.worker")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--handler", required=True)
    args = parser.parse_args(argv)
    return serve(channel, args.source_dir, args.handler)


if __name__ == "__main__":
    sys.exit(main())
