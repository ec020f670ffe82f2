"""The README's distributed recipe on PostgreSQL: identical workers on an empty database, one
killed mid-trial and replaced."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import psycopg
import pytest
import sqlalchemy
from optuna.trial import TrialState

from emoalign.alignment import synthetic_pair
from emoalign.alignment.search import is_pruned
from emoalign.alignment.storage import open_storage

N_TRIALS = 10
WORKERS = 3
# The synthetic pair's useful ε lie in [1e-3, 1e-2]; two starts keep each trial short.
SETTINGS = ["--eps-min", "1e-3", "--eps-max", "1e-2", "--inits", "2"]

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg_url() -> str:
    url = os.environ.get("EMOALIGN_TEST_PG_URL")
    if not url:
        pytest.fail(
            "these tests need a PostgreSQL server: start a throwaway one with\n"
            '    export EMOALIGN_TEST_PG_URL="$(bash scripts/start_postgres.sh)"\n'
            "(stop it with `bash scripts/start_postgres.sh --stop`), or run scripts/test.sh, "
            "which does both",
            pytrace=False,
        )
    return url


@pytest.fixture
def empty_db(pg_url: str) -> Iterator[str]:
    """A new, empty database on the server (dropped afterwards): no Optuna schema yet."""
    name = f"emoalign_test_{uuid.uuid4().hex[:10]}"
    server = sqlalchemy.engine.make_url(pg_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_concurrent_first_starts_create_the_schema_once(empty_db: str) -> None:
    # Without the schema lock, one of four simultaneous starts dies on a duplicate type or key
    # in every attempt (measured 5 of 5).
    starting = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        starting.wait()
        try:
            open_storage(empty_db)
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    study = optuna.create_study(storage=open_storage(empty_db), study_name="after")
    assert study.study_name == "after"


def test_readme_recipe_never_duplicates_and_survives_a_kill(empty_db: str, tmp_path: Path) -> None:
    pair = synthetic_pair(n_categories=5, per_category=12, seed=7)
    source, target = tmp_path / "human.csv", tmp_path / "model.csv"
    pair.human.write_csv(source)
    pair.model.write_csv(target)
    study = "recipe"
    # The README recipe: the same command, default sampler and seed, on every worker.
    cmd = [
        sys.executable, "-m", "emoalign", "align", str(source), str(target),
        "--trials", str(N_TRIALS), *SETTINGS, "--storage", empty_db, "--study", study,
        "--heartbeat", "2", "--plans", str(tmp_path / "plans"), "--no-progress",
        "--baseline", "0", "--permutations", "0",
    ]  # fmt: skip

    def launch() -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def still_running(pid: int, number: int) -> bool:
        """Freezes worker ``pid`` and tells whether trial ``number`` is still running in it.

        A trial can finish between reading it as running and killing its worker (trials take
        tens of milliseconds here), and then the kill tests nothing. A stopped worker cannot
        finish it, so the kill that follows lands mid-trial; a worker that already finished is
        let go again."""
        os.kill(pid, signal.SIGSTOP)
        trials = optuna.load_study(study_name=study, storage=empty_db).get_trials(deepcopy=False)
        if next(t for t in trials if t.number == number).state == TrialState.RUNNING:
            return True
        os.kill(pid, signal.SIGCONT)
        return False

    procs = [launch() for _ in range(WORKERS)]
    victim: tuple[int, int] | None = None
    try:
        # Kill the worker running the first trial we see, while it runs, and start a new one.
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            try:
                loaded = optuna.load_study(study_name=study, storage=empty_db)
                running = loaded.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except (KeyError, sqlalchemy.exc.SQLAlchemyError):
                running = []  # no schema or study yet
            for t in running:
                worker = t.user_attrs.get("worker")
                pid = int(worker.rsplit(":", 1)[1]) if worker else None
                if pid in {p.pid for p in procs} and t.params and still_running(pid, t.number):
                    victim = (pid, t.number)
                    break
            time.sleep(0.02)
        assert victim is not None, "no worker was seen running a trial"
        os.kill(victim[0], signal.SIGKILL)  # it is stopped mid-trial: see still_running
        procs.append(launch())
        outputs = {}
        for p in procs:
            out, err = p.communicate(timeout=120)
            outputs[p.pid] = (p.returncode, out, err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    bests = set()
    for pid, (code, out, err) in outputs.items():
        if pid == victim[0]:
            assert code == -signal.SIGKILL
            continue
        assert code == 0, err
        found = re.search(r"^best ε\s+(\S+) \(trial (\d+)\)$", out, re.MULTILINE)
        assert found is not None, out
        bests.add(found.groups())
    assert len(bests) == 1  # every surviving worker reports the same best trial

    trials = optuna.load_study(study_name=study, storage=empty_db).get_trials(deepcopy=False)
    # Finished: complete, or pruned (every start abandoned once it could not win).
    finished = [t for t in trials if t.state == TrialState.COMPLETE or is_pruned(t)]
    assert len(finished) == N_TRIALS
    solved = [
        (t.params["epsilon"], s["index"], s["kind"])
        for t in finished
        for s in t.user_attrs["starts"]
    ]
    assert len(solved) == 2 * N_TRIALS
    assert len(set(solved)) == len(solved)  # no (ε, start) solved twice
    assert sorted(t.user_attrs["rank"] for t in finished) == list(range(N_TRIALS))
    killed = next(t for t in trials if t.number == victim[1])
    assert killed.state == TrialState.FAIL  # ...and the killed trial is redone by one retry
    retries = [t for t in finished if t.system_attrs.get("failed_trial") == victim[1]]
    assert len(retries) == 1 and retries[0].params["epsilon"] == killed.params["epsilon"]
    assert len({t.user_attrs["worker"] for t in finished}) >= 2
    best = min((t for t in finished if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    ((eps_text, number),) = bests
    assert int(number) == best.number
    assert float(eps_text) == pytest.approx(best.params["epsilon"], rel=1e-3)
    assert (tmp_path / "plans" / study / f"trial-{best.number}.npy").is_file()
