"""Atomic file output, and the checks every output path passes before any work is done.

The bytes go to a temporary file ``.NAME.PID.XXXX.tmpSUFFIX`` in the target's folder, which is
flushed, ``fsync``-ed and then ``os.replace``-d over the target, so an interrupted run leaves
either the previous file or the new one, never a torn file, and no temporary file behind. A
run killed outright (SIGKILL) cannot remove its temporary file; the next successful write of
the same target removes the temporary files whose writer process is no longer alive.

:func:`check_output` is the one check of an output path shared by every command: the
destination is not one of the command's input files (same file after following links), has
an allowed suffix, is not a folder, and its folder is writable — all before any data are
read or any model is trained.

Errors raised while writing name the destination the user gave, never the temporary file;
a full disk (``ENOSPC``, ``EDQUOT``) says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

#: errno values that mean "the disk (or the user's quota) is full".
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

# Temporary files being written by this process (removed on an interrupt's hard exit).
_LIVE_TEMPS: set[str] = set()
_INTERRUPTED = False
# Inside deferred_outputs(): (temporary file, target) pairs renamed into place at its end.
_DEFERRED: list[tuple[str, Path]] | None = None


def mark_interrupted() -> None:
    """Record that the user interrupted the run (SIGINT): no output is renamed into place
    from now on (:func:`atomic_path` raises ``KeyboardInterrupt`` instead)."""
    global _INTERRUPTED
    _INTERRUPTED = True


def reset_interrupted() -> None:
    """Forget an earlier interrupt (a new run in the same process)."""
    global _INTERRUPTED
    _INTERRUPTED = False


def interrupted() -> bool:
    """Whether :func:`mark_interrupted` was called."""
    return _INTERRUPTED


def remove_live_temporaries() -> None:
    """Remove the temporary files this process is writing (before a hard exit)."""
    for tmp in list(_LIVE_TEMPS):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _LIVE_TEMPS.discard(tmp)


def check_writable_dir(folder) -> Path:
    """Create ``folder`` (and parents) if needed; raise a ``ValueError`` naming it and the fix
    when it cannot be created or written to."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise ValueError(
            f"{folder}: exists and is not a folder; choose another output path."
        ) from err
    except NotADirectoryError as err:
        raise ValueError(
            f"{folder}: a part of this path is a file, not a folder; choose another output path."
        ) from err
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


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _clash(path: Path, inputs: list[Path]) -> Path | None:
    """The input that ``path`` (or a folder above it) is, following links; else None."""
    for candidate in (path, *path.parents):
        if not os.path.lexists(candidate):
            continue
        for inp in inputs:
            if _same(candidate, inp):
                return inp
    return None


def check_output(
    path,
    inputs: Iterable = (),
    suffixes: Iterable[str] | None = None,
    *,
    folder: bool = False,
    contents: Iterable[str] = (),
    what: str = "output",
) -> Path:
    """Check an output path before any work; return it as a ``Path``.

    Raises a ``ValueError`` naming ``path`` as the user gave it and the fix when:

    * ``path`` (or a folder above it), links followed, is one of ``inputs`` (the command's
      input files: data, model, labels, validation files, ...) — an output never replaces
      an input;
    * ``suffixes`` is given and ``path`` does not end in one of them (case-insensitive);
    * a file output is an existing folder, or a folder output an existing file;
    * its folder cannot be created or is not writable.

    With ``folder=True`` the output is a folder (created if needed) and ``contents`` the
    names of the files the command writes into it; none of them may be an input either.
    """
    out = Path(path)
    ins = [Path(p) for p in inputs if p is not None and str(p) != ""]
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        name = out.name.lower()
        if not any(name.endswith(s) for s in allowed):
            raise ValueError(
                f"{out}: the {what} must end in {' or '.join(allowed)}; got "
                f"{out.suffix or 'no suffix'!r}. Choose a name with one of those suffixes."
            )
    clash = _clash(out, ins)
    if clash is not None:
        raise ValueError(
            f"{out}: this {what} is the input file {clash}; writing it would destroy the "
            "input. Choose another output path."
        )
    for name in contents:
        clash = _clash(out / name, ins)
        if clash is not None:
            raise ValueError(
                f"{out}: writing {name} into this {what} folder would replace the input file "
                f"{clash}; choose another output folder."
            )
    if folder:
        _check_manifest(out, contents, what)
        check_writable_dir(out)
        _add_to_manifest(out, contents)
        return out
    if out.is_dir():
        raise ValueError(
            f"{out}: is a folder; the {what} is a file — give a file name (e.g. {out}/NAME)."
        )
    if out.name in ("", ".", ".."):
        raise ValueError(f"{out}: not a file name; give the {what} a file name.")
    check_writable_dir(out.parent)
    if out.exists() and not os.access(out, os.W_OK) and not os.access(out.parent, os.W_OK):
        raise ValueError(f"{out}: cannot be replaced; fix its permissions or choose another path.")
    return out


#: The file in an output folder that lists the names lsgm writes there: a later run may
#: replace those, never a file of the same name that lsgm did not write.
MANIFEST = ".lsgm-outputs"
_MANIFEST_HEADER = "# files written here by lsgm (a later lsgm run may replace them)"


def _manifest(folder: Path, what: str = "output") -> set[str]:
    """The names listed in ``folder``'s manifest (empty when it has none); a file of that
    name that lsgm did not write is a ``ValueError`` (it is never overwritten)."""
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    if not lines or lines[0] != _MANIFEST_HEADER:
        raise ValueError(
            f"{folder}: holds a file {MANIFEST} that lsgm did not write (lsgm keeps its list "
            "of the files it wrote there); "
            "move it, or choose another (new or empty) output folder."
        )
    return set(lines[1:])


def _check_manifest(folder: Path, contents: Iterable[str], what: str) -> None:
    """Refuse an output folder holding a file (or folder) that the command would replace but
    that lsgm did not write there (a user's own ``results.json``, ``viterbi.png``, ...)."""
    if not folder.is_dir():
        return
    ours = _manifest(folder, what)
    for name in contents:
        if os.path.lexists(folder / name) and name not in ours:
            raise ValueError(
                f"{folder}: this {what} already holds {name}, which lsgm did not write and "
                "would replace; move it, or choose another (new or empty) output folder."
            )


def _add_to_manifest(folder: Path, contents: Iterable[str]) -> None:
    listed = _manifest(folder)
    names = listed | set(contents)
    if names != listed:
        lines = [_MANIFEST_HEADER, *sorted(names)]
        atomic_write_text(folder / MANIFEST, "".join(f"{line}\n" for line in lines))


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


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: a process of another user holds that id
        return True
    return True


#: A temporary file without a writer's PID in its name (written by lsgm before 0.2) is taken
#: as abandoned once it is this many seconds old.
STALE_SECONDS = 3600


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` that no running writer owns: ``.NAME.PID.*.tmp*``
    whose process is gone, and ``.NAME.*.tmp*`` without a PID untouched for an hour."""
    prefix, suffix = f".{path.name}.", f".tmp{path.suffix}"
    with_pid = re.compile(rf"^{re.escape(prefix)}(\d+)\..+{re.escape(suffix)}$")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        stale_file = path.parent / name
        match = with_pid.match(name)
        with contextlib.suppress(OSError):
            if match:
                stale = not _pid_alive(int(match.group(1)))
            else:
                stale = now - stale_file.stat().st_mtime > STALE_SECONDS
            if stale:
                os.unlink(stale_file)


class OutputError(OSError):
    """An ``OSError`` while writing an output, whose message names the user's destination."""

    def __str__(self) -> str:
        return str(self.strerror)


def _write_error(path: Path, err: OSError) -> OSError:
    """An ``OSError`` about ``path`` (the user's destination, not the temporary file)."""
    if err.errno in DISK_FULL:
        text = (
            f"{path}: cannot write the file: the disk is full ({err.strerror}); free some "
            "space or choose another destination."
        )
    else:
        reason = err.strerror or str(err)
        text = f"{path}: cannot write the file ({reason}); choose another destination."
    return OutputError(err.errno, text)


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) to write; on success it is renamed
    over ``path``, on any error it is removed and ``path`` is left untouched.

    For libraries that write to a file name themselves (matplotlib ``savefig``, mido)::

        with atomic_path("out/plot.png") as tmp:
            fig.savefig(tmp)

    An ``OSError`` while writing is re-raised naming ``path`` (and "the disk is full" for
    ``ENOSPC``/``EDQUOT``). After an interrupt (:func:`mark_interrupted`) nothing is renamed
    into place: ``KeyboardInterrupt`` is raised instead.
    """
    path = Path(path)
    check_writable_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
    except OSError as err:
        raise _write_error(path, err) from err
    os.close(fd)
    _LIVE_TEMPS.add(tmp)
    try:
        try:
            yield Path(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp creates 0600; give the file the permissions open() would (0666 & ~umask)
            os.chmod(tmp, 0o666 & ~_umask())
            if _INTERRUPTED:
                raise KeyboardInterrupt
            if _DEFERRED is not None:
                _DEFERRED.append((tmp, path))
                return
            os.replace(tmp, path)
        except OutputError:
            raise
        except OSError as err:
            raise _write_error(path, err) from err
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        if _DEFERRED is None or all(t != tmp for t, _ in _DEFERRED):
            _LIVE_TEMPS.discard(tmp)
    _fsync_dir(path.parent)
    _remove_stale_temporaries(path)


@contextlib.contextmanager
def deferred_outputs() -> Iterator[None]:
    """All or nothing for a command that writes several files: inside this block every
    :func:`atomic_path` output is written to its temporary file, and all of them are renamed
    into place only when the block ends without an error or an interrupt; otherwise every
    temporary file is removed and no target changes. (Not for training checkpoints, which
    must land as they are written.)"""
    global _DEFERRED
    if _DEFERRED is not None:  # nested: the outer block commits
        yield
        return
    pending: list[tuple[str, Path]] = []
    _DEFERRED = pending
    try:
        try:
            yield
        finally:
            _DEFERRED = None
        if _INTERRUPTED:
            raise KeyboardInterrupt
        while pending:
            tmp, path = pending[0]
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise _write_error(path, err) from err
            pending.pop(0)
            _LIVE_TEMPS.discard(tmp)
            _fsync_dir(path.parent)
            _remove_stale_temporaries(path)
    except BaseException:
        for tmp, _ in pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _LIVE_TEMPS.discard(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
