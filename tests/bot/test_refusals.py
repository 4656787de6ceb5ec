"""A refused chat is answered once per interval: the owner finds their ids, a stranger cannot make the bot spam."""

from __future__ import annotations

from orch.bot.refusals import NOT_ALLOWED, RefusalPacer, refusal_text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_refusal_per_chat_per_interval() -> None:
    clock = Clock()
    pacer = RefusalPacer(interval=60.0, clock=clock)
    assert pacer.may_refuse("a") and pacer.may_refuse("b")
    assert not pacer.may_refuse("a")
    clock.now += 59.0
    assert not pacer.may_refuse("a") and not pacer.may_refuse("b")
    clock.now += 1.0
    assert pacer.may_refuse("a") and not pacer.may_refuse("a")


def test_many_strangers_are_not_remembered_for_ever() -> None:
    clock = Clock()
    pacer = RefusalPacer(interval=60.0, clock=clock)
    for n in range(10_001):
        assert pacer.may_refuse(str(n))
    assert pacer.may_refuse("0")  # the oldest was forgotten to keep memory bounded
    assert not pacer.may_refuse("10000")


def test_the_refusal_carries_the_transports_hint() -> None:
    assert refusal_text("") == NOT_ALLOWED
    assert refusal_text("chat id 5: add it") == f"{NOT_ALLOWED}\nchat id 5: add it"
