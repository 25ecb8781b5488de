"""Serves `/p2pfleet/task/0.1.0`: one shard per stream, from assign to signed result.

The order of checks follows protocol/task.md: signature first, then the
manifest, the owner's policy, the model, then the (capped) input.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

import trio

from p2pfleet.core.compress import compress, decompress
from p2pfleet.core.errors import P2pFleetError, RemoteProtocolError
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import MAX_TASK_FRAME, MAX_TENSOR_BYTES
from p2pfleet.core.manifest import Manifest, SignedManifest, verify_manifest
from p2pfleet.core.policy import residency_fits
from p2pfleet.core.task_messages import (
    Accept,
    Assign,
    ErrorMessage,
    Reject,
    RejectReason,
    RevealRequest,
    TaskMessage,
    encode_message,
    sign_abandon,
    sign_commit,
    sign_result,
)
from p2pfleet.core.tasks import Role, TaskConversation
from p2pfleet.net.errors import NetError
from p2pfleet.net.streams import FramedStream
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.data_meter import ModelDataCapError
from p2pfleet.node.executor import ShardExecutor
from p2pfleet.node.ledger import EnergyLedger

log = logging.getLogger("p2pfleet.node.tasks")

ASSIGN_TIMEOUT_S = 30.0
ESTIMATED_MS_PER_ITEM = 200


class _Refused(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class TaskServer:
    def __init__(
        self,
        identity: Identity,
        executor: ShardExecutor,
        ledger: EnergyLedger,
        policy_refusal: Callable[[], RejectReason | None],
        config: NodeConfig,
        *,
        on_cellular: Callable[[], bool] = lambda: False,
    ) -> None:
        self._identity = identity
        self._on_cellular = on_cellular
        self._active = 0  # conversations in progress (assign to result)
        self._executor = executor
        self._ledger = ledger
        self._policy_refusal = policy_refusal
        self._config = config
        self._running: dict[int, trio.CancelScope] = {}
        self._abandon_reason = RejectReason.DRIVING
        self._changed = trio.Event()
        self.completed = 0
        self.protocol_errors = 0
        # Model hooks, set by the node (p2pfleet/node/model_service.py): fetch a missing
        # model before the checks; say why a manifest's runtime settings cannot be honoured.
        self.fetch_missing_model: Callable[[bytes], Awaitable[bool]] | None = None
        self.runtime_refusal: Callable[[Manifest], str | None] | None = None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def active(self) -> int:
        """Conversations in progress, including those waiting for the reveal request."""
        return self._active

    async def wait_idle(self) -> None:
        """Return once no conversation is in progress (for a graceful drain)."""
        while self._active:
            await self._changed.wait()

    def preempt_all(self, reason: RejectReason = RejectReason.DRIVING) -> None:
        """Cancel every running shard now; each kills its worker and sends a signed abandon."""
        self._abandon_reason = reason
        for scope in self._running.values():
            scope.cancel()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def serve(self, stream: FramedStream) -> None:
        conversation = TaskConversation(Role.NODE)
        self._active += 1
        try:
            with trio.fail_after(ASSIGN_TIMEOUT_S):
                message = conversation.receive(await stream.receive(max_size=MAX_TASK_FRAME))
            assert isinstance(message, Assign)  # the state table admits nothing else here
            await self._serve_assignment(stream, conversation, message)
        except RemoteProtocolError as exc:
            self.protocol_errors += 1
            log.info("task stream from %s broke the protocol: %s", stream.remote_peer, exc)
            await _send_error_and_reset(stream, "protocol-error", str(exc))
        except trio.TooSlowError:
            await _send_error_and_reset(stream, "timeout", "no assignment within the time limit")
        except NetError as exc:
            log.info("task stream from %s ended: %s", stream.remote_peer, exc)
        finally:
            self._active -= 1
            self._notify()

    def _check(self, assign: Assign) -> tuple[SignedManifest, bytes]:
        try:
            signed = verify_manifest(assign.manifest_wire)
        except RemoteProtocolError as exc:
            raise _Refused(RejectReason.BAD_MANIFEST, str(exc)) from exc
        manifest = signed.manifest
        if assign.shard >= len(manifest.shards):
            raise _Refused(
                RejectReason.BAD_MANIFEST, f"shard {assign.shard} is not in the manifest"
            )
        if manifest.deadline_ms <= int(time.time() * 1000):
            raise _Refused(RejectReason.DEADLINE, "the job's deadline has passed")
        if manifest.regions and self._config.region not in manifest.regions:
            raise _Refused(
                RejectReason.REGION_NOT_ALLOWED, f"this node is in {self._config.region!r}"
            )
        if not residency_fits(self._config.policy, manifest.regions):
            allowed = ", ".join(self._config.policy.allowed_data_regions)
            raise _Refused(
                RejectReason.REGION_NOT_ALLOWED,
                f"the owner takes only data restricted to the regions {allowed}",
            )
        reason = self._policy_refusal()
        if reason is not None:
            raise _Refused(reason, "the owner's policy refuses work right now")
        if not self._executor.supports(manifest.model, manifest.runtime):
            raise _Refused(
                RejectReason.MODEL_MISSING,
                f"model {manifest.model.hex()[:16]} / {manifest.runtime} not available",
            )
        if self.runtime_refusal is not None and (why := self.runtime_refusal(manifest)):
            raise _Refused(RejectReason.RUNTIME_UNSUPPORTED, why)
        try:
            input_bytes = decompress(assign.input_zstd, max_output=MAX_TENSOR_BYTES)
        except RemoteProtocolError as exc:
            raise _Refused(RejectReason.BAD_INPUT, str(exc)) from exc
        if hashlib.sha256(input_bytes).digest() != manifest.shards[assign.shard].input_hash:
            raise _Refused(RejectReason.BAD_INPUT, "input does not match the manifest's input hash")
        return signed, input_bytes

    async def _fetch_model_if_missing(self, assign: Assign) -> None:
        """Model-fetch hook: a node assigned a model it lacks fetches it before the checks."""
        if self.fetch_missing_model is None:
            return
        try:
            manifest = verify_manifest(assign.manifest_wire).manifest
        except RemoteProtocolError:
            return  # _check refuses it with the reason
        if self._policy_refusal() is None and not self._executor.supports(
            manifest.model, manifest.runtime
        ):
            try:
                await self.fetch_missing_model(manifest.model)
            except ModelDataCapError as exc:
                raise _Refused(RejectReason.DATA_CAP, str(exc)) from exc

    async def _serve_assignment(
        self, stream: FramedStream, conversation: TaskConversation, assign: Assign
    ) -> None:
        try:
            await self._fetch_model_if_missing(assign)
            signed, input_bytes = self._check(assign)
        except _Refused as refused:
            await stream.send(
                conversation.send(Reject(reason=refused.reason, detail=refused.detail))
            )
            await stream.close()
            return
        job_id, shard = signed.job_id, assign.shard
        manifest = signed.manifest
        conversation.bind(job_id, shard)
        items = manifest.shards[shard].items
        await stream.send(conversation.send(Accept(estimated_ms=items * ESTIMATED_MS_PER_ITEM)))

        started = time.time()
        wire_in = len(assign.manifest_wire) + len(assign.input_zstd)
        cellular = self._on_cellular()
        key = id(conversation)
        failure: str | None = None
        failure_reason = RejectReason.EXECUTION_FAILED
        output = b""
        with trio.CancelScope() as scope:
            self._running[key] = scope
            self._notify()
            try:
                with trio.fail_after(max(0.0, manifest.deadline_ms / 1000 - time.time())):
                    output = await self._executor.run(manifest.model, input_bytes)
            except trio.TooSlowError:
                failure, failure_reason = "the job's deadline passed", RejectReason.DEADLINE
            except Exception as exc:  # worker crash, time or memory limit, bad model
                failure = str(exc) or type(exc).__name__
            finally:
                del self._running[key]
                self._notify()
        runtime_ms = int((time.time() - started) * 1000)
        if scope.cancelled_caught or failure is not None:
            reason = self._abandon_reason if failure is None else failure_reason
            abandon = sign_abandon(self._identity, job_id, shard, reason)
            with trio.move_on_after(2.0), contextlib.suppress(NetError):
                await stream.send(conversation.send(abandon))
            self._record(job_id, shard, started, runtime_ms, wire_in, 0, "abandoned", cellular)
            with trio.move_on_after(2.0), contextlib.suppress(NetError):
                await stream.close()
            log.info(
                "abandoned shard %d of job %s: %s%s",
                shard,
                job_id.hex()[:12],
                reason.value,
                f" ({failure})" if failure else "",
                extra={
                    "event": "task.abandoned",
                    "job": job_id.hex(),
                    "shard": shard,
                    "reason": reason.value,
                    "runtime_ms": runtime_ms,
                },
            )
            return

        result = sign_result(self._identity, job_id, shard, output, compress(output), runtime_ms)
        await stream.send(
            conversation.send(sign_commit(self._identity, job_id, shard, result.output_hash))
        )
        remaining_s = max(1.0, manifest.deadline_ms / 1000 - time.time())
        message: TaskMessage | None = None
        with trio.move_on_after(remaining_s):
            message = conversation.receive(await stream.receive(max_size=MAX_TASK_FRAME))
        if not isinstance(message, RevealRequest):
            self._record(job_id, shard, started, runtime_ms, wire_in, 0, "not-revealed", cellular)
            await stream.close()
            return
        await stream.send(conversation.send(result))
        await stream.close()
        self.completed += 1
        out_bytes = len(result.output_zstd)
        self._record(job_id, shard, started, runtime_ms, wire_in, out_bytes, "completed", cellular)
        log.info(
            "completed shard %d of job %s in %d ms",
            shard,
            job_id.hex()[:12],
            runtime_ms,
            extra={"event": "task.completed", "job": job_id.hex(), "shard": shard},
        )

    def _record(
        self,
        job_id: bytes,
        shard: int,
        started: float,
        runtime_ms: int,
        inb: int,
        outb: int,
        outcome: str,
        cellular: bool,
    ) -> None:
        try:
            self._ledger.record(
                job_id=job_id.hex(),
                shard=shard,
                started_at=started,
                runtime_ms=runtime_ms,
                input_bytes=inb,
                output_bytes=outb,
                outcome=outcome,
                cellular=cellular,
            )
        except Exception:  # the ledger must never take the node down
            log.exception("could not write the energy ledger")


async def _send_error_and_reset(stream: FramedStream, code: str, detail: str) -> None:
    with trio.move_on_after(1.0):
        with contextlib.suppress(NetError, P2pFleetError):
            await stream.send(encode_message(ErrorMessage(code=code, detail=detail[:1000])))
    await stream.reset()
