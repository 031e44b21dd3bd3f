"""Next best category: category lift from co-occurrence across customers, computed by hand."""

from __future__ import annotations

import pytest

import pandas as pd

from clm_core.filters import SegmentFilter
from clm_core.models import cross_sell
from clm_core.models.cross_sell import category_lift, next_best_category, whole_suggestions

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def basket_ds(load):
    # Categories bought (amount > 0, on or before AS_OF) per customer:
    #   c1 {A, B}   c2 {A, B, C}   c3 {A}   c4 {B, C}   c5 {C}   c6 {D}       N = 6 purchasers
    # Not counted: c1's return in D, c3's purchase of C after AS_OF, c5's purchase without a category;
    # p never buys.
    # n(A) = 3, n(B) = 3, n(C) = 3, n(D) = 1;  n(A,B) = 2 (c1, c2), n(A,C) = 1 (c2), n(B,C) = 2 (c2, c4),
    # no pair with D.
    return load(
        customers="""
        customer_id,region
        c1,north
        c2,north
        c3,south
        c4,south
        c5,north
        c6,south
        p,north
        """,
        transactions="""
        customer_id,ordered_at,amount,category
        c1,2024-01-05,10,A
        c1,2024-02-05,20,B
        c1,2024-03-05,-5,D
        c2,2024-01-10,10,A
        c2,2024-01-10,10,B
        c2,2024-05-10,10,C
        c3,2024-03-01,15,A
        c3,2024-03-20,15,A
        c3,2024-07-01,15,C
        c4,2024-02-01,10,B
        c4,2024-06-30,10,C
        c5,2024-04-01,10,C
        c5,2024-04-02,10,
        c6,2024-01-01,30,D
        """,
    )


def test_category_lift_by_hand(basket_ds):
    rules = category_lift(basket_ds, AS_OF, min_customers=1)
    # lift(X→Y) = n(X,Y) · N / (n(X) · n(Y)), confidence = n(X,Y) / n(X):
    #   A→B, B→A, B→C, C→B: 2 · 6 / (3 · 3) = 4/3, confidence 2/3
    #   A→C, C→A:          1 · 6 / (3 · 3) = 2/3, confidence 1/3
    # order: lift, then customers_both (both descending), then antecedent, consequent
    assert list(zip(rules["antecedent"], rules["consequent"])) == [
        ("A", "B"), ("B", "A"), ("B", "C"), ("C", "B"), ("A", "C"), ("C", "A")]
    assert rules["customers_both"].tolist() == [2, 2, 2, 2, 1, 1]
    assert rules["lift"].tolist() == pytest.approx([4 / 3] * 4 + [2 / 3] * 2)
    assert rules["confidence"].tolist() == pytest.approx([2 / 3] * 4 + [1 / 3] * 2)


def test_min_customers_drops_thin_rules(basket_ds):
    rules = category_lift(basket_ds, AS_OF, min_customers=2)
    assert sorted(zip(rules["antecedent"], rules["consequent"])) == [("A", "B"), ("B", "A"), ("B", "C"), ("C", "B")]
    assert category_lift(basket_ds, AS_OF).empty  # default: at least 10 customers per rule
    with pytest.raises(ValueError, match="min_customers"):
        category_lift(basket_ds, AS_OF, min_customers=0)


def test_next_best_category_by_hand(basket_ds):
    best = next_best_category(basket_ds, AS_OF, min_customers=1).set_index("customer_id")
    # c1 {A, B}: A→C has lift 2/3 (not above 1), B→C 4/3                -> C because of B
    # c2 owns A, B, C and D has no rules; c6 {D}: no rule from D         -> no suggestion
    # c3 {A}: A→B 4/3 (its C comes after AS_OF, so C is open: A→C 2/3)  -> B because of A
    # c4 {B, C}: B→A 4/3, C→A 2/3                                        -> A because of B
    # c5 {C}: C→B 4/3, C→A 2/3                                           -> B because of C
    assert best.index.tolist() == ["c1", "c3", "c4", "c5"]
    assert best["category"].tolist() == ["C", "B", "A", "B"]
    assert best["because_of"].tolist() == ["B", "A", "B", "C"]
    assert best["lift"].tolist() == pytest.approx([4 / 3] * 4)


def test_min_lift_zero_suggests_negative_associations(basket_ds):
    best = next_best_category(basket_ds, AS_OF, min_customers=1, min_lift=0.0).set_index("customer_id")
    # nothing changes for c1, c3, c4, c5 (their best lift is 4/3), and no new customer gains a rule
    assert best["category"].to_dict() == {"c1": "C", "c3": "B", "c4": "A", "c5": "B"}


def test_segment_only_chooses_whose_suggestions(basket_ds):
    north = SegmentFilter(attributes={"region": ("north",)})
    best = next_best_category(basket_ds, AS_OF, segment=north, min_customers=1)
    # rules still come from all six purchasers: c1 and c5 keep their suggestions (c2 has none)
    assert best["customer_id"].tolist() == ["c1", "c5"]
    assert best["category"].tolist() == ["C", "B"]


@pytest.fixture(scope="module")
def tie_ds(load):
    # t {X}   u {X, Y, Z}   v {X, Y}   w {Y}   w2 {Y}   z {Z}   q {Q}   s {P}   m {P, M, N}     N = 9
    # n(X) = 3, n(Y) = 4, n(Z) = 2, n(P) = 2, n(M) = n(N) = 1
    return load(
        transactions="""
        customer_id,ordered_at,amount,category
        t,2024-01-01,1,X
        u,2024-01-01,1,X
        u,2024-01-02,1,Y
        u,2024-01-03,1,Z
        v,2024-01-01,1,X
        v,2024-01-02,1,Y
        w,2024-01-01,1,Y
        w2,2024-01-01,1,Y
        z,2024-01-01,1,Z
        q,2024-01-01,1,Q
        s,2024-01-01,1,P
        m,2024-01-01,1,P
        m,2024-01-01,1,M
        m,2024-01-01,1,N
        """,
    )


def test_ties_by_support_then_name(tie_ds):
    best = next_best_category(tie_ds, min_customers=1).set_index("customer_id")
    # t {X}: X→Y = 2 · 9 / (3 · 4) = 1.5 and X→Z = 1 · 9 / (3 · 2) = 1.5: equal lift, Y has 2 customers
    #        in common with X, Z only 1                                  -> Y
    # s {P}: P→M = P→N = 1 · 9 / (2 · 1) = 4.5, one customer each: by name -> M
    assert best.loc["t", ["category", "because_of"]].tolist() == ["Y", "X"]
    assert best.loc["t", "lift"] == pytest.approx(1.5)
    assert best.loc["s", ["category", "because_of"]].tolist() == ["M", "P"]
    assert best.loc["s", "lift"] == pytest.approx(4.5)


def test_without_category_column_a_clear_error(make_dataset):
    ds = make_dataset(transactions="""
        customer_id,ordered_at,amount
        a,2024-01-01,10
        """)
    with pytest.raises(ValueError, match="no category column"):
        category_lift(ds)
    with pytest.raises(ValueError, match="no category column"):
        next_best_category(ds)


@pytest.mark.parametrize("name", ["basket_ds", "tie_ds"])
def test_sets_as_lists_of_categories_give_the_same_results(name, request, monkeypatch):
    """Above MASK_CATEGORIES categories a set of categories is a sorted list instead of a bit mask."""
    ds = request.getfixturevalue(name)
    north = SegmentFilter(attributes={"region": ("north",)}) if name == "basket_ds" else None
    as_masks = [category_lift(ds, AS_OF, min_customers=1), next_best_category(ds, AS_OF, min_customers=1),
                next_best_category(ds, AS_OF, north, min_customers=1, min_lift=0.0)]
    monkeypatch.setattr(cross_sell, "MASK_CATEGORIES", 1)
    as_lists = [category_lift(ds, AS_OF, min_customers=1), next_best_category(ds, AS_OF, min_customers=1),
                next_best_category(ds, AS_OF, north, min_customers=1, min_lift=0.0)]
    for masked, listed in zip(as_masks, as_lists):
        pd.testing.assert_frame_equal(masked, listed)


def test_whole_suggestions_are_stored_and_read_back_equal(make_dataset):
    sets = ["AB"] * 20 + ["A"] * 10 + ["B"] * 5 + ["C"] * 20 + ["BC"] * 10
    ds = make_dataset(transactions="customer_id,ordered_at,amount,category\n" + "".join(
        f"k{i:02d},2024-01-{1 + j},{5 + i},{category}\n" for i, bought in enumerate(sets)
        for j, category in enumerate(bought)))
    fresh = next_best_category(ds)
    assert len(fresh)
    first = whole_suggestions(ds)
    pd.testing.assert_frame_equal(first, fresh)
    cross_sell._SUGGESTIONS.clear()  # a new server process: read from the database
    pd.testing.assert_frame_equal(whole_suggestions(ds), fresh)
