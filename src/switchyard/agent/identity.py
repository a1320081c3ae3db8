"""The provider's Ed25519 identity key: generated on first run, kept in a 0600 file, reused.

The file holds an unencrypted PKCS#8 PEM private key (a raw 32-byte seed is also accepted
when loading). Creation is atomic: the key is written to a private temporary file and
hard-linked into place, so two agents starting at once end up sharing one key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

log = logging.getLogger(__name__)

DEFAULT_KEY_FILE = Path("~/.switchyard/provider_key")


class IdentityError(Exception):
    """The key file exists but cannot be used."""


def load_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM or raw-seed file."""
    data = path.read_bytes()
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_or_create_key(path: Path | str = DEFAULT_KEY_FILE) -> Ed25519PrivateKey:
    """The key stored at `path`, generating and saving a new one (mode 0600) if absent."""
    path = Path(path).expanduser()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("key file %s had mode %o; restricting it to 0600", path, mode)
            path.chmod(0o600)
        return load_key(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_key(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    log.info("generated a new provider identity key at %s", path)
    return key
