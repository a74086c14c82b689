"""FRAMEDECK_INJECT parsing and hooks."""

import threading

import pytest

from core.errors import DecodeError, EncodeError, OptionError
from core.faults import FaultPlan, InjectedOutOfMemory


def test_parse_all_kinds():
    plan = FaultPlan.parse("oom@pair=5; hang@pair=3,seconds=30;decode-error@frame=40;encode-error@frame=10")
    assert plan.oom_forwards == {5}
    assert plan.hang_forwards == {3: 30.0}
    assert plan.decode_error_frames == {40}
    assert plan.encode_error_frames == {10}


@pytest.mark.parametrize("text", ["boom@pair=1", "oom@frame=2", "oom@pair=x"])
def test_bad_specs_are_one_sentence(text):
    with pytest.raises(OptionError, match="FRAMEDECK_INJECT"):
        FaultPlan.parse(text)


def test_oom_fires_once_and_hang_is_released_by_cancel():
    plan = FaultPlan.parse("oom@pair=2;hang@pair=1,seconds=60")
    cancel = threading.Event()
    cancel.set()  # a set event releases the hang at once
    plan.before_forward(1, cancel)
    with pytest.raises(InjectedOutOfMemory):
        plan.before_forward(2, cancel)
    plan.before_forward(2, cancel)  # only once


def test_decode_and_encode_hooks():
    plan = FaultPlan.parse("decode-error@frame=4;encode-error@frame=7")
    plan.on_decode(3)
    with pytest.raises(DecodeError, match="frame 4"):
        plan.on_decode(4)
    plan.in_encoder(6)
    with pytest.raises(EncodeError, match="frame 7"):
        plan.in_encoder(7)  # raised in the encoder thread, where a real encoder fails


def test_thread_hangs_wait_until_released():
    plan = FaultPlan.parse("hang-decode@frame=2,seconds=60;hang-encode@frame=5,seconds=60")
    assert plan.decode_hangs == {2: 60.0} and plan.encode_hangs == {5: 60.0}
    plan.on_decode(1)  # other frames pass at once
    plan.in_encoder(4)
    returned: list[str] = []
    threads = [
        threading.Thread(target=lambda: (plan.on_decode(2), returned.append("decode")), daemon=True),
        threading.Thread(target=lambda: (plan.in_encoder(5), returned.append("encode")), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=0.3)
    assert returned == [] and all(t.is_alive() for t in threads)  # both hang...
    plan.release.set()  # ...until released (the job's stop or stall monitor sets this)
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(returned) == ["decode", "encode"]
    assert plan.decode_hangs == {} and plan.encode_hangs == {}  # each hang happens once
    plan.release.clear()
    plan.on_decode(2)  # returns at once: the hang is spent
    plan.in_encoder(5)


def test_a_thread_hang_ends_by_itself_after_its_seconds():
    plan = FaultPlan.parse("hang-encode@frame=0,seconds=0.05")
    thread = threading.Thread(target=plan.in_encoder, args=(0,), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and not plan.release.is_set()


def test_store_and_join_hangs_announce_themselves_and_wait_until_released():
    plan = FaultPlan.parse("hang-store@segment=2,seconds=60;hang-join@packet=7,seconds=60")
    notes: list[str] = []
    plan.note = notes.append
    plan.before_store(1)
    plan.in_join(6)
    assert notes == []
    waiter = threading.Thread(target=plan.before_store, args=(2,))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and notes == ["injected fault: hanging before storing segment 2 for up to 60 s"]
    plan.release.set()
    waiter.join(5)
    assert not waiter.is_alive()
    plan.in_join(7)  # released already: returns at once
    assert notes[-1] == "injected fault: hanging in the join after 7 packets for up to 60 s"
    plan.before_store(2)  # each fires once
    assert len(notes) == 2
