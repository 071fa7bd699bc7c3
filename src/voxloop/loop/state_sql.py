"""The current state of every case, derived from its log in one SQL pass.

:func:`voxloop.loop.events.derive` folds one case's log the same way in Python; a property
test checks that both folds agree on random logs. Nothing here is stored: the log is the
truth, this is a view of it.
"""

CASE_STATE_SQL = """
    SELECT case_id,
           coalesce(arg_max(to_state, seq) FILTER (WHERE kind = 'step'), 'new') AS state,
           arg_min("at", seq) FILTER (WHERE kind = 'step' AND to_state <> 'escalated')
               AS responded_at,
           arg_max("at", seq) FILTER (WHERE kind = 'step' AND to_state = 'closed') AS closed_at,
           arg_max(data->>'hub', seq)
               FILTER (WHERE kind IN ('opened', 'route') AND data->>'hub' IS NOT NULL) AS hub,
           arg_max(data->>'to', seq)
               FILTER (WHERE data->>'to' IS NOT NULL
                       AND kind IN ('opened', 'route', 'assign', 'escalate')) AS owner,
           coalesce(max(CAST(data->>'level' AS INTEGER))
               FILTER (WHERE kind = 'escalate' AND data->>'phase' = 'response'), 0)
               AS response_level,
           coalesce(max(CAST(data->>'level' AS INTEGER))
               FILTER (WHERE kind = 'escalate' AND data->>'phase' = 'resolution'), 0)
               AS resolution_level,
           list(DISTINCT data->>'phase') FILTER (WHERE kind = 'warning') AS warned_phases,
           count(*) FILTER (WHERE kind = 'pause') AS pauses,
           coalesce(arg_max(kind, seq) FILTER (WHERE kind IN ('pause', 'resume')) = 'pause',
                    false) AS paused,
           count(*) FILTER (WHERE kind = 'signal') + 1 AS signals,
           coalesce(bool_or(kind = 'resurvey'), false) AS resurveyed,
           arg_max(data->>'root_cause', seq) FILTER (WHERE data->>'root_cause' IS NOT NULL)
               AS root_cause,
           arg_max(data->>'theme', seq) FILTER (WHERE data->>'theme' IS NOT NULL) AS theme,
           sum(CAST(data->>'compensation' AS DOUBLE)) FILTER (WHERE kind = 'step')
               AS compensation,
           arg_max(data->>'due_response', seq) FILTER (WHERE kind = 'resume') AS due_response,
           arg_max(data->>'due_resolution', seq) FILTER (WHERE kind = 'resume')
               AS due_resolution,
           max("at") FILTER (WHERE kind IN ('opened', 'step')) AS last_contact_at,
           max(seq) AS last_seq
    FROM case_events GROUP BY case_id
"""
