"""Safe by construction: nothing a user hands asr is unpickled or extracted unchecked. A source scan, so that a
new call site cannot slip in unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

SOURCES = sorted((Path(__file__).resolve().parent.parent / "asr").rglob("*.py"))


def calls(pattern: str) -> list[tuple[Path, int, str]]:
    found = []
    for path in SOURCES:
        text = path.read_text()
        for m in re.finditer(pattern, text):
            line = text.count("\n", 0, m.start()) + 1
            # the whole call, up to its closing parenthesis (enough for the checks below)
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            found.append((path, line, text[m.start():end + 1]))
    return found


def test_sources_were_found():
    assert len(SOURCES) > 30


def test_every_torch_load_is_weights_only():
    loads = calls(r"torch\.load\(")
    assert loads, "the checkpoint readers call torch.load"
    bad = [(p.name, line) for p, line, call in loads if "weights_only=True" not in call]
    assert not bad, bad


def test_no_pickle_no_unsafe_yaml():
    assert not calls(r"\bpickle\.(load|loads)\(")
    assert not calls(r"\bdill\.|\bjoblib\.load\(")
    yaml_loads = calls(r"yaml\.(load|unsafe_load|full_load)\(")
    assert not yaml_loads, [(p.name, line) for p, line, _ in yaml_loads]


def test_tar_members_are_extracted_with_the_data_filter():
    extracts = calls(r"\.extract(all)?\(")
    tar_extracts = [(p, line, c) for p, line, c in extracts if "tar" in c or "member" in c]
    assert tar_extracts
    bad = [(p.name, line) for p, line, call in tar_extracts if 'filter="data"' not in call]
    assert not bad, bad


def test_server_binds_loopback_by_default():
    import inspect

    from asr.server import Server, make_server

    assert inspect.signature(make_server).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(Server.__init__).parameters["host"].default == "127.0.0.1"
