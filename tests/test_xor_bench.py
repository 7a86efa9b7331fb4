"""XOR games played on the simulated bench (issue 6 item 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from station_files import physics

from qnic.cli import main
from qnic.experiments.xor_bench import NotRealizableError, linear_phis, play_on_bench
from qnic.games import XorGame, chsh_game, odd_cycle_game
from qnic.station import default_station_path, load_station_config, open_station


def coherent_station(tmp_path: Path, visibility: float) -> Path:
    data = copy.deepcopy(yaml.safe_load(default_station_path().read_text()))
    physics(data)["state"].update(visibility=visibility, coherence=1.0)
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("game", [chsh_game(), odd_cycle_game(3), odd_cycle_game(5)],
                         ids=["chsh", "cycle3", "cycle5"])
def test_measured_win_rate_matches_the_bench_prediction(tmp_path: Path, game: XorGame) -> None:
    v = 0.9
    # with full coherence E = V cos 2(phi_A - phi_B), times each PBS's contrast
    # 1 - 2/(1 + 1000): the strategy's value at visibility V * contrast
    v_eff = v * (1 - 2 / 1001) ** 2
    with open_station(load_station_config(coherent_station(tmp_path, v)), seed=3) as st:
        result = play_on_bench(st, game, seconds_per_question=0.5, visibility=v_eff)
    assert result.predicted_at_visibility is not None
    # accidentals (C/(C+A) ~ 0.999) and the binomial error: 4 sigma plus 1e-3
    assert abs(result.win_rate - result.predicted_at_visibility) < 4 * result.win_rate_err + 1e-3
    assert result.win_rate > result.classical_value  # the advantage survives V = 0.9


def test_cli_bench_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "chsh.json"
    path.write_text(json.dumps(chsh_game().to_dict()))
    assert main(["xor", "--game", str(path), "--bench", "--seconds", "0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bench"]["win_rate"] > 0.75 and "heralded" in out["bench"]["heralding"]


def test_games_needing_more_than_a_qubit_are_refused() -> None:
    from test_games_values import sign_vector_game

    game = sign_vector_game(4)  # its optimum needs 4 dimensions: two Bell pairs
    assert not game.bench_bases().realizable
    with pytest.raises(NotRealizableError, match="Bell pairs"):
        linear_phis(game)
