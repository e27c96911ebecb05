"""Rob Northen's ProPack compression, method 1 (RNC), which packs Beneath a Steel Sky's data files (its speech among
them): a reader written from the format, in plain Python (~0.6 MB of output a second; the game's 2 h of speech in
about 2.5 minutes).

The format: an 18-byte header ("RNC", the method byte 1, the unpacked and packed sizes and the CRC-16 of each, the
"leeway" byte and the block count), then blocks. A block starts with three Huffman tables (literal-run lengths,
match distances, match lengths: a 5-bit code count, then a 4-bit length per code; canonical codes, read LSB-first)
and a 16-bit count of steps; each step copies a literal run whose bytes sit in the stream as they are (between the
16-bit little-endian words that carry the bits), then, on every step but the last, a match: distance and length from
the tables (a value v >= 2 is 2^(v-1) plus v-1 more bits). The unpacked data's CRC-16 (the reflected polynomial
0xA001) is checked."""

from __future__ import annotations

HEADER = 18
SIGNATURE = b"RNC\x01"
Table = list[tuple[int, int, int, int]]  # (mask, code, code length, symbol)


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc16_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


class _Bits:
    """LSB-first bits from 16-bit little-endian words at ``pos``; the bits already taken from a word wait in
    ``acc`` (``count`` of them), so a literal run starts at ``pos``, right after the last word read."""

    def __init__(self, data: bytes, pos: int):
        self.data, self.pos, self.acc, self.count = data, pos, 0, 0

    def _word(self) -> int:
        return int.from_bytes(self.data[self.pos:self.pos + 2], "little")  # zeros past the end (the last word)

    def peek16(self) -> int:
        return (self.acc | (self._word() << self.count)) & 0xFFFF

    def read(self, n: int) -> int:
        if n > self.count:
            self.acc |= self._word() << self.count
            self.pos += 2
            self.count += 16
        value = self.acc & ((1 << n) - 1)
        self.acc >>= n
        self.count -= n
        return value


def _read_table(bits: _Bits, previous: Table) -> Table:
    codes = bits.read(5)
    if not codes:  # no table: the previous block's stays
        return previous
    lengths = [bits.read(4) for _ in range(codes)]
    table, code = [], 0
    for length in range(1, 17):
        for symbol, symbol_length in enumerate(lengths):
            if symbol_length == length:
                prefix = code >> (16 - length)
                table.append(((1 << length) - 1, int(f"{prefix:0{length}b}"[::-1], 2), length, symbol))
                code += 1 << (16 - length)
    return table


def _read_value(bits: _Bits, table: Table) -> int:
    peek = bits.peek16()
    for mask, code, length, symbol in table:
        if peek & mask == code:
            bits.read(length)
            return (1 << (symbol - 1)) | bits.read(symbol - 1) if symbol >= 2 else symbol
    raise ValueError("RNC: a code that no Huffman table entry matches (corrupt data)")


def unpack(data: bytes) -> bytes:
    """RNC method-1 data (header included) -> the unpacked bytes; ValueError for anything else, truncated or corrupt
    data (sizes and CRC checked)."""
    if data[:4] != SIGNATURE or len(data) < HEADER:
        raise ValueError("not RNC method 1 data (no 'RNC\\x01' header)")
    unpacked_size, packed_size = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")
    crc_unpacked, blocks = int.from_bytes(data[12:14], "big"), data[17]
    if HEADER + packed_size > len(data):
        raise ValueError(f"RNC: truncated ({len(data) - HEADER} of {packed_size} packed bytes)")
    bits = _Bits(data[:HEADER + packed_size], HEADER)
    bits.read(2)  # the lock and key flags
    out = bytearray()
    literals: Table = []
    distances: Table = []
    lengths: Table = []
    for _ in range(blocks):
        literals, distances, lengths = (_read_table(bits, literals), _read_table(bits, distances),
                                        _read_table(bits, lengths))
        steps = bits.read(16)
        for left in range(steps, 0, -1):
            run = _read_value(bits, literals)
            if run:
                out += bits.data[bits.pos:bits.pos + run]
                bits.pos += run
            if left > 1:
                distance, length = _read_value(bits, distances) + 1, _read_value(bits, lengths) + 2
                if distance > len(out):
                    raise ValueError("RNC: a match reaches before the start (corrupt data)")
                if distance >= length:
                    out += out[len(out) - distance:len(out) - distance + length]
                else:  # overlapping: byte by byte
                    for _ in range(length):
                        out.append(out[-distance])
            if len(out) > unpacked_size:
                raise ValueError(f"RNC: more than the {unpacked_size} bytes the header promises (corrupt data)")
    if len(out) != unpacked_size:
        raise ValueError(f"RNC: unpacked {len(out)} bytes, the header says {unpacked_size}")
    if crc16(bytes(out)) != crc_unpacked:
        raise ValueError("RNC: the unpacked data's CRC does not match (corrupt data)")
    return bytes(out)
