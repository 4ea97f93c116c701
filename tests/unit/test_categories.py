"""Category paths (TKT-2): one written form, a tree that holds its branches, and the faults named."""

import unicodedata

from services.common import categories


def test_a_path_is_written_one_way_whatever_the_spaces_or_the_unicode_form() -> None:
    composed = "결제/환불"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert categories.canonical(f" {decomposed.replace('/', ' / ')} ") == composed
    assert composed in categories.tree([decomposed])


def test_a_tree_listed_by_its_leaves_holds_every_branch_above_them() -> None:
    assert categories.tree(["billing/refund/card", "delivery"]) == {
        "billing",
        "billing/refund",
        "billing/refund/card",
        "delivery",
    }


def test_an_empty_level_or_a_sixth_one_is_named() -> None:
    assert categories.problem("billing/refund") is None
    assert categories.problem("a/b/c/d/e") is None
    assert "empty level" in (categories.problem("billing//refund") or "")
    assert "empty level" in (categories.problem("billing/ ") or "")
    assert "at most 5" in (categories.problem("a/b/c/d/e/f") or "")
