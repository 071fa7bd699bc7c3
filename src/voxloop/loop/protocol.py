"""The recovery protocol as a state machine: call back, listen, soothe, learn, repair, close —
or escalate at any step.

The steps are those customer-service teams are trained on: reach the customer again, let them
tell the whole story, acknowledge and calm, find the root cause (is it the interaction, or the
product or service itself?), repair (what was done, any compensation), then close and ask
again. An illegal move is refused with the moves that are allowed, so an agent is never left
guessing. States and their labels are English and French.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from voxloop.errors import UserError

NEW = "new"
CALLED_BACK = "called_back"
LISTENED = "listened"
SOOTHED = "soothed"
LEARNED = "learned"
REPAIRED = "repaired"
CLOSED = "closed"
ESCALATED = "escalated"

ORDER = (NEW, CALLED_BACK, LISTENED, SOOTHED, LEARNED, REPAIRED, CLOSED)
STATES = (*ORDER, ESCALATED)
LABELS = {
    NEW: {"en": "new", "fr": "nouveau"},
    CALLED_BACK: {"en": "called back", "fr": "rappelé"},
    LISTENED: {"en": "listened", "fr": "écouté"},
    SOOTHED: {"en": "soothed", "fr": "apaisé"},
    LEARNED: {"en": "root cause found", "fr": "cause identifiée"},
    REPAIRED: {"en": "repaired", "fr": "réparé"},
    CLOSED: {"en": "closed", "fr": "clos"},
    ESCALATED: {"en": "escalated", "fr": "escaladé"},
}
# Where a root cause lies: the interaction itself, or what the company sells and how.
ROOT_CAUSE_DOMAINS = ("interaction", "product_service", "price_billing", "digital", "other")
# Words people type for a step (English and French) → the state.
_STEP_WORDS = {
    **{s: s for s in STATES},
    "call_back": CALLED_BACK,
    "callback": CALLED_BACK,
    "called": CALLED_BACK,
    "rappel": CALLED_BACK,
    "rappele": CALLED_BACK,
    "rappelé": CALLED_BACK,
    "listen": LISTENED,
    "ecoute": LISTENED,
    "écoute": LISTENED,
    "écouté": LISTENED,
    "soothe": SOOTHED,
    "apaise": SOOTHED,
    "apaisé": SOOTHED,
    "learn": LEARNED,
    "cause": LEARNED,
    "repair": REPAIRED,
    "repare": REPAIRED,
    "réparé": REPAIRED,
    "close": CLOSED,
    "clos": CLOSED,
    "clore": CLOSED,
    "escalate": ESCALATED,
    "escalade": ESCALATED,
    "escaladé": ESCALATED,
}


class IllegalStepError(UserError):
    """A step the protocol does not allow from the case's current state."""

    http_status = 409


def step_word(word: str) -> str:
    """The state a typed step means (``call-back``, ``rappel``, ``repair`` …)."""
    key = word.strip().lower().replace("-", "_").replace(" ", "_")
    state = _STEP_WORDS.get(key)
    if state is None:
        raise UserError(
            f"unknown step {word!r}",
            hint="steps: " + ", ".join(s for s in STATES if s != NEW),
        )
    return state


def allowed_steps(state: str, resume: str | None = None) -> tuple[str, ...]:
    """Steps allowed from ``state``; ``resume`` is the state an escalated case was in."""
    if state == CLOSED:
        return ()
    if state == ESCALATED:
        base = resume or NEW
        return (ORDER[ORDER.index(base) + 1],)
    return (ORDER[ORDER.index(state) + 1], ESCALATED)


@dataclass(frozen=True)
class StepDetails:
    note: str | None = None
    root_cause: str | None = None  # interaction | product_service | …
    theme: str | None = None
    action: str | None = None  # what was done to repair
    compensation: float | None = None

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "note"}


def check_step(
    case_id: str, state: str, resume: str | None, target: str, details: StepDetails
) -> None:
    """Refuse an illegal move (naming the allowed ones) or a step without what it needs."""
    allowed = allowed_steps(state, resume)
    if target not in allowed:
        if state == CLOSED:
            hint = "a closed case stays closed; a new signal from the customer opens a new case"
        else:
            hint = "allowed now: " + ", ".join(allowed)
        raise IllegalStepError(
            f"case {case_id} is {LABELS[state]['en']}: it cannot go to {target}", hint=hint
        )
    if target == LEARNED:
        if details.root_cause is not None and details.root_cause not in ROOT_CAUSE_DOMAINS:
            raise UserError(
                f"case {case_id}: {details.root_cause!r} is not a root cause",
                hint="root causes: " + ", ".join(ROOT_CAUSE_DOMAINS),
            )
        if details.root_cause is None:
            raise UserError(
                f"case {case_id}: the root cause must be given to record what was learned",
                hint="--root-cause interaction (waiting, attitude, wrong answer…) or "
                "product_service (quality, delivery…), price_billing, digital, other; "
                "and --theme the irritant theme",
            )
        if not details.theme:
            raise UserError(
                f"case {case_id}: name the theme of the root cause",
                hint="--theme wait_time (see taxonomy.yaml for the themes)",
            )
    if target == REPAIRED and not (details.action or details.note):
        raise UserError(
            f"case {case_id}: say what was done to repair",
            hint='--action "replaced the router" [--compensation 20]',
        )
    if target == ESCALATED and not details.note:
        raise UserError(
            f"case {case_id}: say why the case is escalated", hint='--note "customer threatens…"'
        )
    if details.compensation is not None:
        if target != REPAIRED:
            raise UserError(
                f"case {case_id}: a compensation is recorded with the repair",
                hint="give --compensation with the step repaired",
            )
        if not math.isfinite(details.compensation) or details.compensation < 0:
            raise UserError(
                f"case {case_id}: a compensation must be a positive amount",
                hint="e.g. --compensation 20",
            )
