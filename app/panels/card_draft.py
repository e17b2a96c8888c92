"""The model-card editor's draft — no Qt here.

The editor shows a draft, not the stored card: the texts being edited, the revision they
were edited from (the base an optimistic save is checked against), whether they differ from
what was loaded, and after a refused save the conflicting revision ("theirs"). Loading,
reverting, taking theirs and the outcome of a save are plain methods, so the rules — a
refresh never overwrites unsaved edits of the same card; after a conflict the next save goes
over theirs, knowingly — are tested without a window.
"""

from __future__ import annotations

from typing import Any

from watchkeeper.app.panels.governance_records import sections
from watchkeeper.app.panels.governance_work import card_to_texts, texts_to_card
from watchkeeper.app.panels.state import Observable

__all__ = ["CardDraft"]


class CardDraft(Observable):
    """The card being edited: whose, from which revision, its texts, and any conflict.

    ``filled`` counts the times the texts were replaced from a stored revision (load,
    revert, take theirs): the editor refills its fields when it changes, and not on the
    user's own keystrokes (:meth:`edit`), which would move the cursor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.key: tuple[str, str] | None = None  # (model, version) whose card this is
        self.stored: Any = None  # the stored ModelCard loaded last (None: no card yet)
        self.base: int | None = None  # the revision the next save is checked against
        self.dirty = False
        self.conflict: Any = None  # CardConflict of the last refused save (.current: theirs)
        self.filled = 0
        self._texts: dict[str, str] = {}

    @property
    def texts(self) -> dict[str, str]:
        """Each section's text as the editor holds it (a copy)."""
        return dict(self._texts)

    def load(self, model: str, version: str, card: Any) -> None:
        """Show the stored card of ``model``/``version`` unless it would lose the user's edits.

        Another card, or nothing unsaved: the stored revision replaces the texts. The same
        card with unsaved edits keeps them (a refresh after someone else's write).
        """
        key = (model, str(version))
        fresh = key != self.key
        if not fresh and self.dirty:
            return
        with self.batch():
            self._fill(card_to_texts(card.content if card is not None else None))
            self.set(
                key=key,
                stored=card,
                base=card.revision if card is not None else None,
                dirty=False,
            )
            if fresh:
                self.set(conflict=None)

    def edit(self, name: str, text: str) -> None:
        """The user changed one section."""
        self._texts[name] = text
        self.set(dirty=True)

    def revert(self) -> None:
        """Drop the user's edits (and a conflict on screen): back to the stored revision."""
        if self.key is None:
            return
        model, version = self.key
        with self.batch():
            self.set(key=None, dirty=False)
            self.load(model, version, self.stored)

    def take_theirs(self) -> bool:
        """Put the conflicting revision's texts in the editor; False when there is none."""
        theirs = getattr(self.conflict, "current", None)
        if theirs is None:
            return False
        with self.batch():
            self._fill(card_to_texts(theirs.content))
            self.set(dirty=True)
        return True

    def dismiss_conflict(self) -> None:
        self.set(conflict=None)

    def content(self) -> dict[str, Any]:
        """The texts as card content; raises WatchkeeperError when a JSON section is not."""
        return texts_to_card(self._texts)

    # -- outcomes of a save --------------------------------------------------------------

    def saved(self, revision: int) -> None:
        """The texts are stored as ``revision``."""
        self.set(base=revision, dirty=False, conflict=None)

    def drafted(self) -> None:
        """The texts went to a bundle's outbox: nothing of the user's is unsaved any more."""
        self.set(dirty=False)

    def conflicted(self, conflict: Any) -> None:
        """Someone saved a newer revision: keep the texts, and save over theirs next time."""
        theirs = conflict.current
        base = theirs.revision if theirs is not None else self.base
        self.set(conflict=conflict, base=base)

    # -- what the editor says --------------------------------------------------------------

    def status(self) -> str:
        """One line of rich text: where the edits started and whether any are unsaved."""
        if self.base is None:
            text = "No card yet for this version: fill in the sections and Save."
        else:
            text = f"Editing from revision {self.base}"
        if self.dirty:
            text += " · <b>unsaved edits</b>"
        return text

    def comparison(self) -> tuple[str, str, int]:
        """The conflict's differing sections as (yours, theirs, how many differ).

        Yours is the draft that was refused; when no section differs every one is shown.
        """
        theirs = getattr(self.conflict, "current", None)
        mine_texts = card_to_texts(getattr(self.conflict, "draft", None))
        theirs_texts = card_to_texts(theirs.content if theirs is not None else {})
        differing = [k for k in mine_texts if mine_texts[k] != theirs_texts[k]] or list(mine_texts)
        return (
            sections(mine_texts, differing),
            sections(theirs_texts, differing),
            len(differing),
        )

    def _fill(self, texts: dict[str, str]) -> None:
        self._texts = texts
        self.set(filled=self.filled + 1)
