"""Runs `async def` tests under trio (no pytest-trio needed), each inside a deadline."""

from __future__ import annotations

import functools
import inspect
import logging

import pytest
import trio

from p2pfleet.net.logs import configure_logging

TEST_DEADLINE = 30.0

configure_logging(logging.INFO, libp2p_level=logging.WARNING)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    test = functools.partial(pyfuncitem.obj, **kwargs)

    async def with_deadline() -> None:
        with trio.fail_after(TEST_DEADLINE):
            await test()

    trio.run(with_deadline)
    return True
