"""`qnic xor`: game files in, JSON or a summary out; bad input exits 2."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

from qnic.cli import main
from qnic.cli.common import EXIT_BAD_INPUT

CHSH = {"prob": [[0.25, 0.25], [0.25, 0.25]], "pred": [[0, 0], [0, 1]]}


def write(tmp_path: Path, content: object, name: str = "game.json") -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_game_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xor", "--game", write(tmp_path, CHSH), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout is exactly one JSON object
    assert out["classical_value"] == pytest.approx(0.75)
    assert out["quantum_value"] == pytest.approx(math.cos(math.pi / 8) ** 2, abs=1e-9)
    assert out["realizable_with_waveplates"] is True and out["bell_state"] == "phi+"
    assert [b["phi_deg"] for b in out["bases"]["A"]] == pytest.approx([0.0, 45.0], abs=1e-7)
    assert [b["hwp_deg"] for b in out["bases"]["B"]] == pytest.approx([11.25, -11.25], abs=1e-7)
    assert out["duality_gap"] < 1e-6


def test_game_not_realizable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Alice gets i < 4, Bob a sign vector s in {+-1}^4: the optimum needs 4 dimensions."""
    vecs = list(itertools.product((1, -1), repeat=4))
    game = {"prob": [[1 / 64] * 16 for _ in range(4)],
            "pred": [[int(v[i] < 0) for v in vecs] for i in range(4)]}
    assert main(["xor", "--game", write(tmp_path, game), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["realizable_with_waveplates"] is False and out["bases"] is None
    assert out["strategy"]["dimension"] == 4 and out["strategy"]["bell_pairs_needed"] == 2
    assert out["quantum_value"] == pytest.approx(0.75, abs=1e-9)


def test_game_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xor", "--game", write(tmp_path, CHSH)]) == 0
    out = capsys.readouterr().out
    assert "classical value  0.75000000" in out and "quantum value    0.85355339" in out
    assert "+22.500" in out and "-11.250" in out


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read game file"),
    ("{not json", "not valid JSON"),
    ([[0.5, 0.5]], "object with keys 'prob' and 'pred'"),
    ({"prob": [[0.5, 0.5]]}, "missing"),
    ({"prob": [[0.5, 0.6]], "pred": [[0, 1]]}, "sum to 1"),
    ({"prob": [[0.5, 0.5]], "pred": [[0, 3]]}, "must be 0 or 1"),
])
def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           content: object, message: str) -> None:
    path = str(tmp_path / "missing.json") if content is None else write(tmp_path, content)
    assert main(["xor", "--game", path, "--json"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.startswith("qnic xor:")


def test_figure3_options_need_figure3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xor", "--game", write(tmp_path, CHSH), "--trials", "3"]) == EXIT_BAD_INPUT
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit) as exc:
        main(["xor"])  # one of --game, --figure3 is required
    assert exc.value.code == 2


def test_figure3_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "fig3"
    assert main(["xor", "--figure3", "--trials", "1", "--seed", "4", "--out", str(out_dir),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ns"] == [3, 4, 5, 6, 7] and len(out["ps"]) == 21 and out["ps"][-1] == 1.0
    assert out["trials"] == 1 and out["seed"] == 4
    assert all(out["fraction"][str(n)][0] == 0.0 for n in out["ns"])
    assert Path(out["files"]["json"]).exists() and Path(out["files"]["png"]).exists()
    (tmp_path / "file").write_text("")
    assert main(["xor", "--figure3", "--trials", "1", "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().out == ""


def test_a_game_past_exact_search_gets_a_certified_bracket(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An odd-cycle game of 33 vertices (33 x 33, past the 32 of exact search):
    its classical value 1 - 1/66 lies in the bracket, found by the local search."""
    from qnic.games import odd_cycle_game

    path = write(tmp_path, odd_cycle_game(33).to_dict())
    assert main(["xor", "--game", path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    br = out["classical_bracket"]
    assert out["classical_value"] is None and br["exact"] is False
    assert br["lower"] <= 1 - 1 / 66 + 1e-12 <= br["upper"] + 1e-12
    assert br["lower"] == pytest.approx(1 - 1 / 66)
    assert "local search" in br["lower_method"] and "dual bound" in br["upper_method"]
    assert out["quantum_value"] >= br["upper"]
    assert out["quantum_advantage"] == pytest.approx(out["quantum_value"] - br["upper"])
