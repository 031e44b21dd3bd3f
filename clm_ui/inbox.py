"""The app's importer of the import folder (DESIGN §4): one background thread per process.

``python -m clm_core load`` hands files to the running app through its import folder, since the app
holds the database file; :func:`watch` (called by app.py on every run, cheap after the first) starts
a :class:`clm_core.inbox.Watcher` once per process and folder, on the process connection
``clm_ui.data.root()``. It imports each job on the serialised write path; the dataset's version bump
invalidates the cached results of exactly that dataset, so nothing else is cleared here.
"""

from __future__ import annotations

import logging

import streamlit as st

from clm_core import inbox, store
from clm_ui import data

log = logging.getLogger(__name__)


def _stop(watcher: inbox.Watcher) -> None:
    watcher.stop(timeout=0)


# one per process and folder; started again should its thread ever have ended, stopped when cleared
@st.cache_resource(show_spinner=False, validate=lambda watcher: watcher.is_alive(), on_release=_stop)
def _watcher(folder: str, database: str, _con) -> inbox.Watcher:
    return inbox.Watcher(_con, folder).start()


def watch() -> inbox.Watcher | None:
    """Start the import folder's watcher of this process (once); None when it cannot be started."""
    try:
        database = store.database_path()
        return _watcher(str(inbox.folder(database).resolve()), database, data.root())
    except Exception:  # noqa: BLE001 - the pages work without the import folder
        log.exception("the import folder's watcher could not be started")
        return None
