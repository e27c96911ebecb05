"""Verified, resumable downloads against a local mirror of a tiny corpus in the LibriSpeech tarball format."""

import os
import subprocess
import sys
import tarfile

import pytest
from mirror import Mirror

from asr.corpora.download import (
    ChecksumError,
    download_librispeech,
    expand_parts,
    extract,
)


def test_download_verifies_extracts_and_skips_done_parts(tiny_librispeech, tmp_path):
    with Mirror(tiny_librispeech) as mirror:
        corpus = download_librispeech(tmp_path, ["dev-clean", "test-other"], mirror.url, lm_text=True)
        assert sorted((corpus / "dev-clean").rglob("*.flac")) and sorted((corpus / "test-other").rglob("*.flac"))
        assert (corpus / "SPEAKERS.TXT").is_file() and (tmp_path / "librispeech-lm-norm.txt.gz").is_file()
        assert any(p.endswith("/12/md5sum.txt") for _, p, _ in mirror.requests)
        n = len(mirror.requests)
        download_librispeech(tmp_path, ["dev-clean", "test-other"], mirror.url, lm_text=True)
        assert not [r for r in mirror.requests[n:] if r[0] == "GET" and r[1].endswith(".tar.gz")]


def test_the_pruned_word_3gram_is_fetched_checked_and_unpacked_once(tiny_librispeech, tmp_path):
    import gzip

    from asr.corpora.download import LM_ARPA

    with Mirror(tiny_librispeech) as mirror:
        download_librispeech(tmp_path, [], mirror.url, lm_arpa=True)
        assert any(p.endswith(f"/11/{LM_ARPA}") for _, p, _ in mirror.requests)
        arpa = tmp_path / "3-gram.pruned.1e-7.arpa"
        assert arpa.read_bytes() == gzip.decompress((tiny_librispeech / LM_ARPA).read_bytes())
        n = len(mirror.requests)
        download_librispeech(tmp_path, [], mirror.url, lm_arpa=True)
        assert len(mirror.requests) == n  # unpacked already: nothing fetched
        arpa.unlink()
        sums = (tiny_librispeech / "md5sum.txt").read_text()
        good = next(line.split()[0] for line in sums.splitlines() if line.endswith(LM_ARPA))
        mirror.overrides["md5sum.txt"] = sums.replace(good, "0" * 32).encode()
        (tmp_path / f".{LM_ARPA}.md5-ok").unlink()
        with pytest.raises(ChecksumError, match=r"3-gram\.pruned\.1e-7\.arpa\.gz: md5 .* does not match"):
            download_librispeech(tmp_path, [], mirror.url, lm_arpa=True)
        assert not arpa.exists()  # nothing unverified is unpacked


def test_interrupted_download_resumes_with_range(tiny_librispeech, tmp_path):
    size = (tiny_librispeech / "dev-clean.tar.gz").stat().st_size
    with Mirror(tiny_librispeech) as mirror:
        mirror.drop_after["dev-clean.tar.gz"] = size // 3  # the server hangs up a third of the way in
        corpus = download_librispeech(tmp_path, ["dev-clean"], mirror.url)
        assert mirror.ranged_gets("dev-clean.tar.gz") == [f"bytes={size // 3}-"]
    assert (tmp_path / "dev-clean.tar.gz").read_bytes() == (tiny_librispeech / "dev-clean.tar.gz").read_bytes()
    assert (corpus / "dev-clean" / ".completed").exists()


def test_partial_file_of_an_earlier_run_is_resumed(tiny_librispeech, tmp_path):
    full = (tiny_librispeech / "test-clean.tar.gz").read_bytes()
    (tmp_path / "test-clean.tar.gz").write_bytes(full[:1000])  # what an interrupted earlier run left
    with Mirror(tiny_librispeech) as mirror:
        download_librispeech(tmp_path, ["test-clean"], mirror.url)
        assert mirror.ranged_gets("test-clean.tar.gz") == ["bytes=1000-"]
    assert (tmp_path / "test-clean.tar.gz").read_bytes() == full


def test_md5_mismatch_names_the_file_and_deletes_it(tiny_librispeech, tmp_path):
    sums = (tiny_librispeech / "md5sum.txt").read_text()
    good = next(line.split()[0] for line in sums.splitlines() if line.endswith("dev-other.tar.gz"))
    with Mirror(tiny_librispeech) as mirror:
        mirror.overrides["md5sum.txt"] = sums.replace(good, "0" * 32).encode()
        with pytest.raises(ChecksumError, match=r"dev-other\.tar\.gz: md5 .* does not match the published 0{32}"):
            download_librispeech(tmp_path, ["dev-other"], mirror.url)
        assert not (tmp_path / "dev-other.tar.gz").exists()  # complete but wrong: deleted, never used
        assert not (tmp_path / "LibriSpeech" / "dev-other").exists()  # nothing unverified is extracted
        # the command line says the same and exits 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.run([sys.executable, "-m", "asr.cli", "download", str(tmp_path), "dev-other",
                               "--base-url", mirror.url], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1 and "dev-other.tar.gz: md5" in proc.stderr


def test_mirror_without_md5sum_uses_the_published_openslr_sums(tiny_librispeech, tmp_path):
    # a mirror with no md5sum.txt: the synthetic tarball cannot match the real dev-clean's published sum
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "dev-clean.tar.gz").write_bytes((tiny_librispeech / "dev-clean.tar.gz").read_bytes())
    with Mirror(tmp_path / "mirror") as bare:
        with pytest.raises(ChecksumError, match=r"published 42e2234ba48799c1f50f24a7926300a1 \(openslr.org\)"):
            download_librispeech(tmp_path / "out", ["dev-clean"], bare.url)
        # mini_librispeech has its published sums built in too (no unverified download with only a warning)
        (tmp_path / "mirror" / "dev-clean-2.tar.gz").write_bytes(b"not the real dev-clean-2")
        with pytest.raises(ChecksumError, match=r"published 6d7ab67ac6a1d2c993d050e16d61080d \(openslr.org\)"):
            download_librispeech(tmp_path / "out", ["dev-clean-2"], bare.url)
        # an unknown file (a mirror's own name) is an error unless --no-verify is given
        from asr.corpora.download import fetch

        (tmp_path / "mirror" / "other.bin").write_bytes(b"payload")
        with pytest.raises(ChecksumError, match="no published md5.*--no-verify"):
            fetch(f"{bare.url}/other.bin", tmp_path / "out" / "other.bin", None, "nowhere")
        fetch(f"{bare.url}/other.bin", tmp_path / "out" / "other.bin", None, "nowhere", verify=False)
        assert (tmp_path / "out" / "other.bin").read_bytes() == b"payload"
        assert not (tmp_path / "out" / ".other.bin.md5-ok").exists()  # unverified is never marked verified


def test_tarball_with_unsafe_members_is_refused(tmp_path):
    evil = tmp_path / "dev-clean.tar.gz"
    (tmp_path / "payload").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "payload", arcname="LibriSpeech/dev-clean/../../../escaped.txt")
    with pytest.raises(RuntimeError, match="dev-clean.tar.gz: cannot extract"):
        extract(evil, tmp_path / "out", "dev-clean")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_part_names_and_sizes():
    assert expand_parts("100") == ["train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other"]
    assert expand_parts(["960"])[:3] == ["train-clean-100", "train-clean-360", "train-other-500"]
    assert expand_parts("mini_librispeech") == ["dev-clean-2", "train-clean-5"]
    with pytest.raises(ValueError, match="unknown LibriSpeech part 'train-clean-50'"):
        expand_parts(["train-clean-50"])
