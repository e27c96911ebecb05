import gzip
import hashlib
import random
import shutil
import tarfile

import numpy as np
import pytest
import soundfile as sf

from asr.corpora import synthetic
from asr.corpora.download import md5sum
from asr.corpora.plans import PLANS, CorpusPlan, SubsetPlan
from asr.corpora.synthetic import load_sentence_pool, make_corpus, make_speakers
from asr.text import Tokenizer


def test_layout_is_librispeech(tiny_corpus):
    corpus = tiny_corpus / "LibriSpeech"
    assert sorted(p.name for p in corpus.iterdir() if p.is_dir()) == ["dev-clean-2", "test-clean-2", "train-clean-5"]
    flacs = sorted((corpus / "train-clean-5").rglob("*.flac"))
    assert len(flacs) == 3 * 1 * 4
    for flac in flacs:
        spk, chapter, name = flac.parent.parent.name, flac.parent.name, flac.stem
        assert name.startswith(f"{spk}-{chapter}-") and len(name.split("-")[2]) == 4
        info = sf.info(flac)
        assert info.samplerate == 16000 and info.channels == 1 and info.frames > 16000 * 0.5
    trans = sorted((corpus / "train-clean-5").rglob("*.trans.txt"))
    tok = Tokenizer()
    for t in trans:
        spk, chapter = t.parent.parent.name, t.parent.name
        assert t.name == f"{spk}-{chapter}.trans.txt"
        for line in t.read_text().splitlines():
            utt, text = line.split(" ", 1)
            assert (t.parent / f"{utt}.flac").is_file()
            assert 3 <= len(text.split()) <= 25 and not tok.unknown_chars(text) and text == text.upper()


def test_speakers_and_sentences_disjoint_across_subsets(tiny_corpus):
    corpus = tiny_corpus / "LibriSpeech"
    speakers, sentences = {}, {}
    for subset in ("train-clean-5", "dev-clean-2", "test-clean-2"):
        speakers[subset] = {p.name for p in (corpus / subset).iterdir() if p.is_dir()}
        sentences[subset] = {line.split(" ", 1)[1] for t in (corpus / subset).rglob("*.trans.txt")
                             for line in t.read_text().splitlines()}
    assert not speakers["train-clean-5"] & (speakers["dev-clean-2"] | speakers["test-clean-2"])
    assert not speakers["dev-clean-2"] & speakers["test-clean-2"]
    assert not sentences["test-clean-2"] & (sentences["train-clean-5"] | sentences["dev-clean-2"])
    lm_text = set((tiny_corpus / "lm-text.txt").read_text().splitlines())
    assert sentences["train-clean-5"] <= lm_text and not lm_text & sentences["test-clean-2"]


def test_same_plan_and_seed_give_identical_bytes(tiny_corpus, tmp_path):
    again = make_corpus(tmp_path, "tiny", seed=0, tarballs=True).parent

    def digest(root):
        return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".completed"}

    assert digest(again) == digest(tiny_corpus)


def test_tarballs_and_md5_as_openslr(tiny_corpus, tmp_path):
    sums = dict(reversed(line.split("  ")) for line in (tiny_corpus / "md5sum.txt").read_text().splitlines())
    assert set(sums) == {"train-clean-5.tar.gz", "dev-clean-2.tar.gz", "test-clean-2.tar.gz",
                         "librispeech-lm-norm.txt.gz", "3-gram.pruned.1e-7.arpa.gz"}
    lm_text = gzip.decompress((tiny_corpus / "librispeech-lm-norm.txt.gz").read_bytes()).decode()
    assert lm_text == (tiny_corpus / "lm-text.txt").read_text()
    # the word 3-gram of that text, an ARPA file KenLM reads
    from asr.ngram import perplexity

    arpa = tmp_path / "3gram.arpa"
    arpa.write_bytes(gzip.decompress((tiny_corpus / "3-gram.pruned.1e-7.arpa.gz").read_bytes()))
    assert arpa.read_text().startswith("\\data\\\nngram 1=") and "ngram 3=" in arpa.read_text()
    ppl = perplexity(arpa, [tiny_corpus / "lm-text.txt"])
    assert ppl.unit == "word" and ppl.oov == 0 and 1 < ppl.perplexity < 50
    for name, md5 in sums.items():
        assert md5sum(tiny_corpus / name) == md5
    with tarfile.open(tiny_corpus / "dev-clean-2.tar.gz") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    assert "LibriSpeech/SPEAKERS.TXT" in names and all(n.startswith("LibriSpeech") for n in names)
    assert sorted((tmp_path / "LibriSpeech/dev-clean-2").rglob("*.flac"))


def test_mini_plan_sizes():
    train, dev, test = PLANS["mini"].subsets
    assert (train.name, dev.name) == ("train-clean-5", "dev-clean-2")
    assert train.speakers >= 30
    speakers = make_speakers(PLANS["mini"], 0)
    engines = {s.engine for s in speakers["train-clean-5"]}
    assert engines == {"espeak", "flite", "festival"}
    assert all("slt" not in s.voice for group in speakers.values() for s in group)
    assert sum(s.engine != "espeak" for s in speakers["train-clean-5"]) == 0.4 * train.speakers
    names = {sub: {s.name for s in group} for sub, group in speakers.items()}
    assert not names["train-clean-5"] & names["dev-clean-2"] and not names["train-clean-5"] & names["test-clean-2"]


def test_evaluation_speakers_do_not_depend_on_the_training_size():
    """Growing the training subset must leave dev and test as they are, so results stay comparable."""
    small, large = (make_speakers(CorpusPlan((SubsetPlan("train-clean-5", n, 1, 6), SubsetPlan("dev-clean-2", 8, 1, 16),
                                                SubsetPlan("test-clean-2", 8, 1, 16))), 0) for n in (40, 400))
    assert small["dev-clean-2"] == large["dev-clean-2"] and small["test-clean-2"] == large["test-clean-2"]
    assert list(large) == ["train-clean-5", "dev-clean-2", "test-clean-2"]


def test_sentence_pool_is_normalized_and_large():
    pool = load_sentence_pool()
    assert len(pool) > 20000
    tok = Tokenizer()
    assert all(3 <= len(s.split()) <= 25 and not tok.unknown_chars(s) for s in pool[:2000])
    assert not any("DASHWOOD" in s for s in pool)  # Sense and Sensibility is kept out
    # transcripts say what the TTS voices say: titles written out, no (mock-)German fortunes
    words = {w for s in pool for w in s.split()}
    assert not words & {"MR", "MRS", "DR", "ST"} and "MISTER" in words
    assert not any(sum(w in {"UND", "DAS", "NICHT", "IST", "ICH"} for w in s.split()) >= 2 for s in pool)


def test_missing_tts_engine_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install .*espeak-ng"):
        make_corpus(tmp_path, "tiny")
    assert synthetic.ENGINE_PACKAGES["text2wave"].startswith("festival")


def test_make_corpus_extends_check_refuses_a_plan_that_extends_another(tmp_path):
    """`asr make-corpus --plan P --extends BASE` (the recipes' --extra-plan) stops before making anything when P is
    not BASE's extension, and goes on when it is."""
    import subprocess
    import sys

    def make(plan: str, base: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "asr.cli", "make-corpus", str(tmp_path / plan), "--plan", plan,
                               "--extends", base], capture_output=True, text=True, timeout=600)

    wrong = make("natural-extra", "mini")
    assert wrong.returncode == 1
    assert "--plan natural-extra does not extend mini (it extends mini-natural)" in wrong.stderr
    assert not (tmp_path / "natural-extra").exists()
    assert PLANS["tiny-extra"].extends == "tiny"
    right = make("tiny-extra", "tiny")
    assert right.returncode == 0, right.stderr[-2000:]
    assert sorted((tmp_path / "tiny-extra" / "LibriSpeech" / "train-clean-5").rglob("*.flac"))


def test_mbrola_extra_plan_adds_mbrola_speakers_with_ids_of_their_own():
    """mbrola-extra, like natural-extra, adds training speakers beside mini-natural; both are trained on together
    (`data.train_cuts`), so no speaker id (hence no utterance id) may be in two of the three training sets."""
    speakers = make_speakers(PLANS["mbrola-extra"], 0)
    train = speakers["train-clean-5"]
    assert len(train) == PLANS["mbrola-extra"].subsets[0].speakers
    assert sum(s.engine == "mbrola" for s in train) == len(train) - 2  # one each of flite and festival, as always
    mbrola = [s for s in train if s.engine == "mbrola"]
    assert {s.voice for s in mbrola} == {f"mb-{v}" for v in synthetic.MBROLA_VOICES}
    assert all(s.sex == ("F" if s.voice == "mb-us1" else "M") for s in mbrola)
    assert len({s.name for s in train}) == len(train)
    base = make_speakers(PLANS["mini-natural"], 0)
    assert speakers["dev-clean-2"] == base["dev-clean-2"] and speakers["test-clean-2"] == base["test-clean-2"]
    ids = [{s.id for s in make_speakers(PLANS[p], 0)["train-clean-5"]}
           for p in ("mini-natural", "natural-extra", "mbrola-extra")]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert min(ids[2]) == PLANS["mbrola-extra"].first_id


def test_mbrola_without_its_voices_names_the_packages(monkeypatch, tmp_path):
    """The mbrola program alone speaks nothing: a plan with MBROLA speakers stops before making anything when
    a voice database is missing, and says which packages (and Debian section) have them."""
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(synthetic, "MBROLA_DIR", tmp_path / "mbrola")
    plan = CorpusPlan((SubsetPlan("train-clean-5", 4, 1, 1, mbrola_share=0.5), SubsetPlan("dev-clean-2", 1, 1, 1),
                       SubsetPlan("test-clean-2", 1, 1, 1)))
    with pytest.raises(RuntimeError, match=r"apt-get install mbrola mbrola-us1 .*mbrola-en1.*non-free"):
        make_corpus(tmp_path / "corpus", plan)
    assert not (tmp_path / "corpus").exists()


def test_freetts_extra_plan_adds_freetts_speakers_with_ids_of_their_own():
    """freetts-extra adds FreeTTS speakers beside mini-natural with ids no other extension plan has, so that it can be
    trained on beside natural-extra and mbrola-extra; its dev and test subsets are mini-natural's."""
    speakers = make_speakers(PLANS["freetts-extra"], 0)
    train = speakers["train-clean-5"]
    assert len(train) == PLANS["freetts-extra"].subsets[0].speakers
    freetts = [s for s in train if s.engine == "freetts"]
    assert len(freetts) == len(train) - 2  # one each of flite and festival, as always
    assert {s.voice for s in freetts} == set(synthetic.FREETTS_VOICES)
    assert len({s.name for s in train}) == len(train)
    base = make_speakers(PLANS["mini-natural"], 0)
    assert speakers["dev-clean-2"] == base["dev-clean-2"] and speakers["test-clean-2"] == base["test-clean-2"]
    ids = [{s.id for s in make_speakers(PLANS[p], 0)["train-clean-5"]}
           for p in ("mini-natural", "natural-extra", "mbrola-extra", "freetts-extra")]
    assert all(not ids[i] & ids[j] for i in range(4) for j in range(i + 1, 4))
    assert min(ids[3]) == PLANS["freetts-extra"].first_id


def test_freetts_without_its_jar_names_the_package(monkeypatch, tmp_path):
    """Java alone speaks nothing: a plan with FreeTTS speakers stops before making anything and names the package."""
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(synthetic, "FREETTS_JAR", tmp_path / "freetts.jar")
    plan = CorpusPlan((SubsetPlan("train-clean-5", 4, 1, 1, freetts_share=0.5), SubsetPlan("dev-clean-2", 1, 1, 1),
                       SubsetPlan("test-clean-2", 1, 1, 1)))
    with pytest.raises(RuntimeError, match=r"TTS engine\(s\) not found: freetts\. Install them with: apt-get install "
                                           r"freetts$"):
        make_corpus(tmp_path / "corpus", plan)
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "java" else f"/usr/bin/{name}")
    with pytest.raises(RuntimeError, match=r"not found: java, freetts\. Install them with: apt-get install freetts$"):
        make_corpus(tmp_path / "corpus", plan)  # no Java either: the one package brings both
    assert not (tmp_path / "corpus").exists()


def test_freetts_writing_nothing_is_an_error_that_says_why(monkeypatch):
    """FreeTTS exits 0 when it cannot write its audio file: that is an error naming the voice, text and its words,
    not an unreadable file further on. Without Java: the engine's run is replaced by one that writes nothing."""
    import subprocess

    from asr.corpora.synthetic import Speaker, synthesize

    def run(cmd, **kwargs):
        assert cmd[0] == "java" and "-Dcom.sun.speech.freetts.voice.speakingRate=125.0" in cmd  # 150 / rate 1.2
        return subprocess.CompletedProcess(cmd, 0, b"Can't write audio to /tmp/x/out.wav\n", b"")

    monkeypatch.setattr(synthetic.subprocess, "run", run)
    with pytest.raises(RuntimeError, match=r"FreeTTS wrote no audio for freetts:kevin16:r1.20:p1.00 saying 'hello': "
                                           r"Can't write audio"):
        synthesize(Speaker(3, "freetts", "kevin16", 1.2, 1.0, "M"), "HELLO")


@pytest.mark.skipif(not synthetic.FREETTS_JAR.is_file() or shutil.which("java") is None,
                    reason="FreeTTS not installed (Debian: freetts, with a Java runtime; tools/setup.sh --freetts)")
def test_freetts_voices_speak_at_their_rate_and_band():
    """kevin16 and kevin speak (energy that comes and goes), at 16 kHz; the rate sets the length (FreeTTS's
    speakingRate property works backwards: the engine's own default would make both the same length); kevin, an
    8 kHz voice, has nothing above 4 kHz; the pitch factor moves the pitch (by resampling, as festival's)."""
    import librosa

    from asr.corpora.synthetic import Speaker, synthesize

    text = "the north wind and the sun were disputing which was the stronger"
    slow, fast = (synthesize(Speaker(3, "freetts", "kevin16", rate, 1.0, "M"), text) for rate in (0.85, 1.2))
    assert 1.25 < len(slow) / len(fast) < 1.55, (len(slow), len(fast))  # 1.2 / 0.85 = 1.41 (with equal pads)
    for audio in (slow, fast):
        frames = (audio[: len(audio) // 400 * 400].reshape(-1, 400) ** 2).mean(axis=1)
        assert (frames > 1e-3).mean() > 0.4 and (frames < 1e-5).mean() > 0.02
    spectrum = lambda a: np.abs(np.fft.rfft(a)) ** 2  # noqa: E731
    freqs = np.fft.rfftfreq(len(slow), 1 / synthetic.SAMPLE_RATE)
    assert spectrum(slow)[freqs > 4200].sum() / spectrum(slow).sum() > 1e-3  # 16 kHz: energy above 4 kHz
    narrow = synthesize(Speaker(3, "freetts", "kevin", 1.0, 1.0, "M"), text)
    freqs_n = np.fft.rfftfreq(len(narrow), 1 / synthetic.SAMPLE_RATE)
    assert spectrum(narrow)[freqs_n > 4200].sum() / spectrum(narrow).sum() < 1e-4
    f0 = {}
    for pitch in (0.9, 1.12):
        audio = synthesize(Speaker(3, "freetts", "kevin16", 1.0, pitch, "M"), text)
        track = librosa.yin(audio, fmin=50, fmax=400, sr=synthetic.SAMPLE_RATE)
        rms = librosa.feature.rms(y=audio)[0][: len(track)]
        f0[pitch] = float(np.median(track[: len(rms)][rms > 0.05]))
    assert 1.1 < f0[1.12] / f0[0.9] < 1.4, f0


@pytest.mark.skipif(not all((synthetic.MBROLA_DIR / v / v).is_file() for v in synthetic.MBROLA_VOICES)
                    or shutil.which("mbrola") is None,
                    reason="MBROLA and its English voices not installed (Debian non-free: mbrola mbrola-us1 ...)")
def test_mbrola_voices_speak():
    """Each of the four voices speaks (energy that comes and goes, not silence or a buzz), and in its own voice: us1,
    the one woman (MBROLA_VOICES's sexes), at a far higher pitch than the three men."""
    import librosa

    from asr.corpora.synthetic import Speaker, synthesize

    text = "the north wind and the sun were disputing which was the stronger"
    pitch = {}
    for voice, sex in synthetic.MBROLA_VOICES.items():
        audio = synthesize(Speaker(2, "mbrola", f"mb-{voice}", 1.0, 1.0, sex), text)
        assert 2.0 < len(audio) / synthetic.SAMPLE_RATE < 8.0
        assert abs(float(abs(audio).max()) - 0.5) < 1e-3  # scaled like every voice
        frames = (audio[: len(audio) // 400 * 400].reshape(-1, 400) ** 2).mean(axis=1)
        assert (frames > 1e-3).mean() > 0.4 and (frames < 1e-5).mean() > 0.02
        f0 = librosa.yin(audio, fmin=60, fmax=400, sr=synthetic.SAMPLE_RATE)
        rms = librosa.feature.rms(y=audio)[0][: len(f0)]
        pitch[voice] = float(np.median(f0[: len(rms)][rms > 0.05]))  # voiced, loud frames
    men = [pitch[v] for v, sex in synthetic.MBROLA_VOICES.items() if sex == "M"]
    assert all(70 < p < 150 for p in men) and pitch["us1"] > 1.5 * max(men), pitch


def test_text_extra_speaks_new_sentences_beside_mini_natural():
    """text-extra is trained together with mini-natural (--extra-plan): new training text, not mini-natural's
    sentences in other voices (natural-extra's), none of the dev / test sentences, and speaker ids of its own."""
    pool = load_sentence_pool()
    random.Random(0).shuffle(pool)
    base, n_eval = synthetic.plan_sentences(PLANS["mini-natural"], pool)
    text, n_eval_text = synthetic.plan_sentences(PLANS["text-extra"], pool)
    voices, _ = synthetic.plan_sentences(PLANS["natural-extra"], pool)
    assert n_eval == n_eval_text and text[1:] == base[1:]  # the same dev and test sentences
    assert len(text[0]) == 3000 and not set(text[0]) & set(base[0])
    assert not set(text[0]) & {s for part in base[1:] for s in part}
    assert set(voices[0]) <= set(base[0])  # the plans without new_sentences keep the extended plan's text
    ids = {s.id for s in make_speakers(PLANS["mini-natural"], seed=0)["train-clean-5"]}
    more = make_speakers(PLANS["text-extra"], seed=0)["train-clean-5"]
    assert len(more) == 500 and not ids & {s.id for s in more}
    with pytest.raises(ValueError, match="the pool has"):
        synthetic.plan_sentences(PLANS["text-extra"], pool[:5000])
