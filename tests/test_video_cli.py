"""``measure video`` / ``calibrate video`` at the border: bad input is one line, exit 2, nothing written;
a tiny CPU run prints the JSON contract."""

from __future__ import annotations

import json

import pytest

from joulebench import cli


def _app():
    return cli


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--frames", "18"], "4k+1"),
        (["--height", "470"], "multiples of 16"),
        (["--dtype", "int3"], "--dtype 'int3'"),
        (["--frames", "17,x"], "not an integer"),
        (["--resolution", "480by832"], "HEIGHTxWIDTH"),
        (["--steps", "0"], "--steps"),
        (["--device", "tpu"], "--device 'tpu'"),
        (["--min-reps", "0"], "protocol"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, needle) -> None:
    db = tmp_path / "x.db"
    with pytest.raises(SystemExit) as exc:
        _app().main(["measure", "video", "tiny-wan", "--device", "cpu", "--db", str(db), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not db.exists()


def test_unknown_model_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _app().main(["measure", "video", "sora-9", "--device", "cpu", "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2
    assert "wan2.1-t2v-1.3b" in capsys.readouterr().err


def test_calibrate_video_without_points_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        _app().main(["calibrate", "video", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert not (tmp_path / "o").exists()


def test_measure_video_json_contract_on_cpu(tmp_path, capsys) -> None:
    db = tmp_path / "v.db"
    _app().main(
        [
            "measure",
            "video",
            "tiny-wan",
            "--device",
            "cpu",
            "--resolution",
            "64x64",
            "--frames",
            "5",
            "--steps",
            "10",
            "--no-cfg",
            "--min-window-s",
            "0.1",
            "--db",
            str(db),
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    (point,) = doc["points"]
    assert point["config"]["cfg"] is False and point["config"]["frames"] == 5
    step = point["dit_step"]
    for key in ("latency_s", "energy_j", "ci95_j", "sources", "estimated"):
        assert key in step
    assert step["forwards"] == 1
    assert point["request_extrapolated"]["extrapolated"] is True
    assert "vae_decode" not in point
    assert db.exists()


def test_measure_video_sample_steps_runs_the_real_pipeline_on_cpu(tmp_path, capsys) -> None:
    db = tmp_path / "p.db"
    _app().main(["measure", "video", "tiny-cogvideox", "--device", "cpu", "--resolution", "64x64", "--frames", "9",
                 "--steps", "4", "--sample-steps", "2", "--db", str(db), "--json"])
    (point,) = json.loads(capsys.readouterr().out)["points"]
    assert point["config"]["mode"] == "pipeline" and point["config"]["sample_steps"] == 2
    assert point["steps"]["n"] == 2 and point["request_predicted"]["steps"] == 4
    assert point["forwards_per_step"] == 1  # CogVideoX batches guidance into one forward
    assert set(point["parts"]) == {"text_encode", "prepare", "denoiser_forwards", "step_rest", "vae_decode",
                                   "postprocess"}


@pytest.mark.parametrize(("args", "needle"), [
    (["--full", "--sample-steps", "2"], "--sample-steps 2: give --full or --sample-steps"),
    (["--sample-steps", "1"], "--sample-steps 1"),
    (["--full", "--vae"], "--vae True"),
    (["--sample-steps", "3", "--offload", "model"], "--offload 'model'"),
    (["--sample-steps", "2", "--offload", "model"], "--sample-steps 2: must be between 3"),
])
def test_pipeline_mode_bad_input_exits_2(tmp_path, capsys, args, needle) -> None:
    db = tmp_path / "x.db"
    with pytest.raises(SystemExit) as exc:
        _app().main(["measure", "video", "tiny-wan", "--device", "cpu", "--resolution", "64x64", "--frames", "5",
                     "--steps", "4", "--db", str(db), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not db.exists()
