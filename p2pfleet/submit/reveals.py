"""Tolerant-tier reveals: when the coordinator asks committed replicas for their outputs.

Honest float replicas commit to different hashes, so on the tolerant tier the
votes are the revealed outputs themselves (protocol/task.md, "Verification
(tolerant tier)"). Commit-then-reveal still holds: nobody is asked to reveal
until every placed replica has committed or been lost.
"""

from __future__ import annotations

import trio

from p2pfleet.submit.replica import Replica

MISMATCHED_REVEAL = b"p2pfleet/mismatched-reveal/"  # + node key: a vote that agrees with nothing


class TolerantReveals:
    """Tolerant tier: when to ask committed replicas to reveal, and which reports are reveals.

    Reveals go out only once every placed replica has committed or been lost
    (commit-then-reveal), then to every committed replica not asked yet.
    """

    def __init__(self) -> None:
        self.reported: set[int] = set()  # ids of replicas whose commit or loss was counted
        self.waiting: list[Replica] = []  # committed, not yet asked to reveal
        self.revealing: set[int] = set()  # asked; their next report is the reveal

    def committed(self, replica: Replica) -> None:
        self.reported.add(id(replica))
        self.waiting.append(replica)

    def lost(self, replica: Replica) -> None:
        self.reported.add(id(replica))

    def is_reveal(self, replica: Replica) -> bool:
        if id(replica) in self.revealing:
            self.revealing.discard(id(replica))
            return True
        return False

    def request(
        self,
        replicas: list[Replica],
        nursery: trio.Nursery,
        events: trio.MemorySendChannel[Replica],
    ) -> None:
        if not self.waiting or any(id(r) not in self.reported for r in replicas):
            return
        for replica in self.waiting:
            self.revealing.add(id(replica))
            replica.decide_reveal(True)
            nursery.start_soon(_report_when_finished, replica, events)
        self.waiting.clear()


async def _report_when_finished(replica: Replica, events: trio.MemorySendChannel[Replica]) -> None:
    await replica.finished.wait()
    await events.send(replica)
