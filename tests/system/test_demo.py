"""``slidepacs demo`` (SPEC §5): the archive and virtual scanners that send it slides, so a
new user sees slides arrive in the browser within a minute; and ``serve --offer-demo`` (what
``make run`` starts) pointing at it on an empty archive."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.cli import closed_port, run_slidepacs
from tests.serve_process import ServeProcess

SLIDES_EACH = 3


def slide_series(server: ServeProcess) -> list[dict]:
    """The slide series the archive answers over QIDO-RS."""
    answer = httpx.get(f"http://127.0.0.1:{server.http_port}/dicom-web/series",
                       params={"Modality": "SM", "includefield": "00200011"}, timeout=30)
    return answer.json() if answer.status_code == 200 else []


def test_demo_scanners_register_and_their_slides_arrive_within_a_minute(tmp_path: Path) -> None:
    command = ("demo", "--racks", "1", "--slides-per-rack", str(SLIDES_EACH), "--speed", "500")
    server = ServeProcess(tmp_path / "cwd", tmp_path / "data", slide_receiver_port=closed_port(),
                          command=command)
    config = server.cwd / "slidepacs.toml"  # as installed: unknown AEs are refused
    config.write_text(config.read_text().replace("accept_unregistered = true",
                                                 "accept_unregistered = false"))
    with server:
        started = time.monotonic()
        while len(slide_series(server)) < 2 * SLIDES_EACH and time.monotonic() - started < 60:
            time.sleep(0.5)
        arrived = time.monotonic() - started
        series = slide_series(server)
        listed = run_slidepacs("scanner", "list", cwd=server.cwd)
        assert server.stop() == 0, server.output
    assert len(series) == 2 * SLIDES_EACH, server.output
    assert arrived < 60
    assert "Demo scanner 1" in listed.stdout and "Demo scanner 2" in listed.stdout
    assert "virtual scanner(s) send 3 slides each" in server.output
    assert "/viewer/#/list?modality=SM" in server.output


def test_demo_again_reuses_its_scanners_with_new_tokens(tmp_path: Path) -> None:
    command = ("demo", "--scanners", "1", "--racks", "1", "--slides-per-rack", "1",
               "--speed", "500")
    for run in (1, 2):
        with ServeProcess(tmp_path / "cwd", tmp_path / "data", command=command,
                          slide_receiver_port=closed_port()) as server:
            started = time.monotonic()
            while len(slide_series(server)) < run and time.monotonic() - started < 60:
                time.sleep(0.5)
            assert server.stop() == 0, server.output
    listed = run_slidepacs("scanner", "list", cwd=server.cwd)
    assert listed.stdout.count("Demo scanner 1") == 1
    assert len(slide_series_after(server, tmp_path)) == 2  # one slide per run, new image IDs


def slide_series_after(server: ServeProcess, tmp_path: Path) -> list[dict]:
    with ServeProcess(tmp_path / "cwd", tmp_path / "data") as again:
        return slide_series(again)


def test_serve_offer_demo_on_an_empty_archive_without_a_terminal_says_how(
    tmp_path: Path
) -> None:
    with ServeProcess(tmp_path / "cwd", tmp_path / "data",
                      command=("serve", "--offer-demo")) as server:
        assert server.stop() == 0
    assert "see slides arrive: slidepacs demo" in server.output
    assert "Demo scanner" not in run_slidepacs("scanner", "list", cwd=server.cwd).stdout


def test_serve_offer_demo_on_a_terminal_asks_and_starts_the_scanners_on_yes(
    tmp_path: Path
) -> None:
    server = ServeProcess(tmp_path / "cwd", tmp_path / "data", slide_receiver_port=closed_port(),
                          command=("serve", "--offer-demo"))
    controller, terminal = os.openpty()
    server.stdin = terminal  # what `make run` gets from the shell: a terminal
    with server:
        os.write(controller, b"y\n")
        started = time.monotonic()
        while len(slide_series(server)) < 2 and time.monotonic() - started < 90:
            time.sleep(0.5)
        assert server.stop() == 0, server.output
    os.close(controller)
    os.close(terminal)
    assert "The archive is empty. Start two virtual scanners" in server.output
    assert len(slide_series_after(server, tmp_path)) >= 2
