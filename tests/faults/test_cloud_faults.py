"""Gunicorn on the Firestore and Cloud Storage emulators, through one fault after another.

Phases, in order, one server: a kill -9 storm during uploads and deletes (then
reconcile and check nothing was lost or left over), Firestore frozen (SIGSTOP), the
storage emulator stopped and restarted, slow clients, and Firestore stopped. In
every phase: no 500, /healthz ≥ 99 % answered within 1 s, requests answered within
the deadline; around each fault /readyz turns 503 within 2 s and 200 within 5 s
of recovery. Every finding is collected, so one run reports all that failed.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import imagefiles
from emulators import unavailable
from faults.harness import (
    ANSWER_BOUND,
    FULL,
    HEALTH_SHARE,
    READY_WITHIN_FAULT,
    READY_WITHIN_RECOVERY,
    Answer,
    Emulators,
    HealthProbe,
    Server,
    SlowClients,
    create_bucket,
    leftovers,
    make_account,
    reconcile,
    server_env,
    start_server,
    wait_for_ready,
)
from picbucket.dev.emulators import EmulatorError

pytestmark = [pytest.mark.faults, pytest.mark.gcp]

KILLS = 35 if FULL else 4
STORM_CLIENTS = 8 if FULL else 4
SLOW_CLIENTS = 64 if FULL else 16
FAULT_SECONDS = 20.0 if FULL else 5.0
RECONCILE_RUNS = 4


class Findings:
    """Assertions that failed, kept so the run goes on and reports every one."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        """Record ``what`` as failed unless ``ok``."""
        if not ok:
            self.failed.append(what)


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """Start emulators of our own: this suite freezes and kills them."""
    try:
        started = Emulators(tmp_path_factory.mktemp("fault-emulators"))
    except EmulatorError as exc:
        unavailable(str(exc))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def server(emulators: Emulators, tmp_path: Path) -> Iterator[Server]:
    """Gunicorn on GCS + Firestore (the emulators), 2 workers x 8 threads."""
    env = server_env(
        tmp_path / "data",
        {
            **emulators.env,
            "PICBUCKET_BLOB_STORE": "gcs",
            "PICBUCKET_RECORD_STORE": "firestore",
            "PICBUCKET_GCS_BUCKET": create_bucket(emulators),
            "PICBUCKET_GCP_PROJECT": f"pb-faults-{uuid.uuid4().hex[:10]}",
        },
    )
    started = start_server(tmp_path, env)
    try:
        yield started
    finally:
        started.stop()


def _no_500(findings: Findings, phase: str, answers: list[Answer]) -> None:
    fives = [a.status for a in answers if a.status is not None and a.status >= 500]
    findings.check(
        all(status in (503, 507) for status in fives),
        f"{phase}: server errors other than 503/507: {sorted(set(fives))}",
    )


def _within_deadline(findings: Findings, phase: str, answers: list[Answer]) -> None:
    slow = [round(a.elapsed, 1) for a in answers if a.elapsed > ANSWER_BOUND]
    findings.check(
        not slow, f"{phase}: {len(slow)} requests took longer than {ANSWER_BOUND} s: {slow[:5]}"
    )


def _health(findings: Findings, probe: HealthProbe, phase: str) -> None:
    share, count = probe.fast_share(phase)
    findings.check(
        share >= HEALTH_SHARE,
        f"{phase}: /healthz answered within 1 s {share:.1%} of {count} times (need 99 %); "
        f"misses: {probe.misses.get(phase, [])[:6]}",
    )


def _fault(
    findings: Findings,
    server: Server,
    probe: HealthProbe,
    phase: str,
    inject: Callable[[], None],
    recover: Callable[[], None],
    token: str,
) -> list[Answer]:
    """Inject a fault, check readiness and requests during it, recover, check readiness."""
    probe.phase = phase
    inject()
    took = wait_for_ready(server.port, 503, READY_WITHIN_FAULT)
    findings.check(
        took is not None and took <= READY_WITHIN_FAULT,
        f"{phase}: /readyz went 503 after {took} s (need ≤ {READY_WITHIN_FAULT} s)",
    )
    answers: list[Answer] = []
    until = time.monotonic() + FAULT_SECONDS
    while time.monotonic() < until:
        answers.append(server.get("/api/v1/images", token, timeout=ANSWER_BOUND * 3))
        # New pixels each time: the same file again is a duplicate, stored nowhere.
        fresh = imagefiles.noise_png((32, 24), seed=random.randrange(1 << 30))
        answers.append(server.upload(token, fresh, timeout=ANSWER_BOUND * 3))
    _no_500(findings, phase, answers)
    _within_deadline(findings, phase, answers)
    findings.check(
        any(a.status == 503 and "retry-after" in a.headers for a in answers),
        f"{phase}: no 503 with Retry-After while the backend was down "
        f"(saw {sorted({str(a.status) for a in answers})})",
    )
    probe.phase = f"{phase} recovery"
    recover()
    took = wait_for_ready(server.port, 200, READY_WITHIN_RECOVERY)
    findings.check(
        took is not None and took <= READY_WITHIN_RECOVERY,
        f"{phase}: /readyz back to 200 after {took} s (need ≤ {READY_WITHIN_RECOVERY} s)",
    )
    _health(findings, probe, phase)
    return answers


def _storm(
    server: Server, token: str, findings: Findings
) -> tuple[dict[str, str], set[str], set[str]]:
    """Upload and delete from several clients while workers are SIGKILLed.

    Each upload carries an Idempotency-Key and is retried with it after a lost
    answer, as a careful client would; return (key → image id stored, ids deleted,
    ids whose last delete lost its answer: in the trash or not, either is right).
    """
    stored: dict[str, str] = {}
    deleted: set[str] = set()
    unsure: set[str] = set()
    answers: list[Answer] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[str] = []
        while not stop.is_set():
            if mine and rng.random() < 0.3:
                image_id = mine.pop(rng.randrange(len(mine)))
                answer = server.delete(token, image_id)
                with lock:
                    answers.append(answer)
                    if answer.status in (204, 404):
                        deleted.add(image_id)
                        unsure.discard(image_id)
                    else:
                        # The worker may have died after the delete took effect.
                        unsure.add(image_id)
                        mine.append(image_id)
                continue
            key = uuid.uuid4().hex
            data = imagefiles.noise_png((64 + seed, 48), seed=rng.randrange(1 << 30))
            for _attempt in range(10):
                answer = server.upload(token, data, key)
                with lock:
                    answers.append(answer)
                if answer.status == 201:
                    with lock:
                        stored[key] = answer.json()["id"]
                    mine.append(answer.json()["id"])
                    break
                if answer.status not in (None, 409, 503):
                    break
                time.sleep(0.3)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(STORM_CLIENTS)]
    for thread in threads:
        thread.start()
    rng = random.Random(1)
    killed = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 1.5))
        killed += server.kill_a_worker(rng) is not None
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(120)
    findings.check(killed == KILLS, f"storm: killed {killed} workers of {KILLS} planned")
    _no_500(findings, "storm", answers)
    findings.check(len(stored) > 0, "storm: no upload succeeded at all")
    return stored, deleted, unsure


def test_cloud_backends_under_faults(server: Server, emulators: Emulators) -> None:
    findings = Findings()
    _owner, token = make_account(server.env)
    with HealthProbe(server.port) as probe:
        probe.phase = "baseline"
        first = server.upload(token, imagefiles.noise_png((40, 30), seed=7), key="baseline")
        assert first.status == 201, (first, server.tail())
        _health(findings, probe, "baseline")

        probe.phase = "storm"
        stored, deleted, unsure = _storm(server, token, findings)
        _health(findings, probe, "storm")
        wait_for_ready(server.port, 200, 30)
        # A worker killed inside a Firestore transaction leaves its lock until the
        # database times it out; reconcile then reports that item (exit 1) and, like
        # the hourly job, the next run removes it.
        runs = [reconcile(server.env)]
        while runs[-1].returncode != 0 and len(runs) < RECONCILE_RUNS:
            time.sleep(20)
            runs.append(reconcile(server.env))
        findings.check(
            runs[-1].returncode == 0,
            f"reconcile still exited {runs[-1].returncode} after {len(runs)} runs: "
            f"{runs[-1].stdout[-800:]}",
        )
        kept = {key: image_id for key, image_id in stored.items() if image_id not in deleted}
        trash = server.get("/api/v1/trash", token).json()
        in_trash = {item["id"] for item in trash["items"]}
        for image_id in kept.values():
            answer = server.get(f"/api/v1/images/{image_id}", token)
            ok = answer.status == 200 or (image_id in unsure and image_id in in_trash)
            findings.check(ok, f"storm: 201 image {image_id} is {answer.status}")
        for image_id in deleted:
            answer = server.get(f"/api/v1/images/{image_id}", token)
            findings.check(answer.status == 404, f"storm: deleted {image_id} is {answer.status}")
        # DELETE moves an image to the trash, which still counts against the quota.
        charged = len(kept) + 1 + len(deleted)
        listed = server.get("/api/v1/me", token).json()["quota"]
        findings.check(
            listed["used_images"] == charged,
            f"storm: quota counts {listed['used_images']} images; {len(kept) + 1} stored "
            f"and {len(deleted)} in the trash",
        )
        orphans, partial = leftovers(server.env)
        findings.check(not orphans, f"storm: blobs without a record after reconcile: {orphans}")
        findings.check(not partial, f"storm: temp files after reconcile: {partial}")

        _fault(
            findings,
            server,
            probe,
            "firestore frozen",
            emulators.freeze_firestore,
            emulators.thaw_firestore,
            token,
        )
        _fault(
            findings,
            server,
            probe,
            "storage stopped",
            emulators.stop_gcs,
            emulators.restart_gcs,
            token,
        )

        probe.phase = "slow clients"
        with SlowClients(server.port, SLOW_CLIENTS, token) as slow:
            time.sleep(2)
            served = [server.get("/api/v1/images", token, timeout=10) for _ in range(10)]
            time.sleep(FAULT_SECONDS)
        findings.check(
            all(a.status == 200 and a.elapsed < 2 for a in served),
            f"slow clients: other requests {[(a.status, round(a.elapsed, 1)) for a in served]}",
        )
        findings.check(
            not any(" 500 " in outcome for outcome in slow.outcomes),
            f"slow clients: answers {sorted(set(slow.outcomes))}",
        )
        _health(findings, probe, "slow clients")

        _fault(
            findings,
            server,
            probe,
            "firestore stopped",
            emulators.stop_firestore,
            emulators.restart_firestore,
            token,
        )
    assert not findings.failed, "\n".join(findings.failed) + "\n" + server.tail(15)
