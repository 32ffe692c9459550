"""Action items from Slack message text, by a small explicit rule set (pure; no I/O).

Each line (or sentence) yields at most one item, by the first rule that matches:

1. `todo`: "TODO: <text>" or "TODO - <text>" (any case).
2. `action_item`: "action item: <text>" / "action items: <text>".
3. `request`: "can you / could you / would you / please <text>", counted only when it names someone
   (a `<@U…>` mention) or a deadline ("by <date>"): a bare "could you?" in chatter is not a task.

On any item: the first mention in the line is the assignee; "by <date>" is the due date, where
<date> is today, tonight, EOD, end of day, tomorrow, end of week (Friday), a weekday (its next
occurrence, today included) or an ISO date (2026-11-30), read relative to the message's date (UTC).
"""

import dataclasses
import datetime
import re

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RULES = (
    ("todo", re.compile(r"(?i)\bTODO\s*[:\-]\s*(?P<text>.+)")),
    ("action_item", re.compile(r"(?i)\baction items?\s*[:\-]\s*(?P<text>.+)")),
    ("request", re.compile(r"(?i)(?:\b(?:can|could|would) you|(?:^|[\s,.;:!>])please)\s+(?P<text>.+?)\s*\??$")),
)
DUE = re.compile(
    r"(?i)\bby\s+(?P<when>today|tonight|eod|end of (?:the )?day|tomorrow|end of (?:the )?week|"
    + "|".join(WEEKDAYS)
    + r"|\d{4}-\d{2}-\d{2})\b"
)
MAX_TEXT = 500


@dataclasses.dataclass(frozen=True)
class ActionItem:
    text: str
    rule: str
    assignee: str | None  # Slack user id
    due: datetime.date | None


def due_date(when: str, on: datetime.date) -> datetime.date | None:
    when = when.lower()
    if when in ("today", "tonight", "eod") or when.startswith("end of") and when.endswith("day"):
        return on
    if when == "tomorrow":
        return on + datetime.timedelta(days=1)
    if when.startswith("end of"):
        when = "friday"
    if when in WEEKDAYS:
        return on + datetime.timedelta(days=(WEEKDAYS.index(when) - on.weekday()) % 7)
    try:
        return datetime.date.fromisoformat(when)
    except ValueError:
        return None


def _clean(text: str) -> str:
    return MENTION.sub(lambda m: f"@{m.group(1)}", text).strip(" .")[:MAX_TEXT]


def extract(text: str, sent_on: datetime.date) -> list[ActionItem]:
    items = []
    for line in re.split(r"\n+|(?<=[.!?])\s+(?=[A-Z<@])", text or ""):
        for rule, pattern in RULES:
            match = pattern.search(line)
            if not match:
                continue
            mention = MENTION.search(line)
            due = DUE.search(line)
            if rule == "request" and not (mention or due):
                break
            items.append(
                ActionItem(
                    _clean(match.group("text")),
                    rule,
                    mention.group(1) if mention else None,
                    due_date(due.group("when"), sent_on) if due else None,
                )
            )
            break
    return items
