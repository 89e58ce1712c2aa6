"""The Ray executor's parts that need no cluster: a WorkerHost keeps pushes in order whatever
thread runs them, clock offsets shift every time both ways, and bad executor settings are one
line before anything starts."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from guidellm.config import config_from_flags
from guidellm.errors import UserError
from guidellm.request import RequestResult
from guidellm.scheduler.clocks import ClockOffset, from_worker, to_worker
from guidellm.scheduler.protocol import Items, Results, Start, Streams
from guidellm.scheduler.ray_pool import WorkerHost, check_ray_options


def test_pushes_reach_the_pipe_in_their_order_whatever_thread_runs_first() -> None:
    host = WorkerHost(0)
    late = threading.Thread(target=host.push, args=(1, b"second"))
    late.start()  # waits for push 0
    late.join(0.2)
    assert late.is_alive()
    host.push(0, b"first-")
    late.join(5)
    assert os.read(host._down_r, 100) == b"first-second"


def test_offsets_shift_send_times_out_and_result_times_back() -> None:
    assert not ClockOffset(0.0002, 0.0004).shifted and ClockOffset(3.5, 0.0004).shifted
    assert to_worker(Items(0, [1.0, 2.0], []), 3.5) == Items(0, [4.5, 5.5], [])
    assert to_worker(Start(0, 10.0, 0, 8), 3.5).start_time == 13.5  # type: ignore[attr-defined]
    assert to_worker(Streams(0, 4, 20.0), 3.5).at == 23.5  # type: ignore[attr-defined]
    result = RequestResult(
        "r", "successful", 4.5, 4.6, 5.0, first_token_time=4.7, last_token_time=4.9,
        chunk_times=[4.7, 4.8, 4.9],
    )  # fmt: skip
    (back,) = from_worker(Results(0, [result]), 3.5).results  # type: ignore[attr-defined]
    assert (back.scheduled_time, back.request_start, back.request_end) == pytest.approx(
        (1.0, 1.1, 1.5)
    )
    assert back.chunk_times == pytest.approx([1.2, 1.3, 1.4])
    assert (back.first_token_time, back.last_token_time) == pytest.approx((1.2, 1.4))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("workers=8", "no kind=ray"),
        ("kind=spark", "is not an executor"),
        ("kind=ray,adress=auto", "did you mean address"),
    ],
)
def test_bad_executor_settings_are_one_line(text: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        config_from_flags({"executor": text})
        check_ray_options({"adress": "auto"})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_an_address_nobody_answers_is_one_line_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    from guidellm.scheduler.ray_pool import _reachable

    with pytest.raises(UserError, match="no Ray cluster answers there"):
        _reachable(f"127.0.0.1:{port}")
