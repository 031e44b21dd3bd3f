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
"""

from __future__ import annotations

import ibis
import pandas as pd

from clm_core.metrics.common import day_of, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

MIN_CUSTOMERS = 10


def customer_categories(dataset: Dataset, as_of):
    """Ibis table of the distinct (customer_id, category) pairs purchased on or before ``as_of``."""
    t = dataset.require("transactions")
    if "category" not in t.columns:
        raise ValueError("the transactions have no category column: next best category needs one")
    t = t.filter(t.amount > 0, t.category.notnull(), day_of(t.ordered_at) <= ibis.literal(as_of))
    return t.select("customer_id", "category").distinct()


def lift_table(dataset: Dataset, as_of, min_customers: int = MIN_CUSTOMERS):
    """Ibis table: antecedent, consequent, customers_both, lift, confidence (both directions of every pair)."""
    if not isinstance(min_customers, int) or min_customers < 1:
        raise ValueError(f"min_customers must be a positive whole number, got {min_customers!r}")
    pairs = customer_categories(dataset, as_of)
    total = pairs.customer_id.nunique().as_scalar()
    buyers = pairs.group_by("category").aggregate(customers=pairs.count())
    a, b = pairs.view(), pairs.view()
    both = a.join(b, (a.customer_id == b.customer_id) & (a.category != b.category)).select(
        antecedent=a.category, consequent=b.category)
    both = both.group_by(["antecedent", "consequent"]).aggregate(customers_both=both.count())
    both = both.filter(both.customers_both >= min_customers)
    na, nb = buyers.view(), buyers.view()
    rules = both.join(na, both.antecedent == na.category).join(nb, both.consequent == nb.category).select(
        both.antecedent, both.consequent, both.customers_both,
        n_antecedent=na.customers, n_consequent=nb.customers)
    # one division of exact integers: equal ratios give equal floats, so ties stay ties
    lift = (rules.customers_both * total).cast("float64") / (rules.n_antecedent * rules.n_consequent).cast("float64")
    return rules.select(
        "antecedent", "consequent", "customers_both",
        lift=lift,
        confidence=rules.customers_both.cast("float64") / rules.n_antecedent,
    )


def category_lift(dataset: Dataset, as_of=None, min_customers: int = MIN_CUSTOMERS) -> pd.DataFrame:
    """antecedent, consequent, customers_both, lift, confidence; highest lift first."""
    as_of = resolve_as_of(dataset, as_of)
    rules = lift_table(dataset, as_of, min_customers)
    return rules.order_by([ibis.desc("lift"), ibis.desc("customers_both"), "antecedent", "consequent"]).execute()


def next_best_category(dataset: Dataset, as_of=None, segment=None, config=None,
                       min_customers: int = MIN_CUSTOMERS, min_lift: float = 1.0) -> pd.DataFrame:
    """customer_id, category, because_of, lift for each customer of the segment with a suggestion."""
    as_of = resolve_as_of(dataset, as_of)
    rules = lift_table(dataset, as_of, min_customers)
    rules = rules.filter(rules.lift > min_lift)
    bought = customer_categories(dataset, as_of)
    mine = restrict(bought, segment_customers(dataset, segment, as_of, config))
    candidates = mine.join(rules, mine.category == rules.antecedent).select(
        mine.customer_id, rules.consequent, rules.antecedent, rules.lift, rules.customers_both)
    owned = bought.view()
    candidates = candidates.anti_join(
        owned, (candidates.customer_id == owned.customer_id) & (candidates.consequent == owned.category))
    order = [ibis.desc("lift"), ibis.desc("customers_both"), "consequent", "antecedent"]
    ranked = candidates.mutate(rank=ibis.row_number().over(group_by="customer_id", order_by=order))
    best = ranked.filter(ranked["rank"] == 0).select(
        "customer_id", category=ranked.consequent, because_of=ranked.antecedent, lift=ranked.lift)
    return best.order_by("customer_id").execute()
