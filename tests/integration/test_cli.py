"""The `cellwright` command against a real orchestrator on loopback and real noop cells.

One-shot commands run `cellwright.app.cli.main` in a thread (the orchestrator lives in the
test's event loop); commands that follow events (`job watch`, `job submit --wait`) run as
`python -m cellwright` subprocesses, so a test can read their lines as they come and stop
them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from cellwright import __version__
from cellwright.app.cli import main
from cellwright.app.commands import describe_event
from cellwright.testing import async_wait_until
from cellwright.v1 import cell_service_pb2 as cell_pb
from cellwright.v1 import cell_service_pb2_grpc as cell_grpc
from cellwright.v1 import job_pb2, packml_pb2
from cellwright.v1 import job_service_pb2 as job_svc
from cellwright.v1 import job_service_pb2_grpc as job_grpc

TIMEOUT_S = 30.0
EXECUTE = packml_pb2.PACKML_STATE_EXECUTE

TYPED_WORKFLOW = """\
name: typed
version: 1
params:
  count: {type: integer}
  ratio: {type: number}
  small: {type: number}
  half: {type: number}
  flag: {type: boolean}
  word: {type: string}
  code: {type: string}
  items: {type: array}
  where: {type: object}
steps:
  - id: only
    skill: noop
"""


@dataclass
class Ran:
    """What one `cellwright ...` run did."""

    code: int
    out: str
    err: str


Cli = Callable[..., Awaitable[Ran]]
Spawn = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], orchestrator: Any) -> Cli:
    """`await cli("job", "get", JOB)`: run the command against `orchestrator` in a thread."""
    async def run(*args: str, address: str = orchestrator.address) -> Ran:
        def call() -> int:
            try:
                return main([*args, "--orchestrator", address])
            except SystemExit as exc:  # argparse: bad usage
                return exc.code if isinstance(exc.code, int) else 1
        code = await asyncio.wait_for(asyncio.to_thread(call), TIMEOUT_S)
        out, err = capsys.readouterr()
        return Ran(code, out, err)
    return run


@pytest.fixture
async def spawn(orchestrator: Any) -> AsyncIterator[Spawn]:
    """`await spawn("job", "watch")`: `python -m cellwright ...` against `orchestrator`;
    every process still running after the test is killed."""
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cellwright", *args, "--orchestrator", orchestrator.address,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def line_of(stream: asyncio.StreamReader | None) -> str:
    """The next line of a subprocess's output; fails if the process ended instead."""
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), TIMEOUT_S)
    assert line, "the command ended"
    return line.decode().rstrip("\n")


async def lines_until(process: asyncio.subprocess.Process, done: Callable[[str], bool]) -> list[str]:
    """Lines of stdout up to and including the first for which `done` is true."""
    lines = [await line_of(process.stdout)]
    while not done(lines[-1]):
        lines.append(await line_of(process.stdout))
    return lines


def ended(job_id: str) -> Callable[[str], bool]:
    """For `lines_until`: the event line that shows `job_id` SUCCEEDED."""
    return lambda line: line.split()[1:4] == [job_id, "noop", "SUCCEEDED"]


async def events(address: str, last_seq: int, job_id: str = "") -> list[job_pb2.JobEvent]:
    """Every event the orchestrator has stored up to `last_seq`, replayed from the start."""
    async with grpc.aio.insecure_channel(address) as channel:
        stream = job_grpc.JobServiceStub(channel).WatchJobs(job_svc.WatchJobsRequest(job_id=job_id))
        found: list[job_pb2.JobEvent] = []
        async for response in stream:
            found.append(response.event)
            if response.event.seq >= last_seq:
                stream.cancel()
                return found
    raise AssertionError("the event stream ended")


def seq_of(line: str) -> int:
    return int(line.split()[0].removeprefix("#"))


async def restart(orchestrator: Any, start_orchestrator: Any, **settings: Any) -> Any:
    """Stop the orchestrator and start it again on the same database and port."""
    await orchestrator.stop()
    return await start_orchestrator(orchestrator.db_path, address=orchestrator.address, **settings)


async def held_job(cli: Cli, address: str, job_in_state: Any) -> str:
    """A noop job whose cell vanished mid-task: HELD, its task UNKNOWN. Returns its id.

    The cell is one Connect stream driven here (a real cell would finish the noop first)."""
    async with grpc.aio.insecure_channel(address) as channel:
        session = cell_grpc.CellServiceStub(channel).Connect()
        await session.write(cell_pb.ConnectRequest(hello=cell_pb.Hello(
            cell_id="gone-1", boot_id=uuid.uuid4().hex, packml_state=EXECUTE,
            skills=[cell_pb.Skill(name="noop")])))
        job_id = (await cli("job", "submit", "noop")).out.split()[0]

        async def assignment() -> cell_pb.Assign:
            while not (message := await session.read()).HasField("assign"):
                pass
            return message.assign

        assign = await asyncio.wait_for(assignment(), TIMEOUT_S)
        await session.write(cell_pb.ConnectRequest(task_update=cell_pb.TaskUpdate(
            task_id=assign.task_id, epoch=assign.epoch, state=job_pb2.TASK_STATE_RUNNING)))
        session.cancel()  # the cell is gone; its lease runs out
    await job_in_state(job_id, job_pb2.JOB_STATE_HELD)
    return job_id


async def get(cli: Cli, job_id: str) -> dict[str, Any]:
    ran = await cli("job", "get", job_id)
    assert ran.code == 0, ran.err
    parsed: dict[str, Any] = json.loads(ran.out)
    return parsed


# --- job submit: parameters and request ids ---------------------------------------------

async def test_param_values_are_numbers_booleans_lists_maps_or_text_and_labels_stay_text(
        start_orchestrator, tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "typed.yaml").write_text(TYPED_WORKFLOW)
    typed = await start_orchestrator(workflow_dirs=(tmp_path,))
    ran = await cli("job", "submit", "typed", "-p", "count=-3", "-p", "ratio=1e2", "-p", "small=1E-3",
                    "-p", "half=0.5", "-p", "flag=true", "-p", "word=yes", "-p", 'code="007"',
                    "-p", "items=[1e2, a, false]", "-p", "where={x: 0.5, y: [on]}",
                    "--label", "batch=42", "--label", "rush=true", address=typed.address)
    assert ran.code == 0, ran.err
    job = (await cli("job", "get", ran.out.split()[0], address=typed.address)).out
    assert json.loads(job)["params"] == {
        "count": -3, "ratio": 100, "small": 0.001, "half": 0.5, "flag": True, "word": "yes",
        "code": "007", "items": [100, "a", False], "where": {"x": 0.5, "y": ["on"]}}
    assert json.loads(job)["labels"] == {"batch": "42", "rush": "true"}


async def test_a_param_that_is_not_key_equals_value_or_not_flow_yaml_is_bad_usage(cli: Cli) -> None:
    missing = await cli("job", "submit", "noop", "-p", "duration_s")
    assert missing.code == 2
    assert "'duration_s' must be KEY=VALUE" in missing.err
    broken = await cli("job", "submit", "noop", "-p", "items=[1, 2")
    assert broken.code == 2
    assert "'[1, 2' is not a YAML flow value" in broken.err


async def test_an_empty_request_id_is_refused_as_bad_usage_and_nothing_is_submitted(cli: Cli) -> None:
    ran = await cli("job", "submit", "noop", "--request-id", "")
    assert ran.code == 2
    assert "--request-id: must not be empty: give a unique key per job" in ran.err
    listed = await cli("job", "list")
    assert listed.out.splitlines()[1:] == []


# --- job retry / job resume -----------------------------------------------------------

async def test_job_resume_confirms_the_unknown_task_done_and_the_job_succeeds(
        cli: Cli, orchestrator, job_in_state) -> None:
    job_id = await held_job(cli, orchestrator.address, job_in_state)
    ran = await cli("job", "resume", job_id, "--reason", "part found in the outfeed")
    assert (ran.code, ran.out) == (0, f"{job_id} SUCCEEDED\n"), ran.err
    task = (await get(cli, job_id))["tasks"][0]
    assert task["state"] == "SUCCEEDED"
    assert "part found in the outfeed" in task["operator_note"]


async def test_job_retry_runs_the_unknown_task_again_under_a_new_epoch_on_another_cell(
        cli: Cli, orchestrator, start_cell, job_in_state) -> None:
    job_id = await held_job(cli, orchestrator.address, job_in_state)
    ran = await cli("job", "retry", job_id, "noop", "--reason", "cell restarted, part still in infeed")
    assert ran.code == 0, ran.err
    assert ran.out.startswith(job_id)
    assert ran.out.endswith("; noop: READY (epoch 2)\n")
    task = (await get(cli, job_id))["tasks"][0]
    assert (task["state"], task["epoch"]) == ("READY", 2)
    assert "cell restarted, part still in infeed" in task["operator_note"]

    await start_cell("noop-1")
    done = (await job_in_state(job_id, job_pb2.JOB_STATE_SUCCEEDED)).tasks[0]
    assert (done.cell_id, done.epoch, done.attempt) == ("noop-1", 3, 2)


async def test_job_retry_of_a_job_that_is_not_held_is_a_server_error(cli: Cli) -> None:
    job_id = (await cli("job", "submit", "noop")).out.split()[0]  # no cell: stays QUEUED
    ran = await cli("job", "retry", job_id, "noop", "--reason", "why not")
    assert ran.code == 1
    assert ran.err.startswith("error: FAILED_PRECONDITION: ")


async def test_job_retry_and_resume_need_a_reason(cli: Cli) -> None:
    for args in (("retry", "job-1", "noop"), ("resume", "job-1")):
        assert (await cli("job", *args)).code == 2
        empty = await cli("job", *args, "--reason", " ")
        assert empty.code == 2
        assert "--reason: must not be empty: give what the operator checked or did" in empty.err


# --- job watch / job submit --wait across an orchestrator restart ------------------------

async def test_job_watch_resumes_after_an_orchestrator_restart_with_every_event_once(
        orchestrator, start_orchestrator, start_cell, cli: Cli, spawn: Spawn) -> None:
    await start_cell("noop-1")
    watch = await spawn("job", "watch")
    first = (await cli("job", "submit", "noop")).out.split()[0]
    shown = await lines_until(watch, ended(first))

    again = await restart(orchestrator, start_orchestrator)
    note = await line_of(watch.stderr)
    assert note.startswith(f"note: lost the orchestrator at {orchestrator.address} (UNAVAILABLE)")
    second = (await cli("job", "submit", "noop")).out.split()[0]  # for noop-1, once it is back
    shown += await lines_until(watch, ended(second))

    watch.terminate()
    _, rest = await watch.communicate()
    assert "note:" not in rest.decode()  # one note only
    stored = await events(again.address, seq_of(shown[-1]))
    assert shown == [describe_event(e) for e in stored]  # each event once, none lost


async def test_job_submit_wait_follows_its_job_through_an_orchestrator_restart(
        orchestrator, start_orchestrator, start_cell, cli: Cli, spawn: Spawn) -> None:
    await start_cell("noop-1")
    submit = await spawn("job", "submit", "noop", "-p", "duration_s=60", "--wait")
    job_id = (await line_of(submit.stdout)).split()[0]
    shown = await lines_until(submit, lambda line: "noop: RUNNING" in line)

    again = await restart(orchestrator, start_orchestrator, lease_ttl_s=TIMEOUT_S)
    assert (await line_of(submit.stderr)).startswith("note: lost the orchestrator")
    assert (await cli("job", "cancel", job_id)).code == 0
    out, rest = await asyncio.wait_for(submit.communicate(), TIMEOUT_S)
    shown += out.decode().splitlines()

    assert submit.returncode == 1  # the job ended, but not SUCCEEDED
    assert "note:" not in rest.decode()
    assert "CANCELLED" in shown[-1]
    stored = await events(again.address, seq_of(shown[-1]), job_id)
    assert shown == [describe_event(e) for e in stored]


async def test_job_watch_after_a_seq_beyond_the_newest_event_is_a_one_line_error(
        spawn: Spawn) -> None:
    watch = await spawn("job", "watch", "--after", "99")
    out, err = await asyncio.wait_for(watch.communicate(), TIMEOUT_S)
    assert watch.returncode == 1
    assert out == b""
    assert err.decode().startswith("error: OUT_OF_RANGE: ")
    assert len(err.decode().splitlines()) == 1


# --- output conventions ---------------------------------------------------------------

async def test_json_output_has_short_enum_names_and_64_bit_integers_as_numbers(
        cli: Cli, start_cell) -> None:
    await start_cell("noop-1")
    job_id = (await cli("job", "submit", "noop", "--wait")).out.split()[0]
    job = await get(cli, job_id)
    listed = (await cli("job", "list")).out.splitlines()[1].split()
    assert job["state"] == listed[2] == "SUCCEEDED"
    task = job["tasks"][0]
    assert (task["state"], task["epoch"], task["attempt"]) == ("SUCCEEDED", 1, 1)
    cell = json.loads((await cli("cell", "get", "noop-1")).out)
    assert (cell["packml_state"], cell["connected"], cell["busy"]) == ("EXECUTE", True, False)


async def test_cell_list_marks_a_disconnected_cell_with_its_last_state(
        cli: Cli, start_cell, cells: cell_grpc.CellServiceStub) -> None:
    gone = await start_cell("noop-1")
    await start_cell("noop-2")
    await gone.stop()

    async def disconnected() -> None:
        while (await cells.GetCell(cell_pb.GetCellRequest(cell_id="noop-1"))).cell.connected:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(disconnected(), TIMEOUT_S)
    rows = {line.split()[0]: line for line in (await cli("cell", "list")).out.splitlines()[1:]}
    assert rows["noop-1"].split()[1:4] == ["disconnected", "(last", "EXECUTE)"]
    assert rows["noop-2"].split()[1:4] == ["EXECUTE", "False", "noop"]


@pytest.fixture
def cells(channel: grpc.aio.Channel) -> cell_grpc.CellServiceStub:
    return cell_grpc.CellServiceStub(channel)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"cellwright {__version__}\n"


@pytest.mark.parametrize(("robots", "expected"), [
    ("panda: pybullet.pandas", "robots.panda: unknown robot model 'pybullet.pandas'; did you mean 'pybullet.panda'?"),
    ("panda: {model: mock.panda, mount: nowhere}", "robots.panda.mount: layout arm_cell has no mount 'nowhere'"),
    ("panda: {model: pybullet.panda, initial_joint: [0, 0, 0, 0, 0, 0, 0]}",
     "robots.panda.initial_joint: unknown parameter; robot model pybullet.panda takes"),
    ("panda: {model: mock.panda, initial_joints: [9, 0, 0, 0, 0, 0, 0]}", "robots.panda:"),
])
async def test_cell_run_refuses_a_bad_robot_entry_with_the_key(spawn: Spawn, tmp_path: Path, robots: str,
                                                              expected: str) -> None:
    config = tmp_path / "cell.yaml"
    config.write_text(f"cell_id: arm-1\nworld: arm_cell\nrobots:\n  {robots}\n")
    process = await spawn("cell", "run", "--config", str(config))
    _, err = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    assert process.returncode == 2, err
    assert f"error: {config}: {expected}" in err.decode()


# --- workflow put / get / list / validate / graph against an orchestrator -----------------

KIT_V1 = """\
apiVersion: cellwright/v1
kind: Workflow
name: kit
steps:
  - id: first
    skill: noop
"""

KIT_V2 = KIT_V1 + """\
  - id: second
    skill: noop
    needs: [first]
"""

# Four errors: step a has no skill (line 5) but an unknown key (line 6), a need of no step
# (line 9), a bad timeout (line 10).
BROKEN_WORKFLOW = """\
apiVersion: cellwright/v1
kind: Workflow
name: broken
steps:
  - id: a
    skil: noop
  - id: b
    skill: noop
    needs: [nowhere]
    timeout: -3s
"""

CHECKED_WORKFLOW = """\
apiVersion: cellwright/v1
kind: Workflow
name: checked
params:
  tray: {type: string, default: outfeed_a}
steps:
  - id: move
    skill: noop
  - id: check
    operator: {prompt: "Check the kit in ${params.tray}"}
    needs: [move]
outputs:
  tray: "${params.tray}"
  checked_by: "${steps.check.result.by}"
"""

LAYOUT = Path(__file__).parents[2] / "sim_worlds" / "worlds" / "arm_cell.layout.yaml"


def offline(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """`cellwright ARGS` without an orchestrator (nothing appended)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


async def test_workflow_put_numbers_versions_and_get_and_list_read_them_back(cli: Cli, tmp_path: Path) -> None:
    kit = write(tmp_path, "kit.yaml", KIT_V1)
    first = (await cli("workflow", "put", kit)).out.splitlines()
    assert first[0] == "kit@1 created"
    # the plant knows no cell yet: a warning says skills were not checked
    assert first[1].startswith(f"{kit}:") and ": warning: skills and their params are not checked" in first[1]
    assert (await cli("workflow", "put", kit)).out == "kit@1 unchanged\n"
    write(tmp_path, "kit.yaml", KIT_V2)
    assert (await cli("workflow", "put", kit)).out.splitlines()[0] == "kit@2 created"
    assert (await cli("workflow", "get", "kit")).out == KIT_V2
    assert (await cli("workflow", "get", "kit@1")).out == KIT_V1
    meta = json.loads((await cli("workflow", "get", "kit@1", "--format", "json")).out)
    assert (meta["name"], meta["version"], meta["origin"], meta["steps"]) == ("kit", 1, kit, ["first"])
    assert "source" not in meta
    missing = await cli("workflow", "get", "kit@3")
    assert missing.code == 1 and missing.err.startswith("error: NOT_FOUND: ")
    assert (await cli("workflow", "get", "kit@latest")).code == 2
    table = (await cli("workflow", "list")).out.splitlines()
    assert table[0].split() == ["name", "version", "steps", "origin", "created"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["kit"][1:4] == ["2", "2", kit]
    assert "noop" in rows  # a built-in workflow
    versions = (await cli("workflow", "list", "kit")).out.splitlines()[1:]
    assert [line.split()[1:3] for line in versions] == [["1", "1"], ["2", "2"]]


async def test_workflow_put_of_a_broken_file_prints_every_error_as_validate_does_and_exits_1(
        cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = write(tmp_path, "broken.yaml", BROKEN_WORKFLOW)
    here = offline(capsys, "workflow", "validate", broken)
    assert here.code == 1
    errors = [line for line in here.out.splitlines() if ": error: " in line]
    assert [e.split(":")[1] for e in errors] == ["5", "6", "9", "10"], here.out
    put = await cli("workflow", "put", broken)
    assert (put.code, put.out) == (1, "")
    assert put.err.splitlines()[0] == f"error: {broken} was not stored:"
    assert all(error in put.err for error in errors), put.err
    assert "error: unknown key `skil` in steps[0]\n    hint: did you mean `skill`?" in put.err  # hints too
    remote = await cli("workflow", "validate", broken)
    assert remote.code == 1
    assert [line for line in remote.out.splitlines() if ": error: " in line] == errors
    assert remote.out.splitlines()[-1].startswith("4 errors, ")
    assert (await cli("workflow", "list", "broken")).code == 1


async def test_workflow_put_prints_the_plants_warnings_where_they_are(
        cli: Cli, tmp_path: Path, start_cell: Any) -> None:
    await start_cell("noop-1")  # the plant now knows its skills: noop only
    weld = write(tmp_path, "weld.yaml", KIT_V1.replace("name: kit", "name: weld").replace(
        "skill: noop", "skill: weld"))
    ran = await cli("workflow", "put", weld)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0] == "weld@1 created"
    assert lines[1].startswith(f"{weld}:6:12: warning: ") and "weld" in lines[1]
    assert lines[2].startswith("    hint: no cell of this plant has advertised it yet")
    refused = await cli("job", "submit", "weld")
    assert refused.code == 1
    assert refused.err.startswith("error: FAILED_PRECONDITION: step first: no known cell can run it")


async def test_workflow_graph_draws_a_stored_version(cli: Cli, tmp_path: Path) -> None:
    await cli("workflow", "put", write(tmp_path, "kit.yaml", KIT_V1))
    await cli("workflow", "put", write(tmp_path, "kit.yaml", KIT_V2))
    for ref, steps in (("kit", ["first", "second"]), ("kit@1", ["first"])):
        out = tmp_path / "kit.svg"
        ran = await cli("workflow", "graph", ref, "-o", str(out))
        assert ran.code == 0, ran.err
        svg = out.read_text()
        assert "<svg" in svg and all(step in svg for step in steps)
        assert ("second" in svg) == ("second" in steps)


# --- job submit --cell/--tag, job act, job get ------------------------------------------

async def test_job_submit_pins_the_job_to_cells_or_tags(cli: Cli, start_cell: Any) -> None:
    await start_cell("noop-1")
    await start_cell("noop-2")
    ran = await cli("job", "submit", "noop", "--cell", "noop-2", "--cell", "noop-3", "--wait")
    assert ran.code == 0, ran.err
    job = await get(cli, ran.out.split()[0])
    assert (job["state"], job["tasks"][0]["cell_id"]) == ("SUCCEEDED", "noop-2")
    refused = await cli("job", "submit", "noop", "--tag", "gripper-2f")
    assert refused.code == 1
    assert refused.err.startswith("error: FAILED_PRECONDITION: step noop: no known cell can run it")
    assert "job pin tags=['gripper-2f']" in refused.err


async def test_job_get_shows_what_waits_and_job_confirm_ends_an_operator_step(
        cli: Cli, tmp_path: Path, start_cell: Any, job_in_state: Any) -> None:
    await cli("workflow", "put", write(tmp_path, "checked.yaml", CHECKED_WORKFLOW))
    job_id = (await cli("job", "submit", "checked", "-p", "tray=outfeed_b")).out.split()[0]
    waiting = await get(cli, job_id)  # no cell yet
    assert "waits for one to connect" in waiting["waiting_reason"]
    move = waiting["tasks"][0]
    assert "waits for one to connect" in move["waiting_reason"]
    assert (move["index"], move["item"], move["reservations"], move["prompt"]) == (0, None, [], "")
    assert waiting["outputs"] == {}

    await start_cell("noop-1")

    async def awaiting() -> dict[str, Any] | None:
        job = await get(cli, job_id)
        return job if job["tasks"][1]["state"] == "AWAITING_OPERATOR" else None
    check = (await async_wait_until(awaiting, TIMEOUT_S, "step check awaits the operator"))["tasks"][1]
    assert (check["step_id"], check["prompt"]) == ("check", "Check the kit in outfeed_b")

    bad = await cli("job", "act", job_id, "check", "approve", "--reason", "ok")
    assert bad.code == 2
    ran = await cli("job", "confirm", job_id, "check", "--reason", "kit complete", "--operator", "ana")
    assert ran.code == 0, ran.err
    assert ran.out.startswith(f"{job_id} ") and ran.out.endswith("; check: SUCCEEDED\n")
    done = await get(cli, (await job_in_state(job_id, job_pb2.JOB_STATE_SUCCEEDED)).id)
    assert done["outputs"] == {"tray": "outfeed_b", "checked_by": "ana"}
    again = await cli("job", "act", job_id, "check", "confirm", "--reason", "twice")
    assert again.code == 1 and again.err.startswith("error: FAILED_PRECONDITION: ")


async def test_job_act_holds_and_resumes_one_repetition_of_a_step(cli: Cli, tmp_path: Path) -> None:
    each = KIT_V1.replace("name: kit", "name: each").replace(
        "    skill: noop\n", "    skill: noop\n    for_each: [red_cube, blue_cube]\n")
    await cli("workflow", "put", write(tmp_path, "each.yaml", each))
    job_id = (await cli("job", "submit", "each")).out.split()[0]  # no cell: READY, waiting
    tasks = (await get(cli, job_id))["tasks"]
    assert [(t["index"], t["item"]) for t in tasks] == [(0, "red_cube"), (1, "blue_cube")]
    held = await cli("job", "hold", job_id, "first[1]", "--reason", "blue bin empty")
    assert held.out.startswith(f"{job_id} ") and "; first[1]: HELD" in held.out, held.err
    tasks = (await get(cli, job_id))["tasks"]
    assert [t["state"] for t in tasks] == ["READY", "HELD"]
    assert "hold by " in tasks[1]["operator_note"] and "blue bin empty" in tasks[1]["operator_note"]
    resumed = await cli("job", "act", job_id, "first[1]", "resume", "--reason", "refilled",
                        "--operator", "bo")
    assert resumed.code == 0 and "; first[1]: HELD" not in resumed.out, resumed.out
    assert (await cli("job", "skip", job_id, "first[0]")).code == 2  # --reason is required


# --- reservations ---------------------------------------------------------------------

async def _no_reservations(cli: Cli, address: str) -> bool:
    return (await cli("reservations", "list", address=address)).out.splitlines()[1:] == []


async def test_reservations_list_shows_a_held_station_that_only_its_end_frees(
        cli: Cli, start_orchestrator: Any, tmp_path: Path) -> None:
    from cellwright.api.layout import load_layout
    from cellwright.testing import ScriptedCell

    info = await start_orchestrator(layout=load_layout(LAYOUT))
    reserving = KIT_V1.replace("name: kit", "name: reserving") + "    reserve: [outfeed_a]\n"
    await cli("workflow", "put", write(tmp_path, "reserving.yaml", reserving), address=info.address)
    cell = ScriptedCell(info.address, "cell-1", uuid.uuid4().hex)
    try:
        await cell.connect()
        job_id = (await cli("job", "submit", "reserving", address=info.address)).out.split()[0]
        assign = (await cell.next("assign")).assign
        await cell.report(assign, job_pb2.TASK_STATE_RUNNING)
        table = (await cli("reservations", "list", address=info.address)).out.splitlines()
        assert table[0].split() == ["resource", "state", "job", "task", "cell", "since", "note"]
        assert [row.split()[:5] for row in table[1:]] == [["outfeed_a", "HELD", job_id, "first", "cell-1"]]
        refused = await cli("reservations", "release", "outfeed_a", "--reason", "tray checked",
                            address=info.address)
        assert (refused.code, refused.err) == (1, (
            f"error: FAILED_PRECONDITION: outfeed_a is held by {assign.task_id}, running on cell "
            "cell-1: it is freed when the task ends; skip or cancel the task to end it sooner\n"))
        await cell.report(assign, job_pb2.TASK_STATE_SUCCEEDED)  # its end frees the station
        await async_wait_until(lambda: _no_reservations(cli, info.address), TIMEOUT_S, "outfeed_a freed")
        again = await cli("reservations", "release", "outfeed_a", "--reason", "x", address=info.address)
        assert again.code == 1 and again.err.startswith("error: NOT_FOUND: ")
    finally:
        await cell.drop()
