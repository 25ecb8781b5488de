"""Serves `/p2pfleet/status/0.1.0`: a node's signed public status (protocol/status.md).

Recent jobs come from the node's energy ledger (SQLite, read through a
read-only connection of its own), connections from the host. Also holds the
requester side, `fetch_status`, used by the explorer.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.status import (
    MAX_REQUEST_BYTES,
    MAX_STATUS_BYTES,
    MAX_STATUS_JOBS,
    MAX_STATUS_PEERS,
    NONCE_SIZE,
    STATUS_PROTOCOL,
    JobSeen,
    NodeStatusReport,
    SignedStatus,
    StatusRequest,
    sign_status,
    verify_status,
)
from p2pfleet.net.errors import NetError
from p2pfleet.net.streams import FramedStream

if TYPE_CHECKING:
    from p2pfleet.net.host import FleetHost
    from p2pfleet.node.daemon import Node

log = logging.getLogger("p2pfleet.node.status")

#: A requester that does not send its request within this time gets a reset.
REQUEST_TIMEOUT_S = 10.0
#: Status streams served at once; more are reset at once (answers are cheap but not free).
MAX_CONCURRENT = 16

_RECENT_JOBS_SQL = """
SELECT job_id, SUM(outcome = 'completed'), COUNT(*), MAX(started_at)
FROM tasks GROUP BY job_id ORDER BY MAX(started_at) DESC LIMIT ?
"""


def recent_jobs(ledger_path: Path, limit: int = MAX_STATUS_JOBS) -> list[JobSeen]:
    """The newest jobs in a node's ledger; [] when there is no ledger yet."""
    if not ledger_path.exists():
        return []
    db = sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(_RECENT_JOBS_SQL, (limit,)).fetchall()
    except sqlite3.OperationalError:  # no tasks table yet
        return []
    finally:
        db.close()
    jobs = []
    for job_hex, done, assigned, last in rows:
        try:
            job_id = bytes.fromhex(job_hex)
            jobs.append(
                JobSeen(
                    job_id=job_id,
                    shards_done=int(done),
                    shards_assigned=int(assigned),
                    last_ms=int(last * 1000),
                )
            )
        except ValueError:
            log.warning("skipping ledger row with a malformed job id %r", job_hex)
    return jobs


class PublicStatus:
    """The status handler of one node."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._active = 0
        self.served = 0
        self.refused = 0

    def report(self, nonce: bytes) -> NodeStatusReport:
        node = self._node
        peers = node.host.connected_peers()
        return NodeStatusReport(
            nonce=nonce,
            issued_at_ms=int(time.time() * 1000),
            region=node.config.region,
            state=node.vehicle.status.state,
            peer_count=len(peers),
            peers=tuple(peers[:MAX_STATUS_PEERS]),
            jobs=tuple(recent_jobs(node.config.ledger_path)),
        )

    async def serve(self, stream: FramedStream) -> None:
        if self._active >= MAX_CONCURRENT:
            self.refused += 1
            await stream.reset()
            return
        self._active += 1
        try:
            with trio.fail_after(REQUEST_TIMEOUT_S):
                frame = await stream.receive(max_size=MAX_REQUEST_BYTES)
            request = StatusRequest.from_bytes(frame)
            signed = sign_status(self._node.identity, self.report(request.nonce))
            await stream.send(signed.wire)
            await stream.close()
            self.served += 1
        except (RemoteProtocolError, trio.TooSlowError) as exc:
            self.refused += 1
            log.info("bad or missing status request from %s: %r", stream.remote_peer, exc)
            await stream.reset()
        except NetError as exc:
            log.debug("status stream from %s ended: %s", stream.remote_peer, exc)
        finally:
            self._active -= 1


async def fetch_status(host: FleetHost, peer_id: str) -> SignedStatus:
    """Ask `peer_id` for its signed status (callers bound the time with trio.fail_after).

    Raises NetError if the peer cannot be reached, RemoteProtocolError if its answer
    is invalid, forged, or answers another request.
    """
    nonce = secrets.token_bytes(NONCE_SIZE)
    stream = await host.open_stream(peer_id, STATUS_PROTOCOL)
    try:
        await stream.send(StatusRequest(nonce=nonce).to_bytes())
        wire = await stream.receive(max_size=MAX_STATUS_BYTES)
    except BaseException:
        await stream.reset()
        raise
    await stream.close()
    return verify_status(wire, nonce=nonce, signer=stream.remote_public_key)
