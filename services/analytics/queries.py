"""The SQL of every analytics answer, in one place so each definition is read and reviewed once.

Rules every query keeps:
- tenant scoping (ORG-1): the tenant is a bound parameter of every query, never an optional filter;
- exactly-once answers: cc.events is read with FINAL, which collapses the copies of an event that an
  at-least-once replay inserted, even before ClickHouse has merged them away (the journey and the
  events export keep one copy of each event with LIMIT 1 BY instead, see JOURNEY);
- values are bound server-side ({name:Type}), never formatted into the SQL text.
"""

# A customer's journey (AN-1): everything that happened to them across calls, routing and tickets, in
# the order it happened, read from cc.journey's key range of that customer (schema.py says why). Events
# of one command share occurred_at, so the aggregate version and then the (time-ordered UUIDv7) event
# id break ties deterministically: the table's own order. The copies of a replayed event are identical
# rows, so LIMIT 1 BY event_id keeps one of each: exactly-once like FINAL, which here cost 2-3x a raw
# keyed read at 10M events (p95 56-63 ms against 22; LIMIT 1 BY 27-32 ms: `make bench-journey`).
_JOURNEY_ROWS = """
SELECT
    event_id, event_type, occurred_at, aggregate_type, aggregate_id, aggregate_version, correlation_id,
    actor_type, actor_id, payload_json, payload_case, payload
FROM cc.journey
WHERE tenant_id = {{tenant_id:String}} AND customer_id = {{customer_id:String}}{narrower}
ORDER BY occurred_at, aggregate_version, event_id
LIMIT 1 BY event_id
LIMIT {{limit:UInt32}}
"""
JOURNEY = _JOURNEY_ROWS.format(narrower="")
# One contact's journey: its call's and routing's events, and every event of the tickets opened on it.
CONTACT_JOURNEY = _JOURNEY_ROWS.format(
    narrower="""
    AND ((contact_id = {contact_id:String} AND aggregate_type != 'ticket')
        OR aggregate_id IN (
            SELECT aggregate_id FROM cc.journey
            WHERE tenant_id = {tenant_id:String} AND customer_id = {customer_id:String}
                AND aggregate_type = 'ticket' AND contact_id = {contact_id:String}))"""
)
# One ticket's journey: its own events, and its contact's call and routing events (not the events of
# other tickets on the same contact).
TICKET_JOURNEY = _JOURNEY_ROWS.format(
    narrower="""
    AND (aggregate_id = {ticket_id:String}
        OR (contact_id = {contact_id:String} AND contact_id != '' AND aggregate_type != 'ticket'))"""
)
# Whose contact it is: found through cc.journey's bloom filter on contact_id, without FINAL (a copy
# names the same customer).
CONTACT_OWNER = """
SELECT customer_id FROM cc.journey
WHERE tenant_id = {tenant_id:String} AND contact_id = {contact_id:String}
LIMIT 1
"""
# Whose ticket it is now, and the contact it was opened on ('' for one opened without a call).
TICKET_OWNER = """
SELECT argMax(customer_id, (occurred_at, aggregate_version)), max(contact_id) FROM cc.journey
WHERE tenant_id = {tenant_id:String} AND aggregate_id = {ticket_id:String} AND aggregate_type = 'ticket'
HAVING count() > 0
"""

# Call statistics (AN-3) over [from_time, to_time), by queue, agent, site, line or direction and by
# period, with Amazon Connect's definitions (the same as the live metrics of services/routing/metrics.py,
# so historical and live numbers agree); the queue statistics are these by queue over the whole period
# (AN-5: one definition):
# - offered: contacts that entered the queue, counted by their telephony.call.queued events; the
#   re-queue after a ring-no-answer (RONA) or the agent's reject is the same contact, not a new offer,
#   and so is a callback back in its queue (TEL-5); a transfer (TEL-1) is a new offer in the queue it
#   goes to;
# - answered: telephony.call.answered events (an agent took the contact from the queue), a callback's
#   first attempt only, and not a consulted agent taking a call over (a consult transfer, TEL-1);
# - abandoned: telephony.call.ended events with abandoned set (the caller hung up while queued or while
#   an agent's phone rang);
# - service level X: contacts removed from the queue (answered or abandoned) within X seconds of their
#   enqueue, as a percentage of all contacts removed; a RONA does not restart the clock (its CallQueued
#   carries the first enqueue), a transfer does (the wait in the queue it goes to);
# - average speed of answer (ASA): mean of answered_at - enqueue over the answered contacts;
# - average handle time (AHT): mean of talk + after-contact work, i.e. from an agent's answer to the
#   end of that agent's wrap-up on that contact: its routing.agent.state_changed leaving wrap-up with
#   that contact_id (or its logging out during that wrap-up), minus its answer. A transferred call is
#   handled once by each agent that answered it, in the queue it answered from;
# - held and average hold time: the contacts whose caller was put on hold after an agent answered (an
#   agent's hold, a consultation), counted when the call ends, in the queue it ends in, and their mean
#   time on hold in all (Amazon Connect's "customer hold time" over the contacts put on hold).
# Each count belongs to the interval in which its event happened (the answer, the abandon, the end of
# wrap-up); what it is measured from (the enqueue, the answer) may lie before the interval, so those
# lookups are not limited by the range. Ratios and means are NULL when there is nothing to measure.
# By agent, offers and abandons (no agent took them) are counted under the empty key; an agent's facts
# are the site's where the agent's latest login before the fact was; a call's facts are its line's.
# Outbound calls (TEL-8) count too, by direction: offered when their agent placed them (under that
# agent), answered when the customer answered, and handled and held as any call; they wait in no queue,
# so service level and speed of answer are the inbound calls'.
# {bucket} and {key} are chosen from fixed expressions by the store, never from input.
CALL_STATISTICS = """
WITH
    tenant_events AS (
        SELECT event_type, aggregate_id, occurred_at, queue_id, agent_id, contact_id, reason, abandoned,
               enqueued_at, state, previous_state,
               if(event_type = 'telephony.call.answered', ifNull(payload_callback_attempt, 0), 0)
                   AS callback_attempt,
               if(event_type = 'telephony.call.answered', ifNull(payload_consulted, false), 0)
                   AS consulted,
               if(event_type = 'telephony.call.ended', ifNull(payload_hold_seconds, 0), 0)
                   AS hold_seconds,
               if(event_type = 'routing.agent.logged_in', ifNull(payload_site_id, ''), '')
                   AS site_id,
               if(event_type IN ('telephony.call.offered', 'telephony.call.outbound_call_placed'),
                  ifNull(payload_line_id, ''), '') AS line_id
        FROM cc.events FINAL
        WHERE tenant_id = {{tenant_id:String}} AND aggregate_type IN ('call', 'agent')
    ),
    -- The line of business each call came in on (TEL-3), or an outbound call was placed from (TEL-8):
    -- its statistics are the line's.
    call_lines AS (
        SELECT aggregate_id AS call_id, any(line_id) AS line_id
        FROM tenant_events
        WHERE event_type IN ('telephony.call.offered', 'telephony.call.outbound_call_placed')
        GROUP BY aggregate_id
    ),
    -- Outbound calls (TEL-8): every other call is inbound.
    outbound_calls AS (
        SELECT DISTINCT aggregate_id AS call_id
        FROM tenant_events
        WHERE event_type = 'telephony.call.outbound_call_placed'
    ),
    -- CallQueued.enqueued_at carries the enqueue of its wait (the first on a RONA re-queue, the
    -- transfer's on a transfer): the latest CallQueued's is the wait a call ends or is answered in.
    last_enqueue AS (
        SELECT aggregate_id AS call_id, argMax(coalesce(enqueued_at, occurred_at), occurred_at) AS enqueued_at
        FROM tenant_events
        WHERE event_type = 'telephony.call.queued'
        GROUP BY aggregate_id
    ),
    -- An agent answering an inbound call, or the customer answering an outbound one.
    answers AS (
        SELECT aggregate_id AS call_id, queue_id, agent_id, occurred_at AS answered_at, enqueued_at,
               callback_attempt, consulted
        FROM tenant_events
        WHERE event_type IN ('telephony.call.answered', 'telephony.call.outbound_call_connected')
    ),
    -- The moment the agent's work on a contact ended: leaving wrap-up, or logging out during it (then the
    -- contact is the one of the agent's latest entry into wrap-up).
    work_ends AS (
        SELECT contact_id, aggregate_id AS agent_id, occurred_at AS ended_at
        FROM tenant_events
        WHERE event_type = 'routing.agent.state_changed' AND previous_state = 'AGENT_STATE_WRAP_UP'
          AND contact_id != ''
        UNION ALL
        SELECT wrap_up.contact_id, logout.agent_id, logout.occurred_at
        FROM (
            SELECT aggregate_id AS agent_id, occurred_at
            FROM tenant_events
            WHERE event_type = 'routing.agent.logged_out' AND previous_state = 'AGENT_STATE_WRAP_UP'
        ) AS logout
        ASOF INNER JOIN (
            SELECT aggregate_id AS agent_id, occurred_at AS began_at, contact_id
            FROM tenant_events
            WHERE event_type = 'routing.agent.state_changed' AND state = 'AGENT_STATE_WRAP_UP'
        ) AS wrap_up
        ON logout.agent_id = wrap_up.agent_id AND logout.occurred_at >= wrap_up.began_at
    ),
    -- Where each agent sat: the site of its latest login (an agent logs in at one site at a time).
    logins AS (
        SELECT aggregate_id AS agent_id, occurred_at AS logged_in_at, site_id
        FROM tenant_events
        WHERE event_type = 'routing.agent.logged_in'
    ),
    -- One row per counted fact: when it happened, its queue and agent, its kind and the seconds it
    -- measures (wait, handle or hold time). Inbound offers and abandons belong to no agent; an outbound
    -- call is offered when its agent places it, in no queue.
    facts AS (
        SELECT occurred_at AS at, queue_id,
               if(event_type = 'telephony.call.queued', '', agent_id) AS agent_id, 'offered' AS kind,
               CAST(NULL, 'Nullable(Float64)') AS seconds, aggregate_id AS call_id
        FROM tenant_events
        WHERE (event_type = 'telephony.call.outbound_call_placed'
               OR (event_type = 'telephony.call.queued'
                   AND reason NOT IN ('ring-no-answer', 'rejected', 'callback-slot', 'callback-retry')))
          AND occurred_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND occurred_at < {{to_time:DateTime64(6, 'UTC')}}
        UNION ALL
        SELECT answers.answered_at, answers.queue_id, answers.agent_id, 'answered',
               dateDiff('microsecond', coalesce(answers.enqueued_at, last_enqueue.enqueued_at),
                        answers.answered_at) / 1e6,
               answers.call_id
        FROM answers LEFT JOIN last_enqueue ON last_enqueue.call_id = answers.call_id
        WHERE answers.callback_attempt <= 1 AND NOT answers.consulted
          AND answers.answered_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND answers.answered_at < {{to_time:DateTime64(6, 'UTC')}}
        UNION ALL
        SELECT ended.occurred_at, ended.queue_id, '', 'abandoned',
               dateDiff('microsecond', last_enqueue.enqueued_at, ended.occurred_at) / 1e6, ended.aggregate_id
        FROM (
            SELECT aggregate_id, queue_id, occurred_at
            FROM tenant_events
            WHERE event_type = 'telephony.call.ended' AND abandoned
              AND occurred_at >= {{from_time:DateTime64(6, 'UTC')}}
              AND occurred_at < {{to_time:DateTime64(6, 'UTC')}}
        ) AS ended
        LEFT JOIN last_enqueue ON last_enqueue.call_id = ended.aggregate_id
        UNION ALL
        SELECT work_ends.ended_at, answers.queue_id, answers.agent_id, 'handled',
               dateDiff('microsecond', answers.answered_at, work_ends.ended_at) / 1e6, answers.call_id
        FROM work_ends
        ASOF INNER JOIN answers
        ON answers.call_id = work_ends.contact_id AND answers.agent_id = work_ends.agent_id
           AND work_ends.ended_at >= answers.answered_at
        WHERE work_ends.ended_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND work_ends.ended_at < {{to_time:DateTime64(6, 'UTC')}}
        UNION ALL
        SELECT occurred_at, queue_id, agent_id, 'held', hold_seconds, aggregate_id
        FROM tenant_events
        WHERE event_type = 'telephony.call.ended' AND hold_seconds > 0
          AND occurred_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND occurred_at < {{to_time:DateTime64(6, 'UTC')}}
    )
SELECT
    {bucket} AS bucket_start,
    {key} AS key,
    countIf(kind = 'offered') AS offered,
    countIf(kind = 'answered') AS answered,
    countIf(kind = 'abandoned') AS abandoned,
    -- Service level and speed of answer are the inbound calls' (an outbound call waits in no queue).
    countIf(kind IN ('answered', 'abandoned') AND isNull(outbound_calls.call_id)) AS removed,
    countIf(kind IN ('answered', 'abandoned') AND isNull(outbound_calls.call_id)
            AND seconds <= {{threshold_seconds:UInt32}}) AS removed_in_time,
    countIf(kind = 'handled') AS handled,
    if(removed = 0, NULL, round(100 * removed_in_time / removed, 2)) AS service_level_percent,
    -- (an outbound call's answer has no wait: NULL, which the mean skips)
    if(answered = 0, NULL, round(avgIf(seconds, kind = 'answered'), 3)) AS average_speed_of_answer_seconds,
    if(handled = 0, NULL, round(avgIf(seconds, kind = 'handled'), 3)) AS average_handle_time_seconds,
    countIf(kind = 'held') AS held,
    if(held = 0, NULL, round(avgIf(seconds, kind = 'held'), 3)) AS average_hold_time_seconds
FROM facts ASOF LEFT JOIN logins ON logins.agent_id = facts.agent_id AND facts.at >= logins.logged_in_at
LEFT JOIN call_lines ON call_lines.call_id = facts.call_id
LEFT JOIN outbound_calls ON outbound_calls.call_id = facts.call_id
GROUP BY bucket_start, key
ORDER BY bucket_start, key
"""

# Ticket statistics (AN-2), each fact counted in the bucket its event happened in, in [from_time, to_time):
# - created: ticketing.ticket.opened;
# - solved: a status change to solved (a ticket solved twice counts twice), with its resolution time
#   from the opening (calendar time; the SLA clocks count business time);
# - reopened: a status change from solved back to open, pending or on hold;
# - escalated: ticketing.ticket.escalated; sla_breached: ticketing.ticket.sla_breached;
# - replied: public replies by agents (an automatic message is none), and the first of them is the
#   ticket's first response, measured from the opening;
# - rated: answers to satisfaction surveys (TKT-9), with their mean score (1-5) and CSAT, the share of
#   answers scoring 4 or 5 (the usual "satisfied" top two boxes).
# The keys (channel, category, agent, group, status, kind, claim) are each ticket's as they are now, as
# help desks report them. {bucket} and {key} are chosen from fixed expressions by the store, never from
# input.
# Each ticket as it is now, from its events (ticket_events below): one definition for the statistics'
# keys and the export (AN-5).
_TICKET_NOW = """
            aggregate_id AS ticket_id,
            minIf(occurred_at, event_type = 'ticketing.ticket.opened') AS opened_at,
            anyIf(ifNull(payload_channel, ''), event_type = 'ticketing.ticket.opened')
                AS channel,
            argMaxIf(ifNull(payload_category, ''), occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.fields_changed')
                     AND isNotNull(payload_category)) AS category,
            argMaxIf(if(event_type = 'ticketing.ticket.opened',
                        ifNull(payload_assignee_agent_id, ''),
                        ifNull(payload_to_agent_id, '')),
                     occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.assigned',
                                    'ticketing.ticket.escalated', 'ticketing.ticket.returned')) AS agent,
            argMaxIf(if(event_type = 'ticketing.ticket.opened',
                        ifNull(payload_group_id, ''),
                        ifNull(payload_to_group_id, '')),
                     occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.assigned',
                                    'ticketing.ticket.escalated', 'ticketing.ticket.returned')) AS group_id,
            argMaxIf(if(event_type = 'ticketing.ticket.opened', ifNull(payload_status, ''),
                        ifNull(payload_to_status, '')),
                     occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.status_changed')) AS status,
            minIfOrNull(occurred_at, event_type = 'ticketing.ticket.replied'
                                     AND NOT ifNull(payload_automatic, false))
                AS first_replied_at,
            -- A ticket opened before kinds existed is a request (TKT-11).
            if(countIf(isNotNull(payload_kind)) = 0, 'request',
               argMaxIf(ifNull(payload_kind, ''), occurred_at,
                        event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.fields_changed')
                        AND isNotNull(payload_kind))) AS ticket_kind,
            argMaxIf(ifNull(payload_claim, ''), occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.fields_changed')
                     AND isNotNull(payload_claim)) AS claim"""
TICKET_STATISTICS = (
    """
WITH
    ticket_events AS (
        SELECT event_type, aggregate_id, occurred_at,
               payload_channel, payload_category, payload_kind, payload_claim, payload_subject,
               payload_priority, payload_status, payload_from_status, payload_to_status,
               payload_assignee_agent_id, payload_to_agent_id, payload_group_id, payload_to_group_id,
               payload_automatic, payload_score, payload_customer_id
        FROM cc.events FINAL
        WHERE tenant_id = {{tenant_id:String}} AND aggregate_type = 'ticket'
    ),
    tickets AS (
        SELECT"""
    + _TICKET_NOW
    + """
        FROM ticket_events
        GROUP BY aggregate_id
    ),
    facts AS (
        SELECT aggregate_id AS ticket_id, occurred_at AS at,
               multiIf(event_type = 'ticketing.ticket.opened', 'created',
                       event_type = 'ticketing.ticket.escalated', 'escalated',
                       event_type = 'ticketing.ticket.sla_breached', 'sla_breached',
                       event_type = 'ticketing.ticket.replied', 'replied',
                       event_type = 'ticketing.ticket.rated', 'rated',
                       ifNull(payload_to_status, '') = 'TICKET_STATUS_SOLVED', 'solved',
                       'reopened') AS kind,
               if(kind = 'rated', ifNull(payload_score, 0), 0) AS score
        FROM ticket_events
        WHERE (event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.escalated',
                              'ticketing.ticket.sla_breached', 'ticketing.ticket.rated')
               OR (event_type = 'ticketing.ticket.replied'
                   AND NOT ifNull(payload_automatic, false))
               OR (event_type = 'ticketing.ticket.status_changed'
                   AND (ifNull(payload_to_status, '') = 'TICKET_STATUS_SOLVED'
                        OR (ifNull(payload_from_status, '') = 'TICKET_STATUS_SOLVED'
                            AND ifNull(payload_to_status, '') != 'TICKET_STATUS_CLOSED'))))
          AND occurred_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND occurred_at < {{to_time:DateTime64(6, 'UTC')}}
        UNION ALL
        SELECT ticket_id, assumeNotNull(first_replied_at), 'first_response', 0
        FROM tickets
        WHERE first_replied_at IS NOT NULL
          AND first_replied_at >= {{from_time:DateTime64(6, 'UTC')}}
          AND first_replied_at < {{to_time:DateTime64(6, 'UTC')}}
    )
SELECT
    {bucket} AS bucket_start,
    {key} AS key,
    countIf(kind = 'created') AS created,
    countIf(kind = 'solved') AS solved,
    countIf(kind = 'reopened') AS reopened,
    countIf(kind = 'escalated') AS escalated,
    countIf(kind = 'replied') AS replied,
    countIf(kind = 'sla_breached') AS sla_breached,
    if(countIf(kind = 'first_response') = 0, NULL,
       round(avgIf(dateDiff('microsecond', opened_at, at) / 1e6, kind = 'first_response'), 3))
        AS average_first_response_seconds,
    if(solved = 0, NULL, round(avgIf(dateDiff('microsecond', opened_at, at) / 1e6, kind = 'solved'), 3))
        AS average_resolution_seconds,
    countIf(kind = 'rated') AS rated,
    if(rated = 0, NULL, round(avgIf(score, kind = 'rated'), 2)) AS average_satisfaction_score,
    if(rated = 0, NULL, round(100 * countIf(kind = 'rated' AND score >= 4) / rated, 2))
        AS satisfaction_percent
FROM facts INNER JOIN tickets USING ticket_id
GROUP BY bucket_start, key
ORDER BY bucket_start, key
"""
)

# Exports (AN-6) read a page at a time after a cursor, so that no answer is held whole and the store's
# one connection is free between pages (the sink and the journeys go on). Every event of the tenant in
# [from_time, to_time) after event id {after}, by event id (the sort key: a page is one range read).
EVENTS_EXPORT = """
SELECT
    event_id, event_type, event_version, occurred_at, aggregate_type, aggregate_id, aggregate_version,
    correlation_id, causation_id, customer_id, actor_type, actor_id, queue_id, agent_id, contact_id,
    payload_json, payload_case, payload
FROM cc.events
WHERE tenant_id = {tenant_id:String} AND event_id > {after:String}
  AND occurred_at >= {from_time:DateTime64(6, 'UTC')} AND occurred_at < {to_time:DateTime64(6, 'UTC')}
ORDER BY event_id
LIMIT 1 BY event_id
LIMIT {page:UInt32}
"""
# The tickets opened in [from_time, to_time) after ticket id {after}, a page of them by ticket id, each
# as it is now: the statistics' definition plus what an export row also shows.
TICKETS_EXPORT = (
    """
WITH
    page AS (
        SELECT aggregate_id FROM cc.events
        WHERE tenant_id = {tenant_id:String} AND event_type = 'ticketing.ticket.opened'
          AND occurred_at >= {from_time:DateTime64(6, 'UTC')} AND occurred_at < {to_time:DateTime64(6, 'UTC')}
          AND aggregate_id > {after:String}
        ORDER BY aggregate_id
        LIMIT 1 BY aggregate_id
        LIMIT {page:UInt32}
    ),
    ticket_events AS (
        SELECT event_type, aggregate_id, occurred_at,
               payload_channel, payload_category, payload_kind, payload_claim, payload_subject,
               payload_priority, payload_status, payload_from_status, payload_to_status,
               payload_assignee_agent_id, payload_to_agent_id, payload_group_id, payload_to_group_id,
               payload_automatic, payload_score, payload_customer_id
        FROM cc.events FINAL
        WHERE tenant_id = {tenant_id:String} AND aggregate_type = 'ticket' AND aggregate_id IN page
    )
SELECT"""
    + _TICKET_NOW
    + """,
            anyIf(ifNull(payload_customer_id, ''), event_type = 'ticketing.ticket.opened')
                AS customer_id,
            argMaxIf(ifNull(payload_subject, ''), occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.fields_changed')
                     AND isNotNull(payload_subject)) AS subject,
            argMaxIf(ifNull(payload_priority, ''), occurred_at,
                     event_type IN ('ticketing.ticket.opened', 'ticketing.ticket.fields_changed')
                     AND isNotNull(payload_priority)) AS priority,
            maxIfOrNull(occurred_at, event_type = 'ticketing.ticket.status_changed'
                        AND ifNull(payload_to_status, '') = 'TICKET_STATUS_SOLVED')
                AS solved_at,
            countIf(event_type = 'ticketing.ticket.escalated') AS escalations,
            countIf(event_type = 'ticketing.ticket.sla_breached') AS sla_breaches,
            if(countIf(event_type = 'ticketing.ticket.rated') = 0, NULL,
               argMaxIf(ifNull(payload_score, 0), occurred_at,
                        event_type = 'ticketing.ticket.rated')) AS satisfaction_score
FROM ticket_events
GROUP BY aggregate_id
ORDER BY ticket_id
"""
)
# The bucket a fact falls in, as the epoch second it starts at, cut in the asked time zone.
BUCKETS = {
    "": "toInt64(0)",
    "hour": "toUnixTimestamp(toStartOfHour(at, {time_zone:String}))",
    "day": "toUnixTimestamp(toStartOfDay(at, {time_zone:String}))",
    "week": "toUnixTimestamp(toDateTime(toMonday(at, {time_zone:String}), {time_zone:String}))",
    "month": "toUnixTimestamp(toDateTime(toStartOfMonth(at, {time_zone:String}), {time_zone:String}))",
}
TICKET_KEYS = {
    "": "''",
    "channel": "lower(replaceAll(replaceOne(channel, 'CHANNEL_', ''), '_', '-'))",
    "category": "category",
    "agent": "agent",
    "group": "group_id",
    "status": "lower(replaceAll(replaceOne(status, 'TICKET_STATUS_', ''), '_', '-'))",
    "kind": "ticket_kind",
    "claim": "claim",
}


def ticket_statistics_sql(bucket: str, by: str) -> str:
    """The ticket statistics query for a bucket and a key the caller has checked against the tables."""
    return TICKET_STATISTICS.format(bucket=BUCKETS[bucket], key=TICKET_KEYS[by])


CALL_KEYS = {
    "": "''",
    "queue": "queue_id",
    "agent": "facts.agent_id",
    "site": "coalesce(logins.site_id, '')",
    # '' for the built-in default line (or a call whose offer is not stored).
    "line": "coalesce(call_lines.line_id, '')",
    # TEL-8: a call its agent placed is outbound.
    "direction": "if(isNull(outbound_calls.call_id), 'inbound', 'outbound')",
}


def call_statistics_sql(bucket: str, by: str) -> str:
    """The call statistics query for a bucket and a key the caller has checked against the tables."""
    return CALL_STATISTICS.format(bucket=BUCKETS[bucket], key=CALL_KEYS[by])


# Settings the queries above rely on:
# - join_use_nulls: a LEFT JOIN without a match yields NULL (not 1970-01-01), so a contact whose enqueue
#   is unknown is not measured as having waited for 55 years;
# - do_not_merge_across_partitions_select_final: FINAL collapses copies partition by partition, which is
#   enough because the copies of an event always share a partition (see schema.py) and much cheaper.
QUERY_SETTINGS = {"join_use_nulls": 1, "do_not_merge_across_partitions_select_final": 1}
