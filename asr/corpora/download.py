"""Verified, resumable downloads of OpenSLR resources, on lhotse's ``resumable_download``.

lhotse resumes with an HTTP Range request but checks nothing: a connection dropped midway leaves a short file that
it reports as complete, and nothing compares the result with the published md5 sums. This module wraps it:
the download is resumed until the file has the size the server announced, then checked against the md5 sums the
mirror publishes next to the files (``<base_url>/<resource>/md5sum.txt``, as OpenSLR does) or, where the mirror has
none, the sums published on openslr.org for LibriSpeech. A mismatch is an error that names the file and keeps it
(rerun to resume an interrupted download; delete it to start over). Tarballs are extracted with ``filter="data"``
into a temporary directory and moved into place, with a done-marker per part.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from lhotse.utils import resumable_download
from tqdm.auto import tqdm

from asr.atomic import atomic_path

log = logging.getLogger(__name__)

OPENSLR = "https://www.openslr.org/resources"
LIBRISPEECH_PARTS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
                     "train-other-500")
MINI_LIBRISPEECH_PARTS = ("dev-clean-2", "train-clean-5")
LM_TEXT = "librispeech-lm-norm.txt.gz"  # OpenSLR 11: the LibriSpeech LM corpus (books not in dev/test)
# OpenSLR 11: the word 3-gram of that corpus over its 200,000-word vocabulary, pruned (1e-7), as ARPA; unpacked
# beside it (KenLM reads plain ARPA)
LM_ARPA = "3-gram.pruned.1e-7.arpa.gz"
LM_FILES = (LM_TEXT, LM_ARPA)  # single files, not tarballs
RESOURCE = {**{p: "12" for p in LIBRISPEECH_PARTS}, **{p: "31" for p in MINI_LIBRISPEECH_PARTS},
            **{f: "11" for f in LM_FILES}}
# md5 sums published by OpenSLR (https://www.openslr.org/resources/12/md5sum.txt and resources/11/md5sum.txt)
PUBLISHED_MD5 = {
    "dev-clean.tar.gz": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other.tar.gz": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean.tar.gz": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other.tar.gz": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100.tar.gz": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360.tar.gz": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500.tar.gz": "d1a0fd59409feb2c614ce4d30c387708",
    LM_TEXT: "c83c64c726a1aedfe65f80aa311de402",
    # https://www.openslr.org/resources/31/md5sum.txt
    "dev-clean-2.tar.gz": "6d7ab67ac6a1d2c993d050e16d61080d",
    "train-clean-5.tar.gz": "5df7d4e78065366204ca6845bb08f490",
}
SUBSET_SIZES = {"100": ("train-clean-100",), "460": ("train-clean-100", "train-clean-360"),
                "960": ("train-clean-100", "train-clean-360", "train-other-500")}
EVAL_PARTS = ("dev-clean", "dev-other", "test-clean", "test-other")
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class ChecksumError(RuntimeError):
    pass


def md5sum(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def expand_parts(parts: str | list[str]) -> list[str]:
    """``librispeech``, ``mini_librispeech``, ``100``/``460``/``960`` (training hours + all dev/test parts), or
    part names."""
    out: list[str] = []
    for part in [parts] if isinstance(parts, str) else parts:
        if part == "librispeech":
            out += LIBRISPEECH_PARTS
        elif part == "mini_librispeech":
            out += MINI_LIBRISPEECH_PARTS
        elif part in SUBSET_SIZES:
            out += [*SUBSET_SIZES[part], *EVAL_PARTS]
        elif part in RESOURCE:
            out.append(part)
        else:
            raise ValueError(f"unknown LibriSpeech part {part!r}: choose from {', '.join(RESOURCE)}, librispeech, "
                             f"mini_librispeech, 100, 460, 960")
    return list(dict.fromkeys(out))


def file_name(part: str) -> str:
    return part if part in LM_FILES else f"{part}.tar.gz"


def published_md5(base_url: str, resource: str) -> tuple[dict[str, str], str]:
    """The mirror's ``md5sum.txt`` for ``resource`` if it has one, else the sums published on openslr.org."""
    url = f"{base_url.rstrip('/')}/{resource}/md5sum.txt"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
    except (*NETWORK_ERRORS, UnicodeDecodeError) as e:
        log.info("%s: not available (%s); using the sums published on openslr.org", url, e)
        return dict(PUBLISHED_MD5), "openslr.org"
    sums = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and len(fields[0]) == 32:
            sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums, url


def remote_size(url: str) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else None
    except (*NETWORK_ERRORS, ValueError):
        return None


def fetch(url: str, path: Path, md5: str | None, source: str = "", retries: int = 5, verify: bool = True) -> Path:
    """Download ``url`` to ``path``, resuming a partial file, and check its md5; idempotent. A file with no known
    sum is an error unless ``verify`` is off; a complete file whose sum differs is deleted."""
    verified = path.with_name(f".{path.name}.md5-ok")
    if verified.exists() and path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    size = remote_size(url)
    for attempt in range(retries + 1):
        try:
            resumable_download(url, filename=path, completed_file_size=size)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{url}: HTTP {e.code} {e.reason}") from e
        except NETWORK_ERRORS as e:
            log.warning("%s: interrupted (%s), resuming (%d/%d)", url, e, attempt + 1, retries)
            continue
        if size is None or path.stat().st_size >= size:
            break
        log.warning("%s: connection closed at %d of %d bytes, resuming (%d/%d)", url, path.stat().st_size, size,
                    attempt + 1, retries)
    else:
        raise RuntimeError(f"{url}: still incomplete after {retries} retries; the partial file {path} is kept, "
                           f"rerun to resume")
    if not verify:
        log.warning("%s: not verified (--no-verify)", path)
        return path  # no verified-marker: a later run with verification checks it
    if md5 is None:
        raise ChecksumError(f"{path}: no published md5 sum to check it against ({source}); the file is kept but "
                            f"not extracted. Pass --no-verify to use it unverified")
    got = md5sum(path)
    if got != md5:
        path.unlink()
        raise ChecksumError(f"{path}: md5 {got} does not match the published {md5} ({source}); the file was "
                            f"deleted (complete in size, so not a cut-short download): rerun to download it "
                            f"again, or check the mirror")
    verified.touch()
    return path


def extract(tar_path: Path, target_dir: Path, part: str) -> Path:
    """Extract ``LibriSpeech/<part>`` (and the top-level files) from ``tar_path``; idempotent, atomic per part."""
    corpus = target_dir / "LibriSpeech"
    part_dir = corpus / part
    done = part_dir / ".completed"
    if done.exists():
        return part_dir
    tmp = target_dir / f".extract-{part}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            for member in tqdm(members, desc=f"Extracting {tar_path.name}", unit="file"):
                tar.extract(member, tmp, filter="data")  # no absolute paths, links out of the tree, devices
    except (tarfile.TarError, OSError, EOFError) as e:
        raise RuntimeError(f"{tar_path}: cannot extract ({e}); delete it to download it again") from e
    extracted = tmp / "LibriSpeech" / part
    if not extracted.is_dir():
        raise RuntimeError(f"{tar_path}: has no LibriSpeech/{part}/ directory")
    corpus.mkdir(parents=True, exist_ok=True)
    for extra in (tmp / "LibriSpeech").iterdir():  # README.TXT, SPEAKERS.TXT, ...: keep what is already there
        if extra.is_file() and not (corpus / extra.name).exists():
            extra.replace(corpus / extra.name)
    shutil.rmtree(part_dir, ignore_errors=True)
    extracted.replace(part_dir)
    shutil.rmtree(tmp)
    done.touch()
    return part_dir


def download_librispeech(target_dir: str | Path, parts: str | list[str] = "mini_librispeech",
                         base_url: str = OPENSLR, lm_text: bool = False, keep_archives: bool = True,
                         verify: bool = True, lm_arpa: bool = False) -> Path:
    """Download, verify and extract LibriSpeech parts (and the LM text, the pruned word 3-gram, unpacked to
    ``target_dir/3-gram.pruned.1e-7.arpa``) under ``target_dir``; returns ``target_dir/LibriSpeech``. Rerunning
    resumes partial downloads and skips finished parts."""
    target_dir = Path(target_dir)
    names = expand_parts(parts) + ([LM_TEXT] if lm_text else []) + ([LM_ARPA] if lm_arpa else [])
    sums: dict[str, tuple[dict[str, str], str]] = {}
    arpa = target_dir / Path(LM_ARPA).stem  # the 3-gram, unpacked
    for part in names:
        resource = RESOURCE[part]
        if part == LM_ARPA and arpa.exists():
            log.info("%s: already downloaded and unpacked", part)
            continue
        if part not in LM_FILES and (target_dir / "LibriSpeech" / part / ".completed").exists():
            log.info("%s: already downloaded and extracted", part)
            continue
        if resource not in sums:
            sums[resource] = published_md5(base_url, resource)
        table, source = sums[resource]
        name = file_name(part)
        path = fetch(f"{base_url.rstrip('/')}/{resource}/{name}", target_dir / name, table.get(name), source,
                     verify=verify)
        if part == LM_ARPA:
            gunzip(path, arpa)
        elif part != LM_TEXT:
            extract(path, target_dir, part)
            if not keep_archives:
                path.unlink()
    return target_dir / "LibriSpeech"


def gunzip(path: Path, out: Path) -> Path:
    """``path`` (gzip) unpacked to ``out``, atomically (a cut-short file is not left behind as ``out``)."""
    try:
        with gzip.open(path, "rb") as src, atomic_path(out) as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError) as e:
        raise RuntimeError(f"{path}: cannot unpack ({e})") from e
    return out
