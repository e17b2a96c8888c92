"""The model-card editor's draft without Qt: loading, editing, reverting, conflicts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from watchkeeper.app.panels.card_draft import CardDraft
from watchkeeper.core.errors import WatchkeeperError


def card(revision: int, **content: object) -> SimpleNamespace:
    return SimpleNamespace(revision=revision, content=content)


def test_a_refresh_keeps_unsaved_edits_of_the_same_card_only() -> None:
    draft = CardDraft()
    seen: list[frozenset[str]] = []
    draft.subscribe(seen.append)
    draft.load("fraud", "2", card(2, owner="dana"))
    assert draft.texts["owner"] == "dana" and draft.base == 2 and not draft.dirty
    assert draft.status() == "Editing from revision 2" and len(seen) == 1
    filled = draft.filled

    draft.edit("owner", "dana (EU)")
    assert draft.dirty and "unsaved edits" in draft.status()
    assert draft.filled == filled  # a keystroke never refills the editor
    draft.load("fraud", "2", card(3, owner="lee"))  # someone saved meanwhile; a refresh
    assert draft.texts["owner"] == "dana (EU)" and draft.base == 2 and draft.dirty

    draft.load("fraud", "1", None)  # another version: its (missing) card replaces the texts
    assert draft.key == ("fraud", "1") and draft.base is None and not draft.dirty
    assert draft.texts["owner"] == "" and draft.filled == filled + 1
    assert draft.status().startswith("No card yet")


def test_revert_goes_back_to_the_stored_revision() -> None:
    draft = CardDraft()
    draft.revert()  # nothing loaded: nothing to do
    draft.load("fraud", "2", card(2, owner="dana"))
    draft.edit("owner", "typo")
    draft.revert()
    assert draft.texts["owner"] == "dana" and not draft.dirty and draft.key == ("fraud", "2")


def test_a_conflict_keeps_mine_offers_theirs_and_the_next_save_goes_over_theirs() -> None:
    draft = CardDraft()
    draft.load("fraud", "2", card(2, owner="dana", limitations="none"))
    draft.edit("owner", "mine")
    assert not draft.take_theirs()  # no conflict yet
    theirs = card(3, owner="theirs", limitations="none")
    conflict = SimpleNamespace(current=theirs, draft=draft.content(), base_revision=2)
    draft.conflicted(conflict)
    assert draft.base == 3 and draft.dirty and draft.texts["owner"] == "mine"
    mine_text, theirs_text, differing = draft.comparison()
    assert differing == 1
    assert mine_text == "[owner]\nmine" and theirs_text == "[owner]\ntheirs"

    assert draft.take_theirs()
    assert draft.texts["owner"] == "theirs" and draft.dirty and draft.conflict is conflict
    draft.saved(4)
    assert draft.base == 4 and not draft.dirty and draft.conflict is None


def test_a_refused_draft_and_an_outbox_draft() -> None:
    draft = CardDraft()
    draft.load("fraud", "2", card(2, owner="dana"))
    draft.edit("monitoring_thresholds", "{not json")
    with pytest.raises(WatchkeeperError, match="must be JSON"):
        draft.content()
    draft.edit("monitoring_thresholds", '{"psi": 0.2}')
    assert draft.content()["monitoring_thresholds"] == {"psi": 0.2}
    draft.drafted()  # signed into a bundle's outbox
    assert not draft.dirty and draft.base == 2


def test_a_conflict_is_dropped_when_another_card_is_loaded_or_dismissed() -> None:
    draft = CardDraft()
    draft.load("fraud", "2", card(2, owner="dana"))
    conflict = SimpleNamespace(current=card(3, owner="lee"), draft={"owner": "x"}, base_revision=2)
    draft.conflicted(conflict)
    draft.dismiss_conflict()
    assert draft.conflict is None and draft.base == 3
    draft.conflicted(conflict)
    draft.load("churn", "1", card(1, owner="kim"))
    assert draft.conflict is None and draft.texts["owner"] == "kim"
