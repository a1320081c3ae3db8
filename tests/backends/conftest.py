"""Fixtures for the real-backend suite (see the package docstring).

`llama_server` (session) runs the cached `llama-server` binary — or the one named by
`SWITCHYARD_LLAMA_SERVER` — with the tiny model. Without a binary the tests skip with a
hint to run `make test-backends`, except under CI=true, where they fail. `stack` puts a
fresh coordinator and a real provider process in front of it for each test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .build_llama_server import binary_path
from .stack import LlamaServer, Stack, running_llama_server, switchyard_in_front


@pytest.fixture(scope="session")
def llama_binary() -> Path:
    """The `llama-server` binary to test against (skip, or fail under CI=true, if none)."""
    override = os.environ.get("SWITCHYARD_LLAMA_SERVER")
    path = Path(override) if override else binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        reason = f"no llama-server binary at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; backend tests must run when CI=true")
        pytest.skip(f"{reason}; `make test-backends` builds it")
    return path


@pytest.fixture(scope="session")
def llama_server(
    llama_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServer]:
    with running_llama_server(llama_binary, tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
async def stack(llama_server: LlamaServer, tmp_path: Path) -> AsyncIterator[Stack]:
    async with switchyard_in_front(llama_server, tmp_path) as running:
        yield running
