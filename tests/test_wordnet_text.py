"""`asr make-lm-text`: LM text from WordNet's data files (a stand-in dict directory in WordNet's exact format)."""

import pytest

from asr.cli import main
from asr.corpora.wordnet_text import DATA_FILES, find_wordnet, parse_data_line, wordnet_text

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
NOUN = (
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known or inferred to have its own "
    "distinct existence (living or nonliving)  \n"
    "07073447 10 n 01 sneeze 0 001 @ 00001740 n 0000 | a symptom of a cold; \"Pepper makes me sneeze\"; "
    "\"hold your breath\"; \"lovers and madmen have such seething brains\"- Shakespeare; "
    "\"a happy readiness of conversation\"--Jane Austen  \n"
    "07073448 10 n 01 year 0 001 @ 00001740 n 0000 | a period of time; \"in 1990 it rained\"; "
    "\"the café was closed for the winter\"; \"Pepper makes me sneeze\"; \"the dev set sentence\"  \n"
)


@pytest.fixture
def wordnet_dir(tmp_path):
    d = tmp_path / "dict"
    d.mkdir()
    for name in DATA_FILES:
        (d / name).write_text(HEADER + (NOUN if name == "data.noun" else ""), encoding="utf-8")
    return d


def test_a_data_line_gives_its_glosses_and_examples_without_attributed_quotes():
    glosses, examples = parse_data_line(NOUN.splitlines()[1])
    assert glosses == ["a symptom of a cold"]
    # attributed literary quotes are left out (Austen's novels include Sense and Sensibility, kept for outside tests)
    assert examples == ["Pepper makes me sneeze", "hold your breath"]
    assert parse_data_line(HEADER) == ([], [])


def test_sentences_are_normalized_deduplicated_and_dev_text_is_excluded(wordnet_dir, tmp_path):
    dev = tmp_path / "dev.txt"
    dev.write_text("THE DEV SET SENTENCE\n")
    text = wordnet_text(wordnet_dir, exclude=[dev])
    assert text.sentences[1:4] == ["PEPPER MAKES ME SNEEZE", "HOLD YOUR BREATH", "A SYMPTOM OF A COLD"]
    assert text.sentences[0].endswith("DISTINCT EXISTENCE LIVING OR NONLIVING")
    assert "THE CAFE WAS CLOSED FOR THE WINTER" in text.sentences  # accents folded as in transcripts
    assert "THE DEV SET SENTENCE" not in text.sentences
    assert not any("1990" in s for s in text.sentences)
    assert text.skipped == {"characters outside the token set": 1, "duplicate": 1, "in an exclude file": 1}
    assert "A PERIOD OF TIME" in text.sentences
    examples_only = wordnet_text(wordnet_dir, glosses=False)
    assert "A PERIOD OF TIME" not in examples_only.sentences and "HOLD YOUR BREATH" in examples_only.sentences


def test_cli_writes_the_text_and_names_a_missing_wordnet(wordnet_dir, tmp_path, capsys):
    out = tmp_path / "lm" / "wordnet.txt"
    assert main(["make-lm-text", str(out), "--wordnet", str(wordnet_dir), "--no-glosses"]) == 0
    lines = out.read_text().splitlines()
    assert lines == ["PEPPER MAKES ME SNEEZE", "HOLD YOUR BREATH", "THE CAFE WAS CLOSED FOR THE WINTER",
                     "THE DEV SET SENTENCE"]
    assert f"{out}: 4 sentences" in capsys.readouterr().out
    assert main(["make-lm-text", str(out), "--wordnet", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and "wordnet-base" in err
    assert out.read_text().splitlines() == lines  # what was written before stays


def test_real_wordnet_when_installed():
    try:
        directory = find_wordnet()
    except FileNotFoundError:
        pytest.skip("the Debian package wordnet-base is not installed (tools/setup.sh installs it)")
    text = wordnet_text(directory, glosses=False)
    assert len(text.sentences) > 30000
    assert "A HAPPY READINESS OF CONVERSATION" not in text.sentences  # WordNet's Jane Austen quote: left out
