"""Flight of the Amazon Queen's own script: the text of each spoken line of its dialogues, Joe's remarks and the
cutaway scenes, read from the game's files in ``queen.1c``, so that those clips (6587 of the talkie's 6745) need no
speech recognizer to label them. Whisper tiny.en's labels differ from these lines by 9.9% WER (recipes/en/RESULTS.md).

A dialogue file, as the game's engine reads it (numbers are big-endian 16-bit): a 20-byte "AmBk" bank header, then
the number of levels of the dialogue tree (negative when the player cannot leave), a unique key, the talk key (the
NN of the speech files' names), the number of Joe's lines and of the other person's, two game-state tests (three
numbers each), and the offsets of the person's lines, of a cutaway's name and of the second visit's two lines; the
tree from byte 32 (96 bytes a level) and Joe's lines right after it. A table of lines holds, per line, two bytes,
the line's id, and the text: a length byte and the characters, padded to 4 bytes. The second visit's lines are two
such texts padded to 2 bytes. ``*`` and two characters in a line are stage directions (``*XY`` and 11 more: a
position) that cut it into segments: segment k (from 1; the directions "GD" and "GM" count but say nothing) of line
``id`` is the speech file ``{talk key:02d}{id:04X}{J or P}{k:X}.SB`` (J: Joe, P: the other person). Joe's line 0
opens the first visit (``SSSS`` in place of the id), the second visit's are ``XXXX``; a line "0" is none.

Joe's remarks (``JOEnnnnk.SB``: what he says of the things he looks at, and his stock answers) are lines of the
text file ``QUEEN2.JAS``: first the objects' descriptions (remark nnnn = description nnnn - 40), then the objects'
names, the rooms' names and 12 verbs, then his 40 answers (remark nnnn <= 40); ``QUEEN.JAS`` (after its 20-byte bank
header) counts the rooms, names and descriptions in its first numbers (big-endian 16 bits: rooms, names, objects,
descriptions).

A cutaway scene (``NAME.CUT``, after its 20-byte bank header: numbers for its panel, its count of objects (negative
when it cannot be skipped), flags, then the offsets of its game states, of its texts and of its bank names) has
one text per object after an opening one (each a length byte and the characters, padded to 2 bytes); object i's
(from 1) segment k is the speech file ``{NAME padded with "_" to 5 characters}{i:02d}{k:X}.SB``. A text "*" is
none, "#..." starts the credits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)
BANK_HEADER = 20  # "AmBk", bank number, flags, size, "Datas   "
TREE_START, LEVEL_BYTES = 32, 96
SILENT_DIRECTIONS = ("GD", "GM")  # Joe grabs down / middle: a segment index, no speech
JOE_ANSWERS = 40  # his stock answers, before the descriptions in the remarks' numbering
VERBS = 12
POSITION = "XY"  # *XY00(237,112): a number and a position follow (11 characters)


def _int16(data: bytes, offset: int) -> int:
    if offset + 2 > len(data):
        raise ValueError(f"a number at byte {offset} past the end ({len(data)} bytes)")
    return int.from_bytes(data[offset:offset + 2], "big", signed=True)


def _text(data: bytes, offset: int, align: int) -> tuple[str, int]:
    """A length-prefixed text at ``offset`` -> (the text, the offset after it, padded to ``align`` bytes)."""
    if offset >= len(data):
        raise ValueError(f"a text at byte {offset} past the end ({len(data)} bytes)")
    length, offset = data[offset], offset + 1
    if offset + length > len(data):
        raise ValueError(f"a text of {length} characters at byte {offset} runs past the end")
    text = data[offset:offset + length].decode("latin-1")
    return text, (offset + length + align - 1) & ~(align - 1) if length else offset


def _lines(data: bytes, offset: int, count: int) -> Iterator[tuple[int, str]]:
    for _ in range(count):
        line_id = _int16(data, offset + 2)
        text, offset = _text(data, offset + 4, 4)
        yield line_id, text


def segments(line: str) -> Iterator[tuple[int, str]]:
    """(segment number from 1, its text) of a line, as its stage directions cut it; silent ones left out."""
    number, start, i = 1, 0, 0
    while i < len(line):
        if line[i] != "*":
            i += 1
            continue
        text, direction = line[start:i], line[i + 1:i + 3]
        i += 3 + (11 if direction == POSITION else 0)
        if direction not in SILENT_DIRECTIONS and text.strip():
            yield number, text
        number, start = number + 1, i
    if line[start:].strip():
        yield number, line[start:]


def dialogue_lines(dog: bytes) -> dict[str, str]:
    """One dialogue file's bytes -> {speech file name without ".SB": the text said in it}. ValueError when the file
    is not laid out as a dialogue."""
    if dog[:4] != b"AmBk":
        raise ValueError("not a dialogue file (no AmBk bank header)")
    data = dog[BANK_HEADER:]
    levels, talk_key = abs(_int16(data, 0)), _int16(data, 4)
    joe_count, person_count = _int16(data, 6), _int16(data, 8)
    if not 0 <= talk_key < 100 or levels > 100 or joe_count < 0 or person_count < 0:
        raise ValueError(f"not a dialogue file (talk key {talk_key}, {levels} levels)")
    person_at, second_visit_at = _int16(data, 22) & 0xFFFF, _int16(data, 26) & 0xFFFF
    said = [(f"{talk_key:02d}SSSSJ" if line_id == 0 else f"{talk_key:02d}{line_id:04X}J", text)
            for line_id, text in _lines(data, TREE_START + levels * LEVEL_BYTES, joe_count)]
    said += [(f"{talk_key:02d}{line_id:04X}P", text) for line_id, text in _lines(data, person_at, person_count)
             if line_id > 0]  # the person's line 0 is never said (a line's id is a node of the tree, from 1)
    person_again, offset = _text(data, second_visit_at, 2)
    said += [(f"{talk_key:02d}XXXXP", person_again), (f"{talk_key:02d}XXXXJ", _text(data, offset, 2)[0])]
    out: dict[str, str] = {}
    for prefix, line in said:
        if line != "0":
            for number, text in segments(line):
                out.setdefault(f"{prefix}{number:X}", text.strip())
    return out


def remark_lines(jas: bytes, texts: bytes) -> dict[str, str]:
    """QUEEN.JAS's and QUEEN2.JAS's bytes -> {speech file name without ".SB": the text} of Joe's remarks."""
    if jas[:4] != b"AmBk":
        raise ValueError("QUEEN.JAS: no AmBk bank header")
    rooms, names, _, descriptions = (_int16(jas, BANK_HEADER + 2 * i) & 0xFFFF for i in range(4))
    lines = texts.decode("latin-1").split("\r\n")
    answers_at = descriptions + names + rooms + VERBS
    if len(lines) < answers_at + JOE_ANSWERS:
        raise ValueError(f"QUEEN2.JAS: {len(lines)} lines, fewer than QUEEN.JAS's counts need "
                         f"({answers_at + JOE_ANSWERS})")
    said = [(f"JOE{n + JOE_ANSWERS:04d}", lines[n - 1]) for n in range(1, descriptions + 1)]
    said += [(f"JOE{n:04d}", lines[answers_at + n - 1]) for n in range(1, JOE_ANSWERS + 1)]
    return {f"{prefix}{number:X}": text.strip() for prefix, line in said for number, text in segments(line)}


def cutaway_lines(name: str, cut: bytes) -> dict[str, str]:
    """A cutaway scene's file name and bytes -> {speech file name without ".SB": the text said in it}."""
    if cut[:4] != b"AmBk":
        raise ValueError("not a cutaway file (no AmBk bank header)")
    data = cut[BANK_HEADER:]
    objects, offset = abs(_int16(data, 2)), _int16(data, 8) & 0xFFFF
    _, offset = _text(data, offset, 2)  # the opening text: Joe's facing
    prefix, out = name.upper().removesuffix(".CUT").ljust(5, "_")[:5], {}
    for index in range(1, objects + 1):
        line, offset = _text(data, offset, 2)
        if line != "*" and not line.startswith("#"):
            for number, text in segments(line):
                out.setdefault(f"{prefix}{index:02d}{number:X}", text.strip())
    return out


def read_script(files: dict[str, bytes]) -> dict[str, str]:
    """The dialogue and cutaway files and QUEEN.JAS / QUEEN2.JAS among ``files`` (name -> bytes) -> {speech file
    name without ".SB": its text}. A file that cannot be read is named in a warning and left out: its clips go to the
    labeller like the others."""
    script: dict[str, str] = {}
    for name, data in sorted(files.items()):
        try:
            if name.upper().endswith(".DOG"):
                script.update(dialogue_lines(data))
            elif name.upper().endswith(".CUT"):
                script.update(cutaway_lines(name, data))
        except ValueError as e:
            log.warning("queen.1c/%s: its lines are not read (%s); its clips are labelled", name, e)
    if "QUEEN.JAS" in files and "QUEEN2.JAS" in files:
        try:
            script.update(remark_lines(files["QUEEN.JAS"], files["QUEEN2.JAS"]))
        except ValueError as e:
            log.warning("queen.1c: Joe's remarks are not read (%s); their clips are labelled", e)
    return script
