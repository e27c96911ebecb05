"""asr/corpora/rnc.py: RNC ProPack method 1, on streams written here bit by bit as the format lays them out (literal
runs between the 16-bit words that carry the bits, canonical Huffman tables, overlapping matches), and its errors.
(Beneath a Steel Sky's real files decode with their CRCs matching: tools/make_game_voices.py --packages
beneath-a-steel-sky.)"""

import pytest

from asr.corpora import rnc


def stream(fields: list, blocks: int = 1) -> tuple[bytes, bytes]:
    """``fields``: (value, bit count) pairs and literal byte strings, in the order a reader meets them -> (the RNC
    file, the bytes it unpacks to, worked out independently: literal runs, and matches given as ("match", distance,
    length) entries, which add no bits of their own here)."""
    bits: list[int] = []
    literals: list[tuple[int, bytes]] = []  # (bits read before it, bytes)
    out = bytearray()
    for field in fields:
        if isinstance(field, bytes):
            literals.append((len(bits), field))
            out += field
        elif field[0] == "match":
            for _ in range(field[2]):
                out.append(out[-field[1]])
        else:
            value, count = field
            bits += [(value >> i) & 1 for i in range(count)]
    words = [sum(bit << i for i, bit in enumerate(bits[k:k + 16])) for k in range(0, len(bits), 16)]
    body = bytearray()
    for k, word in enumerate(words):
        body += word.to_bytes(2, "little")
        for read, data in literals:  # a literal run follows the last word loaded when it is reached
            if -(-read // 16) == k + 1:
                body += data
    header = b"RNC\x01" + len(out).to_bytes(4, "big") + len(body).to_bytes(4, "big") \
        + rnc.crc16(bytes(out)).to_bytes(2, "big") + rnc.crc16(bytes(body)).to_bytes(2, "big") + bytes([0, blocks])
    return header + bytes(body), bytes(out)


def table(lengths: list[int]) -> list:
    return [(len(lengths), 5)] + [(n, 4) for n in lengths]


# two steps: the literal run "ab", a match 2 back and 6 long (overlapping: "ababab"), then the run "Z"
TWO_STEPS = [(0, 2), *table([0, 1, 1]), *table([0, 1]), *table([0, 0, 0, 1]), (2, 16),
             (1, 1), (0, 1), b"ab",  # run length: symbol 2 (code 1), one more bit 0 -> 2
             (0, 1),  # distance: symbol 1 (code 0) -> 1, + 1 = 2
             (0, 1), (0, 2),  # length: symbol 3 (code 0), two more bits 00 -> 4, + 2 = 6
             ("match", 2, 6),
             (0, 1), b"Z"]  # run length: symbol 1 (code 0) -> 1


def test_literal_runs_and_an_overlapping_match() -> None:
    data, expected = stream(TWO_STEPS)
    assert expected == b"ababababZ"
    assert rnc.unpack(data) == expected


def test_a_long_literal_run_and_a_second_block_keeping_the_tables() -> None:
    # block 1: one step, a 300-byte run (symbol 9: 2^8 + 8 more bits 44); block 2: no tables (count 0: the first
    # block's stay), one step, a 256-byte run (symbol 9 again, 8 more bits 0)
    run = bytes(range(256)) + bytes(44)
    fields = [(0, 2), *table([0] * 9 + [1]), (0, 5), (0, 5), (1, 16), (0, 1), (44, 8), run,
              (0, 5), (0, 5), (0, 5), (1, 16), (0, 1), (0, 8), bytes(256)]
    data, expected = stream(fields, blocks=2)
    assert rnc.unpack(data) == expected == run + bytes(256)


def test_errors_name_the_problem() -> None:
    data, _ = stream(TWO_STEPS)
    with pytest.raises(ValueError, match="not RNC method 1"):
        rnc.unpack(b"RNC\x02" + data[4:])
    with pytest.raises(ValueError, match="truncated"):
        rnc.unpack(data[:-1])
    wrong_crc = data[:12] + bytes([data[12] ^ 0xFF]) + data[13:]
    with pytest.raises(ValueError, match="CRC does not match"):
        rnc.unpack(wrong_crc)
    longer = data[:4] + (int.from_bytes(data[4:8], "big") + 1).to_bytes(4, "big") + data[8:]
    with pytest.raises(ValueError, match="the header says 10"):
        rnc.unpack(longer)
