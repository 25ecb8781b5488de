from __future__ import annotations

import logging

from p2pfleet.net.host import open_host
from p2pfleet.net.logs import configure_logging

from ._support import config


async def test_libp2p_logging_is_tamed_before_and_after_hosts_run() -> None:
    configure_logging(logging.INFO)  # idempotent; conftest already called it
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    assert handlers_before, "a root handler keeps logging.basicConfig() out (pitfall 8)"
    async with open_host(config("logs")) as host:
        assert host.peer_id
    libp2p_logger = logging.getLogger("libp2p")
    assert libp2p_logger.propagate and not libp2p_logger.handlers
    assert libp2p_logger.level == logging.WARNING
    # auto_connector forces INFO on itself at import; it must inherit again.
    assert logging.getLogger("libp2p.network.auto_connector").level == logging.NOTSET
    assert root.handlers == handlers_before


def test_expected_libp2p_errors_are_demoted() -> None:
    configure_logging(logging.INFO)
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    collector = Collect()
    logging.getLogger().addHandler(collector)
    try:
        noisy = logging.getLogger("libp2p.host.basic_host")
        noisy.error("Failed to open stream to peer X:\n  Error: handshake read failed")
        noisy.error("something else went wrong")
        dht = logging.getLogger("libp2p.kad_dht.kad_dht")
        dht.warning("FIND_NODE key is not a valid PeerId (52 bytes), ignoring")
    finally:
        logging.getLogger().removeHandler(collector)
    assert [r.getMessage() for r in seen] == ["something else went wrong"]
