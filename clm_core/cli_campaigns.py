"""``python -m clm_core campaigns …``: effects of past campaigns as ``campaign_effects.csv`` (DESIGN §3.6).

Registered by ``clm_core.__main__.build_parser`` through :func:`add_parser`.
"""

from __future__ import annotations

from pathlib import Path

from clm_core import export
from clm_core.metrics.campaigns import COLUMNS, campaign_effects

INPUTS = ("customers", "transactions", "campaigns")


def add_parser(subparsers) -> None:
    """Add the ``campaigns`` subcommand to the CLI's subparsers."""
    cmd = subparsers.add_parser("campaigns", help="evaluate past campaigns: response, uplift, ROI per campaign")
    cmd.add_argument("--customers", required=True)
    cmd.add_argument("--transactions", required=True)
    cmd.add_argument("--campaigns", required=True)
    cmd.add_argument("--window-days", dest="window_days", type=int, default=30,
                     help="response window after the send day, in days (default 30)")
    cmd.add_argument("--margin", type=float, default=1.0, help="margin on incremental revenue for ROI (default 1.0)")
    cmd.add_argument("--as-of", dest="as_of")
    cmd.add_argument("--map", action="append", metavar="[table:]HEADER=canonical")
    cmd.add_argument("--database", help="DuckDB file to load into (default: a fresh in-memory database), or a "
                                        "Spark URL to compute on (as for report)")
    cmd.add_argument("--out", required=True)
    cmd.set_defaults(run=run)


def run(args) -> int:
    """Write ``campaign_effects.csv`` (errors are reported by ``clm_core.__main__.main``)."""
    from clm_core.__main__ import computed_on  # imported late: __main__ imports this module

    with computed_on(args, INPUTS, "campaigns") as (dataset, _):
        effects = campaign_effects(dataset, args.window_days, args.as_of, margin=args.margin)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    export.to_csv(effects[list(COLUMNS)], out / "campaign_effects.csv", index=False)
    for r in effects.itertuples():
        if r.causal:
            line = f"uplift {r.uplift:+.1%} (95 % CI {r.ci_low:+.1%} to {r.ci_high:+.1%}), ROI {r.roi:.2f}"
        else:
            line = f"no control group: before/after {r.change_before_after:+.1%} (not causal)"
        note = "" if r.window_complete else "; window not complete"
        print(f"{r.campaign}: {r.treated} treated, {r.control} control; {line}{note}")
    print(f"wrote {out / 'campaign_effects.csv'} ({len(effects)} campaigns)")
    return 0
