"""The recorder on a real PyBullet world: a GIF of the arm moving, snapshots when a task
starts and ends and of the final scene, and an index of them with their simulation times.

A world host run is heavy, so the tests attach the recorder to an `Environment` (what a
world host builds) and stand in for the cells' task runners with a dict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from cellwright.cells.config import CellConfig, RobotEntry
from cellwright.cells.environment import Environment
from cellwright.cells.recording import Recorder, check_recordable, read_index, record_camera
from cellwright.robots import Arm

HANG_GUARD_S = 120.0  # wall seconds; only against a dead loop


def arm_cell(model: str = "pybullet.panda") -> CellConfig:
    return CellConfig(cell_id="arm-1", world="arm_cell", robots={"panda": RobotEntry(model, "panda")},
                      seed=1, clock="lockstep")


@pytest.fixture
def physics() -> Iterator[Environment]:
    environment = Environment.build([arm_cell()])
    environment.start()
    yield environment
    environment.close()


def the_arm(environment: Environment) -> Arm:
    return environment.cells["arm-1"].robots["panda"].of_kind(Arm)[0]


def move_arm(environment: Environment, joint: int, by_rad: float) -> None:
    arm = the_arm(environment)
    target = arm.state().position.copy()
    target[joint] += by_rad
    arm.move_joints(target, speed=0.5).result(HANG_GUARD_S)


def test_a_task_is_recorded_as_a_gif_with_snapshots_at_its_start_and_end(
        physics: Environment, tmp_path: Path) -> None:
    tasks: dict[str, str] = {}
    recorder = Recorder(physics.loop, physics.world, tmp_path / "rec", fps=8.0, tasks=lambda: dict(tasks))
    recorder.start()

    tasks["arm-1"] = "job 1/pick:0"  # the watch sees it on the next tick or idle period
    move_arm(physics, 0, 0.6)
    del tasks["arm-1"]
    physics.loop.call(lambda: None)
    move_arm(physics, 0, -0.6)  # ticks again, so the watch sees the end
    index_path = recorder.close()

    frames = iio.imread(tmp_path / "rec" / "run.gif", index=None)
    assert frames.shape[0] > 1 and frames.shape[1:] == (300, 400, 3)
    assert np.abs(frames[0].astype(int) - frames[len(frames) // 2].astype(int)).max() > 50  # it moved
    index = json.loads(index_path.read_text())
    assert index["gif"]["frames"] == frames.shape[0] == len(index["gif"]["frame_times_s"])
    assert index["gif"]["render_ms_per_frame"] > 0
    moments = [(s["moment"], s["cell_id"], s["task_id"]) for s in index["snapshots"]]
    assert moments == [("start", "arm-1", "job 1/pick:0"), ("end", "arm-1", "job 1/pick:0"),
                       ("final", "", "")]
    times = [s["sim_time_s"] for s in index["snapshots"]]
    assert times == sorted(times)
    for snapshot in index["snapshots"]:
        name = snapshot["file"]
        assert "/" not in name and " " not in name and ":" not in name
        assert (tmp_path / "rec" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "arm-1" in index["snapshots"][0]["file"] and index["snapshots"][0]["file"].endswith("_start.png")


def test_frames_are_taken_on_simulation_time_only_while_something_moves(
        physics: Environment, tmp_path: Path) -> None:
    recorder = Recorder(physics.loop, physics.world, tmp_path, fps=4.0)
    recorder.start()
    move_arm(physics, 1, 0.3)
    moved_until = physics.loop.now_s()
    physics.loop.call(lambda: None)
    recorder.close()

    times = read_index(tmp_path).frame_times_s
    assert len(times) > 1
    assert np.allclose(np.diff(times), 0.25, atol=2 * physics.loop.dt)
    assert times[-1] <= moved_until + 1e-9


def test_a_speedup_plays_the_gif_as_a_time_lapse(physics: Environment, tmp_path: Path) -> None:
    recorder = Recorder(physics.loop, physics.world, tmp_path, fps=4.0, speedup=5.0)
    recorder.start()
    move_arm(physics, 1, 0.3)
    recorder.close()

    with Image.open(tmp_path / "run.gif") as gif:
        assert gif.n_frames > 1
        assert gif.info["duration"] == 50  # ms: frames 0.25 s of simulation apart, shown 5x faster
    assert json.loads((tmp_path / "index.json").read_text())["speedup"] == 5.0
    with pytest.raises(ValueError, match=r"fps \* speedup <= 50"):
        Recorder(physics.loop, physics.world, tmp_path, fps=4.0, speedup=20.0)


def test_a_recording_where_nothing_moved_still_has_a_valid_gif_and_the_final_scene(
        physics: Environment, tmp_path: Path) -> None:
    recorder = Recorder(physics.loop, physics.world, tmp_path)
    recorder.start()
    recorder.close()

    index = read_index(tmp_path)
    assert index.frames == 1 and index.gif is not None
    assert iio.imread(index.gif, index=None).shape[0] == 1
    assert [s.moment for _, s in index.snapshots] == ["final"]
    assert index.snapshots[0][0].is_file()


def test_an_unknown_camera_is_refused_with_the_cameras_there_are(physics: Environment, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overview"):
        Recorder(physics.loop, physics.world, tmp_path, camera="ceiling")
    with pytest.raises(ValueError, match="overview"):
        record_camera([arm_cell()], "ceiling")
    assert record_camera([arm_cell()], None) == "overview"


def test_recording_without_a_pybullet_world_is_refused() -> None:
    with pytest.raises(ValueError, match="PyBullet world"):
        check_recordable([arm_cell("mock.panda")])
    with pytest.raises(ValueError, match="PyBullet world"):
        check_recordable([CellConfig(cell_id="real-1")])


EXAMPLES = Path(__file__).parents[2] / "examples" / "cells"


def test_cell_run_refuses_record_without_a_pybullet_world(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    from cellwright.app.cli import main

    code = main(["cell", "run", "--config", str(EXAMPLES / "mock-arm-cell.yaml"), "--record", str(tmp_path)])

    assert code == 2
    assert "--record: recording renders PyBullet's cameras" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cell_run_refuses_an_unknown_record_camera_naming_the_world_cameras(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from cellwright.app.cli import main

    code = main(["cell", "run", "--config", str(EXAMPLES / "arm-cell.yaml"), "--record", str(tmp_path),
                 "--record-camera", "ceiling"])

    assert code == 2
    assert "no camera 'ceiling'; its cameras: overview, inspection" in capsys.readouterr().err


def test_a_world_host_refuses_to_record_mock_cells(tmp_path: Path) -> None:
    from cellwright.cells.host import WorldHost

    with pytest.raises(ValueError, match="no PyBullet world"):
        WorldHost([arm_cell("mock.panda")], "127.0.0.1:1", record=tmp_path)
    assert WorldHost([arm_cell()], "127.0.0.1:1", record=tmp_path).recorder is None  # built on run()
