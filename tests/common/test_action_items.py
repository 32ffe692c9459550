import datetime

import pytest

from common.sync.action_items import ActionItem, due_date, extract

FRIDAY = datetime.date(2026, 11, 20)  # a Friday


@pytest.mark.parametrize(
    "text, expected",
    [
        ("TODO: ship the release notes", [ActionItem("ship the release notes", "todo", None, None)]),
        (
            "todo - rotate the keys by tomorrow",
            [ActionItem("rotate the keys by tomorrow", "todo", None, datetime.date(2026, 11, 21))],
        ),
        ("Action item: <@U0BOB> books the room", [ActionItem("@U0BOB books the room", "action_item", "U0BOB", None)]),
        (
            "<@U0ALICE> can you review the PR by Monday?",
            [ActionItem("review the PR by Monday", "request", "U0ALICE", datetime.date(2026, 11, 23))],
        ),
        (
            "could you send the deck by 2026-12-01",
            [ActionItem("send the deck by 2026-12-01", "request", None, datetime.date(2026, 12, 1))],
        ),
        ("<@U0CAROL|carol> please update the wiki", [ActionItem("update the wiki", "request", "U0CAROL", None)]),
        ("Can you believe it?", []),
        ("Lunch at noon. TODO: book a table by EOD", [ActionItem("book a table by EOD", "todo", None, FRIDAY)]),
        ("TODO: a\nTODO: b", [ActionItem("a", "todo", None, None), ActionItem("b", "todo", None, None)]),
        ("", []),
    ],
)
def test_rules(text, expected):
    assert extract(text, FRIDAY) == expected


@pytest.mark.parametrize(
    "when, expected",
    [
        ("today", FRIDAY),
        ("end of day", FRIDAY),
        ("friday", FRIDAY),
        ("Thursday", datetime.date(2026, 11, 26)),
        ("end of week", FRIDAY),
        ("2026-02-30", None),
    ],
)
def test_due_dates(when, expected):
    assert due_date(when, FRIDAY) == expected


def test_long_text_is_cut():
    assert len(extract("TODO: " + "x" * 2000, FRIDAY)[0].text) == 500
