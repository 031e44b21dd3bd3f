"""Next best category for cross-sell, from category co-occurrence across customers.

Over the purchasers with a categorised purchase (amount > 0) on or before T, N of them:
n(A) = customers who bought category A, n(A, B) = customers who bought both A and B.
For the rule A → B: confidence = P(B | A) = n(A, B) / n(A); lift = confidence / P(B) =
n(A, B) · N / (n(A) · n(B)). A lift above 1 means buyers of A buy B more often than
purchasers in general. Rules backed by fewer than ``min_customers`` customers are left out.

A customer's next best category is, among the categories they have not bought, the
consequent of the rule with the highest lift whose antecedent they have bought (ties:
more customers_both, then the category name, then the antecedent's name); only rules
with a lift above ``min_lift`` (default 1) are suggested. Rules are learnt from all
purchasers; a segment only chooses whose suggestions are returned.

Both are computed over the distinct *sets* of categories bought (a bit mask of the categories,
or their sorted list): the counts n(A), n(A, B) and N are sums of the customers of the sets that
hold A (and B), and a
customer's suggestion depends only on their set, so the rules are ranked once per set, not once
per customer — a few hundred sets instead of a million customers. The suggestions of the whole
dataset (:func:`whole_suggestions`) are computed once per dataset version and kept in memory and in
the database (``clm_core.models.cache``).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from clm_core.metrics.common import day_of, resolve_as_of, segment_customers
from clm_core.models import cache
from clm_core.store import Dataset

MIN_CUSTOMERS = 10
SUGGESTION_COLUMNS = ["customer_id", "category", "because_of", "lift"]

_SUGGESTIONS = cache.Memo(2)


def _purchases(dataset: Dataset, as_of):
    """Ibis table: the categorised purchases (amount > 0) on or before ``as_of``."""
    t = dataset.require("transactions")
    if "category" not in t.columns:
        raise ValueError("the transactions have no category column: next best category needs one")
    return t.filter(t.amount > 0, t.category.notnull(), day_of(t.ordered_at) <= ibis.literal(as_of))


def customer_categories(dataset: Dataset, as_of):
    """Ibis table of the distinct (customer_id, category) pairs purchased on or before ``as_of``."""
    return _purchases(dataset, as_of).select("customer_id", "category").distinct()


#: up to this many categories a set of categories is a bit mask (BIGINT), beyond it a sorted list of codes
MASK_CATEGORIES = 62


def _check(min_customers) -> None:
    if not isinstance(min_customers, int) or min_customers < 1:
        raise ValueError(f"min_customers must be a positive whole number, got {min_customers!r}")


def _category_names(dataset: Dataset, as_of) -> list[str]:
    """The categories purchased on or before ``as_of``, sorted (code i = position i)."""
    return sorted(_purchases(dataset, as_of).select("category").distinct().execute()["category"].tolist())


def _customer_sets(dataset: Dataset, as_of, names: list[str]):
    """Ibis table: customer_id, categories — the key of the set of categories they bought: a bit mask of
    the codes, or the sorted list of the codes when there are more than MASK_CATEGORIES categories."""
    pairs = customer_categories(dataset, as_of)
    codes = ibis.memtable(pd.DataFrame({"name": pd.array(names, dtype="str"),
                                        "code": np.arange(len(names), dtype=np.int64)}))
    coded = pairs.join(codes, pairs.category == codes.name).select(pairs.customer_id, codes.code)
    if len(names) <= MASK_CATEGORIES:
        # the sum of distinct powers of two is their bitwise or (which Ibis cannot compile for Spark)
        key = (ibis.literal(1, "int64") << coded.code).sum()
    else:
        key = coded.code.collect(order_by=coded.code, distinct=True)
    return coded.group_by("customer_id").aggregate(categories=key)


def _hashable(key):
    """A set's key as a dict key: the bit mask as an int, a list of codes as a tuple."""
    return int(key) if isinstance(key, (int, np.integer)) else tuple(int(code) for code in key)


def _members(key) -> tuple[int, ...]:
    """The codes in a set's key."""
    if isinstance(key, int):
        return tuple(code for code in range(key.bit_length()) if key >> code & 1)
    return key


def _set_counts(dataset: Dataset, as_of, names: list[str]) -> pd.DataFrame:
    """categories (hashable key), customers: the distinct sets of categories bought and their customers."""
    per = _customer_sets(dataset, as_of, names)
    sets = per.group_by("categories").aggregate(customers=per.count()).execute()
    return pd.DataFrame({"categories": pd.Series([_hashable(k) for k in sets["categories"]], dtype=object),
                         "customers": sets["customers"].astype("int64")})


def _rules(sets: pd.DataFrame, names: list[str], min_customers: int) -> pd.DataFrame:
    """antecedent, consequent, customers_both, lift, confidence (both directions of every pair with at least
    ``min_customers`` customers), from the set counts; in no particular order."""
    total = int(sets["customers"].sum())
    buyers = np.zeros(len(names), dtype=np.int64)
    both = np.zeros((len(names), len(names)), dtype=np.int64)
    for key, customers in zip(sets["categories"], sets["customers"]):
        members = np.array(_members(key), dtype=np.intp)
        buyers[members] += customers
        both[np.ix_(members, members)] += customers
    np.fill_diagonal(both, 0)
    a, b = np.nonzero(both >= min_customers)
    pairs = both[a, b]
    # one division of exact integers, as floats: equal ratios give equal floats, so ties stay ties
    lift = (pairs * total).astype("float64") / (buyers[a] * buyers[b]).astype("float64")
    return pd.DataFrame({
        "antecedent": pd.array([names[i] for i in a], dtype="str"),
        "consequent": pd.array([names[i] for i in b], dtype="str"),
        "customers_both": pairs.astype("int64"),
        "lift": lift,
        "confidence": pairs.astype("float64") / buyers[a],
    })


def category_lift(dataset: Dataset, as_of=None, min_customers: int = MIN_CUSTOMERS) -> pd.DataFrame:
    """antecedent, consequent, customers_both, lift, confidence; highest lift first."""
    _check(min_customers)
    as_of = resolve_as_of(dataset, as_of)
    names = _category_names(dataset, as_of)
    rules = _rules(_set_counts(dataset, as_of, names), names, min_customers)
    return rules.sort_values(["lift", "customers_both", "antecedent", "consequent"],
                             ascending=[False, False, True, True], ignore_index=True, kind="stable")


def _best_per_set(sets: pd.DataFrame, rules: pd.DataFrame, names: list[str]) -> dict:
    """key -> (category, because_of, lift): per set, among the rules from a category of the set to one not in
    it, the highest lift (ties: more customers_both, then the category's name, then the antecedent's)."""
    ordered = rules.sort_values(["lift", "customers_both", "consequent", "antecedent"],
                                ascending=[False, False, True, True], ignore_index=True, kind="stable")
    code = {name: i for i, name in enumerate(names)}
    candidates = list(zip((code[n] for n in ordered["antecedent"]), (code[n] for n in ordered["consequent"]),
                          ordered["lift"].tolist()))
    best = {}
    for key in sets["categories"]:
        members = set(_members(key))
        for a, b, lift in candidates:
            if a in members and b not in members:
                best[key] = (names[b], names[a], lift)
                break
    return best


def next_best_category(dataset: Dataset, as_of=None, segment=None, config=None,
                       min_customers: int = MIN_CUSTOMERS, min_lift: float = 1.0) -> pd.DataFrame:
    """customer_id, category, because_of, lift for each customer of the segment with a suggestion."""
    _check(min_customers)
    as_of = resolve_as_of(dataset, as_of)
    names = _category_names(dataset, as_of)
    sets = _set_counts(dataset, as_of, names)
    rules = _rules(sets, names, min_customers)
    best = _best_per_set(sets, rules[rules["lift"] > min_lift], names)
    per = _customer_sets(dataset, as_of, names)
    ids = segment_customers(dataset, segment, as_of, config)
    if ids is not None:
        per = per.semi_join(ids, per.customer_id == ids.customer_id)
    per = per.order_by("customer_id").execute()
    keys = per["categories"] if len(names) <= MASK_CATEGORIES else [_hashable(k) for k in per["categories"]]
    chosen = pd.Series(keys, dtype=object).map(best)
    found = chosen.notna().to_numpy()
    picked = chosen[found].tolist()
    return pd.DataFrame({
        "customer_id": per["customer_id"][found].reset_index(drop=True),
        "category": pd.array([c for c, _, _ in picked], dtype="str"),
        "because_of": pd.array([a for _, a, _ in picked], dtype="str"),
        "lift": np.array([x for _, _, x in picked], dtype="float64"),
    })


def whole_suggestions(dataset: Dataset, as_of=None) -> pd.DataFrame:
    """``next_best_category`` of every customer (default thresholds), computed once per dataset version and
    kept in memory and in the database. Shared: do not modify the frame."""
    as_of = resolve_as_of(dataset, as_of)
    key = cache.key_text(as_of=as_of, min_customers=MIN_CUSTOMERS, min_lift=1.0)

    def load() -> pd.DataFrame:
        return cache.stored(dataset, "suggestions", key, lambda: ({}, next_best_category(dataset, as_of)),
                            frame=True)[1]

    return _SUGGESTIONS.get((cache.dataset_key(dataset), key), load)
