"""asr/corpora/fotaq_script.py: the lines of Flight of the Amazon Queen's dialogue files, by speech file name."""

import logging

import pytest

from asr.corpora.fotaq_script import dialogue_lines, read_script, segments


def _text(text: str, align: int) -> bytes:
    raw = bytes([len(text)]) + text.encode("latin-1")
    return raw + b"\0" * (-len(raw) % align if text else 0)


def _table(lines: dict[int, str]) -> bytes:
    return b"".join(b"\0\0" + i.to_bytes(2, "big") + _text(t, 4) for i, t in lines.items())


def dog_file(talk_key: int, joe: dict[int, str], person: dict[int, str], again: tuple[str, str] = ("0", "0"),
             levels: int = 2) -> bytes:
    """A dialogue file laid out as the game's: bank header, header, tree (zeros here), Joe's, the person's and the
    second visit's lines."""
    joe_at = 32 + levels * 96
    joe_table = _table(joe)
    person_at = joe_at + len(joe_table)
    person_table = _table(person)
    again_at = person_at + len(person_table)
    header = b"".join(n.to_bytes(2, "big", signed=True) for n in (-levels, 7, talk_key, len(joe), len(person)))
    header += bytes(12) + person_at.to_bytes(2, "big") + again_at.to_bytes(2, "big") + again_at.to_bytes(2, "big")
    body = header.ljust(joe_at, b"\0") + joe_table + person_table + _text(again[0], 2) + _text(again[1], 2)
    return b"AmBk\0\x0f\0\1" + len(body).to_bytes(4, "big") + b"Datas   " + body


def test_segments_follow_the_stage_directions() -> None:
    # an empty first segment and a silent one (Joe grabs) still count; a position's 11 characters are skipped
    line = "*FLOne.*00Two.*GDThree*XY00(237,112)Four?*WTWhy not?"
    assert list(segments(line)) == [(2, "One."), (4, "Three"), (5, "Four?"), (6, "Why not?")]
    assert list(segments("Just this.*03")) == [(1, "Just this.")]
    assert list(segments("*FR")) == []


def test_dialogue_lines_name_their_speech_files() -> None:
    dog = dog_file(2, joe={0: "Hi, I'm Joe King.*03", 6: "At least I don't look like I need to wear one.*15",
                           0x1E: "0"},
                   person={0: "Never said.", 1: "*FLYou couldn't pilot your way out of a paper bag.*02",
                           0x34: "You're asking for trouble King.*02I'm going to run you out of town.*05"},
                   again=("*01Oop oop!", "Hello again.*02"))
    assert dialogue_lines(dog) == {
        "02SSSSJ1": "Hi, I'm Joe King.",
        "020006J1": "At least I don't look like I need to wear one.",
        "020001P2": "You couldn't pilot your way out of a paper bag.",
        "020034P1": "You're asking for trouble King.",
        "020034P2": "I'm going to run you out of town.",
        "02XXXXP2": "Oop oop!",
        "02XXXXJ1": "Hello again.",
    }


def test_a_broken_dialogue_file_is_named_and_left_to_the_labeller(caplog: pytest.LogCaptureFixture) -> None:
    good = dog_file(20, joe={}, person={0x34: "Why?"})
    with pytest.raises(ValueError, match="no AmBk bank header"):
        dialogue_lines(b"RIFF....")
    with pytest.raises(ValueError, match="past the end"):
        dialogue_lines(good[:-8])
    with caplog.at_level(logging.WARNING):
        script = read_script({"AND1.DOG": good[:-8], "BOB1.DOG": good, "BAT.SAM": b"AmBk not a dialogue"})
    assert script == {"200034P1": "Why?"}
    assert "queen.1c/AND1.DOG: its lines are not read" in caplog.text and "BAT.SAM" not in caplog.text


def jas_files(descriptions: list[str], answers: list[str], names: int = 2, rooms: int = 1) -> dict[str, bytes]:
    """QUEEN.JAS (bank header, then the counts of rooms, names, objects, descriptions) and QUEEN2.JAS (the lines:
    descriptions, object names, room names, 12 verbs, Joe's 40 answers)."""
    counts = b"".join(n.to_bytes(2, "big") for n in (rooms, names, 9, len(descriptions)))
    lines = descriptions + [f"name {i}" for i in range(names)] + [f"room {i}" for i in range(rooms)] \
        + [f"verb {i}" for i in range(12)] + answers
    return {"QUEEN.JAS": b"AmBk" + bytes(16) + counts + bytes(40), "QUEEN2.JAS": "\r\n".join(lines).encode("latin-1")}


def test_joes_remarks_are_the_descriptions_and_his_answers(caplog: pytest.LogCaptureFixture) -> None:
    answers = ["It doesn't seem to open*24"] + [f"answer {i}" for i in range(2, 40)] + ["I'd rather not.*02Really."]
    files = jas_files(["I don't see anything special*24", "There's a label that reads:*14\"Antidote\""], answers)
    script = read_script(files)
    assert script["JOE00411"] == "I don't see anything special"  # description 1
    assert script["JOE00421"] == "There's a label that reads:" and script["JOE00422"] == '"Antidote"'
    assert script["JOE00011"] == "It doesn't seem to open"  # answer 1, after descriptions, names, rooms and verbs
    assert script["JOE00401"] == "I'd rather not." and script["JOE00402"] == "Really."
    assert "JOE00431" not in script and len(script) == 2 + 1 + 40 + 1
    short = jas_files(["A description"], answers[:30])  # fewer lines than the counts need: left to the labeller
    with caplog.at_level(logging.WARNING):
        assert read_script(short) == {}
    assert "Joe's remarks are not read (QUEEN2.JAS: 46 lines, fewer than" in caplog.text


def cut_file(texts: list[str], opening: str = "*FL") -> bytes:
    """A cutaway file laid out as the game's: bank header, panel, object count (negative: cannot be skipped), flags,
    offsets (game states, texts, bank names), then the opening text and one text per object."""
    body = _text(opening, 2) + b"".join(_text(t, 2) for t in texts)
    header = b"".join(n.to_bytes(2, "big", signed=True) for n in (0, -len(texts), 0, 0, 12, 0))
    return b"AmBk" + bytes(16) + header + body


def test_cutaway_lines_are_numbered_by_object() -> None:
    cut = cut_file(["*", "Found what?*02", "#credits", "We gotta get a move on!*00Now!"])
    assert read_script({"C1A.CUT": cut, "COMIC2.CUT": cut_file(["Go easy on me."])}) == {
        "C1A__021": "Found what?", "C1A__041": "We gotta get a move on!", "C1A__042": "Now!",
        "COMIC011": "Go easy on me."}  # a name of more than 5 characters is cut to 5
