"""Model distribution for a node: serve `/p2pfleet/model/0.1.0`, fetch missing models.

Serving: a model is read from the store (which re-hashes it, so a corrupted file
is never served) and sent in chunks from the requested offset. Fetching: the
providers callback names peers (from adverts' model lists, and DHT provider
records when the host has them); each is tried in turn. Bytes go to
`<hash>.part` and survive a dropped connection, so the next attempt resumes at
its size. A provider that lies (contradicts itself, sends garbage, or delivers
bytes whose SHA-256 is wrong) is marked bad for that model, its partial bytes
are discarded, and the next provider is used. Only a verified file becomes a
model (`ModelStore.adopt_part`).

Data cap: with a DataMeter (node/data_meter.py), both directions count
against the owner's cellular allowance. A fetch on cellular stops before the
first chunk if the model would not fit in what is left today
(ModelDataCapError; a partial file stays for a later resume), and a provider
on cellular answers `busy` instead of sending a model that would not fit.
Every transfer's bytes on the stream are recorded in the ledger.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import trio

from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.manifest import Manifest
from p2pfleet.core.model_fetch import (
    MAX_FETCH_FRAME,
    Download,
    DownloadState,
    End,
    Get,
    Have,
    ProviderRefusedError,
    Refuse,
    chunks_of,
    decode_fetch_message,
    encode_fetch_message,
)
from p2pfleet.core.protocol_ids import MODEL_PROTOCOL
from p2pfleet.inference.store import ModelIntegrityError, ModelStore, StoreFullError
from p2pfleet.net.errors import NetError
from p2pfleet.net.streams import FramedStream
from p2pfleet.node.data_meter import DataMeter, ModelDataCapError

log = logging.getLogger("p2pfleet.node.models")

ProvidersFn = Callable[[bytes], Awaitable[Sequence[str]]]
SUSPECT_PREFIX = "hash mismatch after resuming earlier bytes"


class ModelFetchError(Exception):
    """No provider delivered the model; the message lists what each one did."""


def advertises(models: Sequence[bytes], model_hash: bytes) -> bool:
    """True if an advert's model list names `model_hash` (full hash or a prefix of it)."""
    return any(len(entry) >= 8 and model_hash.startswith(entry) for entry in models)


def fleet_providers(peers: Any, host: Any) -> ProvidersFn:
    """Providers from live adverts (PeerView), plus DHT provider records if the host has a DHT."""

    async def providers(model_hash: bytes) -> list[str]:
        found = [a.peer_id for a in peers.live() if advertises(a.advert.models, model_hash)]
        find = getattr(host, "dht_find_providers", None)
        if find is not None:
            try:
                for record in await find(model_hash, limit=8):
                    found.append(str(getattr(record, "peer_id", record)))
            except Exception as exc:  # the DHT is a hint; adverts still work without it
                log.debug("DHT provider lookup for %s failed: %s", model_hash.hex()[:16], exc)
        return [p for p in dict.fromkeys(found) if p != host.peer_id]

    return providers


class ModelService:
    protocol_id = MODEL_PROTOCOL

    def __init__(
        self,
        store: ModelStore,
        host: Any,
        providers: ProvidersFn,
        *,
        max_uploads: int = 2,
        message_timeout_s: float = 30.0,
        upload_timeout_s: float = 600.0,
        rounds: int = 3,
        meter: DataMeter | None = None,
    ) -> None:
        self._store = store
        self._host = host
        self._providers = providers
        self._max_uploads = max_uploads
        self._message_timeout_s = message_timeout_s
        self._upload_timeout_s = upload_timeout_s  # a fetcher that stops reading frees the slot
        self._rounds = rounds
        self._uploads = 0
        self._meter = meter
        self._fetching: dict[bytes, trio.Event] = {}
        self._liars: set[tuple[str, bytes]] = set()
        self._runtime_verdicts: dict[
            tuple[bytes, str, tuple[tuple[str, str], ...]], str | None
        ] = {}
        self.stats: Counter[str] = Counter()

    # -- provider side -------------------------------------------------------

    async def serve(self, stream: FramedStream) -> None:
        """Handler for MODEL_PROTOCOL: one Get, then Have + chunks + End, or Refuse."""
        try:
            with trio.fail_after(self._message_timeout_s):
                request = decode_fetch_message(await stream.receive(max_size=MAX_FETCH_FRAME))
            if not isinstance(request, Get):
                raise RemoteProtocolError(f"expected get, got {type(request).__name__.lower()}")
            await self._serve_get(stream, request)
        except (RemoteProtocolError, trio.TooSlowError) as exc:
            log.info("model stream from %s: %s; resetting", stream.remote_peer, exc)
            await stream.reset()
        except NetError as exc:
            log.info("model upload to %s ended: %s", stream.remote_peer, exc)

    async def _serve_get(self, stream: FramedStream, request: Get) -> None:
        model_hash = request.model.hex()
        if not self._store.has(model_hash):
            return await self._refuse(stream, Refuse(code="not-found", detail="model not stored"))
        if self._uploads >= self._max_uploads:
            return await self._refuse(stream, Refuse(code="busy", detail="too many uploads"))
        self._uploads += 1
        try:
            with self._store.using(model_hash):
                try:
                    data = await trio.to_thread.run_sync(self._store.get, model_hash)
                except (KeyError, ModelIntegrityError) as exc:
                    return await self._refuse(stream, Refuse(code="not-found", detail=str(exc)))
                if request.offset > len(data):
                    return await self._refuse(
                        stream, Refuse(code="bad-offset", detail=f"model has {len(data)} bytes")
                    )
                if why := self._cap_refusal(len(data) - request.offset):
                    self.stats["refused-data-cap"] += 1
                    detail = f"cellular data cap: {why}"[:512]
                    return await self._refuse(stream, Refuse(code="busy", detail=detail))
                metered = _MeteredStream(stream)
                cellular = self._on_cellular()
                try:
                    with trio.fail_after(self._upload_timeout_s):
                        await self.send_model(cast(FramedStream, metered), data, request.offset)
                finally:
                    self._record(request.model, "upload", metered.sent, cellular)
                self.stats["uploads"] += 1
        finally:
            self._uploads -= 1

    async def send_model(self, stream: FramedStream, data: bytes, offset: int) -> None:
        """Have, the chunks from `offset`, End (test fixtures override this to lie)."""
        await stream.send(encode_fetch_message(Have(size=len(data), offset=offset)))
        for chunk in chunks_of(data, offset):
            await stream.send(encode_fetch_message(chunk))
        await stream.send(encode_fetch_message(End()))
        await stream.close()

    async def _refuse(self, stream: FramedStream, refuse: Refuse) -> None:
        await stream.send(encode_fetch_message(refuse))
        await stream.close()

    # -- data cap ------------------------------------------------------------

    def _on_cellular(self) -> bool:
        return self._meter is not None and self._meter.on_cellular()

    def _cap_refusal(self, nbytes: int) -> str | None:
        return None if self._meter is None else self._meter.refusal(nbytes)

    def _record(self, model: bytes, direction: str, nbytes: int, cellular: bool) -> None:
        self.stats[f"{direction}-bytes"] += nbytes
        if self._meter is not None:
            self._meter.record(model, direction, nbytes, cellular=cellular)

    # -- fetcher side --------------------------------------------------------

    async def ensure(self, model_hash: bytes) -> bool:
        """Fetch the model unless stored; False (logged) if no provider delivered it.

        ModelDataCapError passes through: the caller refuses the work with that reason.
        """
        try:
            await self.fetch(model_hash)
        except (ModelFetchError, StoreFullError) as exc:
            log.warning("could not fetch model %s: %s", model_hash.hex()[:16], exc)
            return False
        return True

    async def fetch(self, model_hash: bytes) -> None:
        """Make the model present and verified in the store (single flight per hash)."""
        if self._store.has(model_hash.hex()):
            return
        running = self._fetching.get(model_hash)
        if running is not None:
            await running.wait()
            if not self._store.has(model_hash.hex()):
                raise ModelFetchError("a concurrent fetch of this model failed")
            return
        self._fetching[model_hash] = done = trio.Event()
        try:
            await self._fetch(model_hash)
        finally:
            del self._fetching[model_hash]
            done.set()

    async def _fetch(self, model_hash: bytes) -> None:
        if why := self._cap_refusal(1):  # nothing left today: ask no provider
            raise ModelDataCapError(f"not fetching model {model_hash.hex()[:16]}: {why}")
        outcomes: list[str] = []
        for round_index in range(self._rounds):
            candidates = [
                p for p in await self._providers(model_hash) if (p, model_hash) not in self._liars
            ]
            for peer in candidates:
                outcome = await self._try_provider(peer, model_hash)
                outcomes.append(f"{peer[-8:]}: {outcome}")
                if outcome == "ok":
                    self.stats["fetched"] += 1
                    await self._announce(model_hash)
                    return
            if round_index + 1 < self._rounds:
                await trio.sleep(0.2 * (round_index + 1))
        raise ModelFetchError(
            f"no provider delivered model {model_hash.hex()[:16]}: "
            + ("; ".join(outcomes) or "no providers known (none advertises it)")
        )

    async def _try_provider(self, peer: str, model_hash: bytes) -> str:
        outcome = await self._attempt(peer, model_hash)
        if outcome == SUSPECT_PREFIX:
            # The bytes on disk came from an earlier attempt, maybe from a liar whose
            # garbage only the final hash reveals: start over with this provider.
            self._store.part_path(model_hash.hex()).unlink(missing_ok=True)
            self.stats["restarted"] += 1
            outcome = await self._attempt(peer, model_hash)
        return outcome

    async def _attempt(self, peer: str, model_hash: bytes) -> str:
        hex_hash = model_hash.hex()
        part = self._store.part_path(hex_hash)
        resumed = part.exists() and part.stat().st_size > 0
        try:
            await self._download(peer, model_hash)
            await trio.to_thread.run_sync(self._store.adopt_part, hex_hash)
            return "ok"
        except ModelIntegrityError as exc:
            return SUSPECT_PREFIX if resumed else self._caught_liar(peer, model_hash, exc)
        except ProviderRefusedError as exc:
            if resumed and exc.code == "bad-offset":
                return SUSPECT_PREFIX  # our partial file is longer than the real model
            return f"refused ({exc.code})"
        except RemoteProtocolError as exc:  # its own claims contradict: lies, malformed frames
            return self._caught_liar(peer, model_hash, exc)
        except (NetError, trio.TooSlowError) as exc:
            size = part.stat().st_size if part.exists() else 0
            self.stats["interrupted"] += 1
            return f"interrupted at {size} bytes ({type(exc).__name__}); will resume"

    def _caught_liar(self, peer: str, model_hash: bytes, exc: Exception) -> str:
        self._liars.add((peer, model_hash))
        self._store.part_path(model_hash.hex()).unlink(missing_ok=True)
        self.stats["liars"] += 1
        log.warning("provider %s lied about model %s: %s", peer, model_hash.hex()[:16], exc)
        return f"lied ({exc})"

    async def _download(self, peer: str, model_hash: bytes) -> None:
        part = self._store.part_path(model_hash.hex())
        have = part.stat().st_size if part.exists() else 0
        download = Download(model_hash, have=have)
        if have:
            self.stats["resumed"] += 1
            log.info("resuming model %s at byte %d from %s", model_hash.hex()[:16], have, peer)
        stream = await self._host.open_stream(peer, MODEL_PROTOCOL)
        cellular, received, checked = self._on_cellular(), 0, False
        try:
            await stream.send(encode_fetch_message(download.request))
            with part.open("ab") as sink:
                while download.state is not DownloadState.DONE:
                    with trio.fail_after(self._message_timeout_s):
                        frame = await stream.receive(max_size=MAX_FETCH_FRAME)
                    received += len(frame)
                    data = download.receive(decode_fetch_message(frame))
                    if not checked and download.size >= 0:
                        checked = True
                        if why := self._cap_refusal(download.size - have):
                            raise ModelDataCapError(
                                f"not fetching model {model_hash.hex()[:16]}: {why}"
                            )
                    if download.size > (self._store.max_bytes or download.size):
                        raise StoreFullError(  # our limit, not the provider's lie
                            f"model is {download.size} bytes; the model store holds at most "
                            f"{self._store.max_bytes} (raise [node] model_cache_bytes)"
                        )
                    if data:
                        sink.write(data)
                        sink.flush()
        except BaseException:
            if part.exists() and part.stat().st_size == 0:
                part.unlink()
            await stream.reset()
            raise
        finally:
            self._record(model_hash, "download", received, cellular)
        await stream.close()

    async def announce_stored(self) -> None:
        """Publish a DHT provider record for every stored model (no-op without a DHT)."""
        if getattr(self._host, "dht_provide", None) is None:
            return
        for model_hash in self._store.hashes():
            await self._announce(bytes.fromhex(model_hash))

    async def _announce(self, model_hash: bytes) -> None:
        provide = getattr(self._host, "dht_provide", None)
        if provide is None:
            return
        try:
            await provide(model_hash)
        except Exception as exc:  # announcing is best effort; adverts carry the hash too
            log.debug("DHT provide for %s failed: %s", model_hash.hex()[:16], exc)

    # -- runtime settings ----------------------------------------------------

    def runtime_refusal(self, manifest: Manifest) -> str | None:
        """Why this node cannot run the manifest's runtime settings, or None if it can."""
        from p2pfleet.inference.engine import check_manifest_runtime
        from p2pfleet.inference.ort_runtime import RuntimeSettingsError

        model_hash = manifest.model.hex()
        if not self._store.has(model_hash):
            return None  # the model check reports this
        key = (manifest.model, manifest.runtime, manifest.runtime_settings)
        if key not in self._runtime_verdicts:
            try:
                check_manifest_runtime(
                    self._store.get(model_hash), manifest.runtime, dict(manifest.runtime_settings)
                )
                self._runtime_verdicts[key] = None
            except RuntimeSettingsError as exc:
                self._runtime_verdicts[key] = str(exc)
        return self._runtime_verdicts[key]


class _MeteredStream:
    """The upload side of a FramedStream, counting the bytes it sends."""

    def __init__(self, stream: FramedStream) -> None:
        self._stream = stream
        self.sent = 0

    async def send(self, payload: bytes) -> None:
        await self._stream.send(payload)
        self.sent += len(payload)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
