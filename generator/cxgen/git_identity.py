"""A fixed git identity and date, so template-history commits are the same on every machine.

No cxgen imports here: tools/snapshot_template.py loads this file from the source tree.
"""

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "cxgen",
    "GIT_AUTHOR_EMAIL": "cxgen@localhost",
    "GIT_COMMITTER_NAME": "cxgen",
    "GIT_COMMITTER_EMAIL": "cxgen@localhost",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
