"""Atomic file output: every file lsgm writes appears whole or not at all.

The bytes go to a temporary file in the target's folder, which is flushed, ``fsync``-ed and
then ``os.replace``-d over the target, so an interrupted run leaves either the previous file
or the new one, never a torn file, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def check_writable_dir(folder) -> Path:
    """Create ``folder`` (and parents) if needed; raise a ``ValueError`` naming it and the fix
    when it cannot be created or written to."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"{folder}: cannot create the output folder ({err.strerror}); choose a writable path."
        ) from err
    if not folder.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder; choose another output path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"{folder}: the output folder is not writable; fix its permissions or choose "
            "another path."
        )
    return folder


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable (best effort; not possible on every platform)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) to write; on success it is renamed
    over ``path``, on any error it is removed and ``path`` is left untouched.

    For libraries that write to a file name themselves (matplotlib ``savefig``, mido)::

        with atomic_path("out/plot.png") as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    check_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions open() would (0666 & ~umask)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
