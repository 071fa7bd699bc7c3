"""Conversation threads from reply ids (a tweet answering a tweet answering a tweet…).

Exports such as Twitter's give each message the id of the message it answers. A customer's
conversation is the chain up to its first message: every message of it gets that first
message's id as ``thread_ref``. When the chain leaves the store (the first message was never
exported), the oldest id the chain names is used, so the messages still share one thread.
"""

from __future__ import annotations

import duckdb

MAX_DEPTH = 500  # a reply chain longer than this is cut (and a cycle cannot loop forever)


def resolve_threads(con: duckdb.DuckDBPyConnection, source: str, load_id: int) -> None:
    """Rewrite ``thread_ref`` of the source's messages from parent ids to thread roots.

    The parent id of each message is kept in ``attributes`` under ``reply_to`` the first time,
    so that running it again (or on later loads that add missing links) gives the same answer.
    """
    con.execute(
        """
        UPDATE interactions
        SET attributes = json_merge_patch(coalesce(attributes, '{}'),
                                          json_object('reply_to', thread_ref))
        WHERE source = ? AND load_id = ? AND thread_ref IS NOT NULL
        """,
        [source, load_id],
    )
    # Only this load's messages and the messages below them can change thread: a new message
    # may link an older reply to an older conversation.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __voxloop_thread_rows AS
        WITH RECURSIVE down(id, depth) AS (
            SELECT external_id, 0 FROM interactions WHERE source = $1 AND load_id = $2
            UNION
            SELECT c.external_id, down.depth + 1
            FROM down JOIN interactions c
              ON c.source = $1 AND c.attributes->>'$.reply_to' = down.id
            WHERE down.depth < {MAX_DEPTH}
        )
        SELECT DISTINCT id FROM down
        """,
        [source, load_id],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __voxloop_threads AS
        WITH RECURSIVE up(id, node, parent, depth) AS (
            SELECT i.external_id, i.external_id, i.attributes->>'$.reply_to', 0
            FROM interactions i JOIN __voxloop_thread_rows r ON r.id = i.external_id
            WHERE i.source = $1
            UNION ALL
            SELECT up.id, p.external_id, p.attributes->>'$.reply_to', up.depth + 1
            FROM up JOIN interactions p ON p.source = $1 AND p.external_id = up.parent
            WHERE up.depth < {MAX_DEPTH}
        )
        SELECT id, arg_max(coalesce(parent, node), depth) AS root
        FROM up GROUP BY id
        """,
        [source],
    )
    con.execute(
        """
        UPDATE interactions SET thread_ref = t.root
        FROM __voxloop_threads t
        WHERE interactions.source = ? AND interactions.external_id = t.id
          AND interactions.thread_ref IS DISTINCT FROM t.root
        """,
        [source],
    )
    con.execute("DROP TABLE __voxloop_threads")
    con.execute("DROP TABLE __voxloop_thread_rows")
