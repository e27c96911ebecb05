"""Corpus plans for ``asr make-corpus``: how many speakers each subset has, how many sentences each says, and which
engines' voices they get (``asr.corpora.synthetic`` draws the speakers and speaks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubsetPlan:
    name: str
    speakers: int
    chapters_per_speaker: int
    utterances_per_chapter: int
    flite_share: float = 0.15  # of the speakers (at least one of each engine when there are >= 3)
    festival_share: float = 0.1
    kokoro_share: float = 0.0  # neural voices (blends of Kokoro's five styles); needs the `voices` extra
    warp_share: float = 0.0  # speakers whose voice is re-made with other formants and pitch (`voices` extra)
    mbrola_share: float = 0.0  # MBROLA's diphone voices of real speakers (Debian non-free packages)
    freetts_share: float = 0.0  # FreeTTS's kevin16 / kevin (Debian's freetts package, Java)


@dataclass(frozen=True)
class CorpusPlan:
    subsets: tuple[SubsetPlan, ...]  # the first is the training subset
    # a plan whose training speakers this one adds to: the same evaluation speakers, new training voices and ids
    extends: str | None = None
    # the first training speaker id of a plan that extends another (default: after the extended plan's ids);
    # two plans that extend the same one and are trained on together need ids apart
    first_id: int | None = None
    # a plan that extends another: its training speakers say the pool's next sentences after the extended plan's
    # training sentences (new text as well as new voices) instead of the same sentences in other voices
    new_sentences: bool = False


# mini-natural's dev and test subsets: 8 unseen speakers each, a quarter of them Kokoro blends; the plans that extend
# it have the same ones (drawn first, with the same seed)
NATURAL_EVAL = (SubsetPlan("dev-clean-2", 8, 1, 16, kokoro_share=0.25),
                SubsetPlan("test-clean-2", 8, 1, 16, kokoro_share=0.25))

PLANS = {
    # ~2.6 h of training speech from 400 speakers, 6 sentences each: voice variety is what carries over to unseen
    # speakers (64 -> 160 voices cut test WER by 16 points at equal training time); flite and festival, with only
    # 3 and 2 base voices, get 20% of the training speakers each. dev and test: ~8 min each, 8 unseen speakers.
    "mini": CorpusPlan((SubsetPlan("train-clean-5", 400, 1, 6, flite_share=0.2, festival_share=0.2),
                        SubsetPlan("dev-clean-2", 8, 1, 16), SubsetPlan("test-clean-2", 8, 1, 16))),
    # the mini plan with natural voices: a third of the speakers are Kokoro blends (a continuum of neural voices,
    # far closer to real speech than the formant and diphone engines), the rest as in "mini".
    "mini-natural": CorpusPlan((SubsetPlan("train-clean-5", 400, 1, 6, flite_share=0.15, festival_share=0.15,
                                           kokoro_share=0.35),
                                *NATURAL_EVAL)),
    # 250 more Kokoro speakers (and one each of flite and festival, which every plan keeps) to add to "mini-natural"
    # for the default model (~2 h): the same dev / test speakers and sentences (the eval subsets are drawn first,
    # with the same seed), training sentences of mini-natural's in other voices.
    "natural-extra": CorpusPlan((SubsetPlan("train-clean-5", 250, 1, 6, flite_share=0.004, festival_share=0.004,
                                            kokoro_share=0.992),
                                 *NATURAL_EVAL), extends="mini-natural"),
    # 250 MBROLA speakers (its four English voices at random rates and pitches; one each of flite and festival)
    # to add to "mini-natural" like natural-extra, with ids of their own (from 40000; natural-extra's reach 20476)
    # so that both can be added
    "mbrola-extra": CorpusPlan((SubsetPlan("train-clean-5", 250, 1, 6, flite_share=0.004, festival_share=0.004,
                                           mbrola_share=0.992),
                                *NATURAL_EVAL), extends="mini-natural", first_id=40000),
    # 60 FreeTTS speakers (kevin16 and its 8 kHz twin kevin at random rates and pitches; one each of flite and
    # festival) to add to "mini-natural" like natural-extra, with ids of their own (from 60000; mbrola-extra's reach
    # ~48000). Few: FreeTTS has the kal diphones that festival and flite already speak.
    "freetts-extra": CorpusPlan((SubsetPlan("train-clean-5", 60, 1, 6, flite_share=0.017, festival_share=0.017,
                                            freetts_share=0.966),
                                 *NATURAL_EVAL), extends="mini-natural", first_id=60000),
    # 3000 utterances of new text (the pool's sentences after mini-natural's training sentences) to add to
    # "mini-natural": over a frozen pretrained encoder the character mapping wants words and spellings more than
    # voices, so mostly the fast engines (espeak-ng, MBROLA, flite, festival; ~10 min on 2 cores) and a tenth
    # Kokoro blends; ids from 80000
    "text-extra": CorpusPlan((SubsetPlan("train-clean-5", 500, 1, 6, flite_share=0.1, festival_share=0.1,
                                         kokoro_share=0.1, mbrola_share=0.3),
                              *NATURAL_EVAL), extends="mini-natural", first_id=80000, new_sentences=True),
    # the mini plan with half of the training speakers' voices warped (formants x 0.84-1.2, pitch to match, by
    # Praat): the same dev and test subsets as "mini".
    "mini-warp": CorpusPlan((SubsetPlan("train-clean-5", 400, 1, 6, flite_share=0.2, festival_share=0.2,
                                        warp_share=0.5),
                             SubsetPlan("dev-clean-2", 8, 1, 16), SubsetPlan("test-clean-2", 8, 1, 16))),
    # a few seconds of speech per subset, for tests and smoke runs.
    "tiny": CorpusPlan((SubsetPlan("train-clean-5", 3, 1, 4), SubsetPlan("dev-clean-2", 2, 1, 2),
                        SubsetPlan("test-clean-2", 2, 1, 2))),
    # two more training speakers beside "tiny" (tests of --extra-plan): its dev and test subsets are tiny's.
    "tiny-extra": CorpusPlan((SubsetPlan("train-clean-5", 2, 1, 2), SubsetPlan("dev-clean-2", 2, 1, 2),
                              SubsetPlan("test-clean-2", 2, 1, 2)), extends="tiny"),
    # the same, named like the full LibriSpeech parts: a local stand-in for OpenSLR 12 (recipe tests, mirrors).
    "tiny-librispeech": CorpusPlan((SubsetPlan("train-clean-100", 3, 1, 4), SubsetPlan("dev-clean", 2, 1, 2),
                                    SubsetPlan("dev-other", 2, 1, 2), SubsetPlan("test-clean", 2, 1, 2),
                                    SubsetPlan("test-other", 2, 1, 2))),
}
