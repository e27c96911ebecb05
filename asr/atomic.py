"""Atomic writes: a file or directory appears complete under its final name, or not at all.

The content is written under a temporary name in the same directory (same file system), flushed to disk (fsync),
then renamed into place; on an error the temporary is removed and nothing at the final name changes.

    with atomic_path("out/model.onnx") as tmp:      # tmp keeps the name's suffixes (".tmp-123-model.onnx")
        export_to(tmp)
    write_text_atomic("summary.json", text)
    if not done_with(out / ".done", settings): ...; mark_done(out / ".done", settings)   # idempotent steps
    with atomic_dir("exp/model") as tmp:             # a whole directory, replacing an existing one
        save_files_into(tmp)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{os.getpid()}-{path.name}"
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def done_with(marker: Path, settings: dict) -> bool:
    """Whether the done-marker ``marker`` is there, written by :func:`mark_done` with these ``settings`` (an empty
    marker, from before the settings were kept, counts as them). Made with other settings: an error naming the
    output, rather than the old result passed off as the one asked for."""
    if not marker.exists():
        return False
    made = marker.read_text().strip()
    if made and json.loads(made) != settings:
        raise ValueError(f"{marker.parent}: made with other settings ({made}); remove it or choose another "
                         "directory")
    return True


def mark_done(marker: Path, settings: dict) -> None:
    """Write the done-marker that :func:`done_with` reads: the settings the output was made with."""
    write_text_atomic(marker, json.dumps(settings))


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new temporary directory beside ``path``; on success its files are fsynced and it replaces
    ``path`` (an existing directory there is removed only after the new one is complete)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        # mkdtemp (and some writers) create owner-only files: give the result the usual permissions
        os.chmod(tmp, 0o777 & ~umask)
        for f in tmp.rglob("*"):
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~umask)
            if f.is_file():
                _fsync(f)
        old = None
        if path.exists():
            old = path.parent / f".old-{os.getpid()}-{path.name}"
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
