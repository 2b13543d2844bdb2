-- Background work (issue 14): the ledger of scheduled job slots and a
-- durable job queue, run by nginx workers over the non-blocking engine.
--
-- Each run is ONE statement, so the work and its record commit together:
--
--   with work as materialized (<the job's sql>)
--   select app.finish_slot($job, $slot, $owner, $attempt,
--                          (select count(*) from work))
--
-- The work is the argument of the fence, so it runs first; the fence then
-- updates the ledger row only while it is still ours (owner and attempt,
-- status running) and raises SQLSTATE BG001 otherwise, which rolls the
-- work back with it.  The same for queue items with app.finish_item().
-- Time is the database's (now()), never a node's clock.

CREATE SCHEMA IF NOT EXISTS app;

-- One row per (job, slot): a second run of a slot cannot exist.
CREATE TABLE app.job_slots (
  job              text NOT NULL,
  slot             timestamptz NOT NULL,
  status           text NOT NULL
                   CHECK (status IN ('running', 'done', 'failed', 'retry',
                                     'skipped', 'missed')),
  owner            text,
  attempt          integer NOT NULL DEFAULT 0,
  lease_until      timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz,
  next_attempt_at  timestamptz,
  error            text,
  PRIMARY KEY (job, slot)
);

-- at most one run of a job at a time, whatever the code above it does
CREATE UNIQUE INDEX job_slots_one_running_idx
  ON app.job_slots (job) WHERE status = 'running';

CREATE INDEX job_slots_retry_idx
  ON app.job_slots (job, next_attempt_at) WHERE status = 'retry';

-- the fence: a run or an item whose lease was taken over (or that ended)
CREATE FUNCTION app.background_lost(what text)
  RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'BG001',
    MESSAGE = what || ' is no longer ours (lease taken over or ended)',
    HINT = 'nothing of this run was committed';
END
$$;

-- exponential from base, capped, with +-50% jitter so that retries of many
-- runs or items do not come back together
CREATE FUNCTION app.background_backoff(p_attempt integer, p_base interval,
                                       p_cap interval DEFAULT '1 hour')
  RETURNS interval LANGUAGE sql VOLATILE AS $$
  SELECT least(p_base * 2.0 ^ least(greatest(p_attempt - 1, 0), 30), p_cap)
         * (0.5 + random())
$$;

-- concurrent claims of one job's slots queue here (a transaction lock,
-- held until the claiming statement commits)
CREATE FUNCTION app.lock_job(p_job text)
  RETURNS void LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtext('app.job_slots'), hashtext(p_job))
$$;

-- The attempt this owner got for (job, slot), or NULL.  A slot is taken
-- when it is new, a due retry, or running with an expired lease; refused
-- while another slot of the job runs with a live lease, and when it ended.
-- A run of another slot whose lease expired is set to retry (or failed
-- after p_max_attempts), so that its late fence fails.
CREATE FUNCTION app.claim_slot(p_job text, p_slot timestamptz, p_owner text,
                               p_lease interval, p_max_attempts integer)
  RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  r app.job_slots%ROWTYPE;
BEGIN
  PERFORM app.lock_job(p_job);

  SELECT * INTO r FROM app.job_slots s
   WHERE s.job = p_job AND s.status = 'running' AND s.slot <> p_slot
     FOR UPDATE;
  IF FOUND THEN
    IF r.lease_until > now() THEN
      RETURN NULL;
    END IF;
    UPDATE app.job_slots s
       SET status = CASE WHEN r.attempt >= p_max_attempts
                         THEN 'failed' ELSE 'retry' END,
           next_attempt_at = CASE WHEN r.attempt >= p_max_attempts
                                  THEN NULL ELSE now() END,
           finished_at = now(), lease_until = NULL,
           error = 'lease of ' || r.owner || ' expired'
     WHERE s.job = r.job AND s.slot = r.slot;
  END IF;

  SELECT * INTO r FROM app.job_slots s
   WHERE s.job = p_job AND s.slot = p_slot FOR UPDATE;

  IF NOT FOUND THEN
    INSERT INTO app.job_slots (job, slot, status, owner, attempt,
                               lease_until, started_at)
    VALUES (p_job, p_slot, 'running', p_owner, 1, now() + p_lease, now());
    RETURN 1;
  END IF;

  IF NOT ((r.status = 'running' AND r.lease_until <= now())
          OR (r.status = 'retry' AND r.next_attempt_at <= now()))
  THEN
    RETURN NULL;
  END IF;

  IF r.attempt >= p_max_attempts THEN
    UPDATE app.job_slots s
       SET status = 'failed', lease_until = NULL, next_attempt_at = NULL,
           finished_at = now(),
           error = coalesce(CASE WHEN r.status = 'running'
                                 THEN 'lease of ' || r.owner || ' expired'
                                 END, s.error)
     WHERE s.job = p_job AND s.slot = p_slot;
    RETURN NULL;
  END IF;

  UPDATE app.job_slots s
     SET status = 'running', owner = p_owner, attempt = r.attempt + 1,
         lease_until = now() + p_lease, started_at = now(),
         finished_at = NULL, next_attempt_at = NULL
   WHERE s.job = p_job AND s.slot = p_slot;
  RETURN r.attempt + 1;
END
$$;

-- The fence of a run: done, in the transaction of the work, only while
-- the row is still this owner's attempt; raises BG001 otherwise.  p_work
-- is what makes the work run first (the argument is evaluated before the
-- call); its value is not used.
CREATE FUNCTION app.finish_slot(p_job text, p_slot timestamptz, p_owner text,
                                p_attempt integer, p_work bigint DEFAULT NULL)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE app.job_slots s
     SET status = 'done', finished_at = clock_timestamp(),
         lease_until = NULL, error = NULL
   WHERE s.job = p_job AND s.slot = p_slot AND s.owner = p_owner
     AND s.attempt = p_attempt AND s.status = 'running';
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('slot %s %s attempt %s of %s',
                                       p_job, p_slot, p_attempt, p_owner));
  END IF;
  RETURN true;
END
$$;

-- A failed run (its own statement, after the work rolled back): retry
-- after p_retry_in, or failed when p_retry_in is NULL.  Fenced (BG001).
-- Returns the status set.
CREATE FUNCTION app.fail_slot(p_job text, p_slot timestamptz, p_owner text,
                              p_attempt integer, p_error text,
                              p_retry_in interval DEFAULT NULL)
  RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text := CASE WHEN p_retry_in IS NULL THEN 'failed' ELSE 'retry' END;
BEGIN
  UPDATE app.job_slots s
     SET status = st, error = p_error, lease_until = NULL,
         finished_at = now(), next_attempt_at = now() + p_retry_in
   WHERE s.job = p_job AND s.slot = p_slot AND s.owner = p_owner
     AND s.attempt = p_attempt AND s.status = 'running';
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('slot %s %s attempt %s of %s',
                                       p_job, p_slot, p_attempt, p_owner));
  END IF;
  RETURN st;
END
$$;

-- The lease of a running run extended to now() + p_lease; fenced (BG001).
CREATE FUNCTION app.renew_slot(p_job text, p_slot timestamptz, p_owner text,
                               p_attempt integer, p_lease interval)
  RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  UPDATE app.job_slots s
     SET lease_until = now() + p_lease
   WHERE s.job = p_job AND s.slot = p_slot AND s.owner = p_owner
     AND s.attempt = p_attempt AND s.status = 'running'
  RETURNING s.lease_until INTO t;
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('slot %s %s attempt %s of %s',
                                       p_job, p_slot, p_attempt, p_owner));
  END IF;
  RETURN t;
END
$$;

-- A slot recorded as skipped (a run of the job was still going at its
-- time), unless it is recorded already.  True when recorded now.
CREATE FUNCTION app.skip_slot(p_job text, p_slot timestamptz, p_reason text)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO app.job_slots (job, slot, status, error, finished_at)
  VALUES (p_job, p_slot, 'skipped', p_reason, now())
  ON CONFLICT (job, slot) DO NOTHING;
  RETURN FOUND;
END
$$;

-- The slot of a period that contains t: anchor + k * every, computed in
-- seconds so that time zones and DST never move it.
CREATE FUNCTION app.slot_at(p_every interval, p_anchor timestamptz,
                            p_t timestamptz)
  RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT p_anchor + floor(extract(epoch FROM p_t - p_anchor)
                          / extract(epoch FROM p_every))::float8
                    * extract(epoch FROM p_every)::float8
                    * interval '1 second'
$$;

-- What a node should run for a job now, oldest first: reason 'new' (a slot
-- not recorded yet), 'retry' (a due retry) or 'takeover' (a run whose
-- lease expired); the caller claims each with app.claim_slot().  Slots are
-- anchor + k * every up to now() (the database's clock); those after the
-- last recorded slot are new, and catch-up decides which of them run:
--   none    the current slot, if it is at most p_grace late (default: a
--           tenth of the period, between 1 s and 1 min); others missed
--   latest  the latest slot; the older ones missed
--   all     the p_max latest slots (the current one included), oldest
--           first; older ones missed
-- Missed slots are recorded as 'missed' (at most 1,000 per call, the
-- newest).  A job never recorded starts at its current slot.  A caller
-- claims them in order and stops at the first refusal: a newer slot
-- claimed past an older one would leave the older one a gap for ever
-- (app.claim_next_slot() does exactly that in one statement).
CREATE FUNCTION app.due_slots(p_job text, p_every interval,
                              p_anchor timestamptz DEFAULT 'epoch',
                              p_catch_up text DEFAULT 'latest',
                              p_max integer DEFAULT 1,
                              p_grace interval DEFAULT NULL)
  RETURNS TABLE (slot timestamptz, reason text)
  LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  cur   timestamptz;
  last  timestamptz;
  n     bigint;
  keep  bigint;
  grace interval;
BEGIN
  IF p_every IS NULL OR p_every <= interval '0'
     OR extract(epoch FROM p_every) < 0.001
  THEN
    RAISE EXCEPTION 'due_slots: invalid period "%"', p_every
      USING ERRCODE = '22023';
  END IF;
  IF p_catch_up NOT IN ('none', 'latest', 'all') THEN
    RAISE EXCEPTION 'due_slots: catch_up must be none, latest or all, not "%"',
                    p_catch_up USING ERRCODE = '22023';
  END IF;
  IF p_catch_up = 'all' AND (p_max IS NULL OR p_max < 1) THEN
    RAISE EXCEPTION 'due_slots: catch_up all needs max >= 1'
      USING ERRCODE = '22023';
  END IF;

  PERFORM app.lock_job(p_job);

  cur := app.slot_at(p_every, p_anchor, now());
  SELECT max(s.slot) INTO last FROM app.job_slots s WHERE s.job = p_job;

  -- the new slots: last < slot <= cur, i.e. cur - (n - 1) * every .. cur
  IF last IS NULL THEN
    n := 1;
  ELSIF last >= cur THEN
    n := 0;
  ELSE
    -- slots after last: cur - i * every > last, i.e. i < (cur - last) / every
    n := ceil(extract(epoch FROM cur - last) / extract(epoch FROM p_every)
              - 0.000001);
  END IF;

  grace := coalesce(p_grace, least(greatest(p_every / 10, interval '1 s'),
                                   interval '1 min'));
  keep := CASE p_catch_up
            WHEN 'none' THEN
              CASE WHEN n > 0 AND now() - cur <= grace THEN 1 ELSE 0 END
            WHEN 'latest' THEN least(n, 1)
            ELSE least(n, p_max)
          END;

  -- the new slots older than the kept ones: missed
  INSERT INTO app.job_slots AS s (job, slot, status, finished_at, error)
  SELECT p_job, cur - (i * extract(epoch FROM p_every))::float8
                      * interval '1 second',
         'missed', now(), 'catch_up ' || p_catch_up
    FROM generate_series(keep, least(n, keep + 1000) - 1) i
  ON CONFLICT ON CONSTRAINT job_slots_pkey DO NOTHING;

  RETURN QUERY
    SELECT x.slot, x.reason FROM (
      SELECT cur - (i * extract(epoch FROM p_every))::float8
                   * interval '1 second' AS slot, 'new'::text AS reason
        FROM generate_series(0, keep - 1) i
      UNION ALL
      SELECT s.slot, CASE s.status WHEN 'retry' THEN 'retry'
                                   ELSE 'takeover' END
        FROM app.job_slots s
       WHERE s.job = p_job
         AND ((s.status = 'retry' AND s.next_attempt_at <= now())
              OR (s.status = 'running' AND s.lease_until <= now()))
    ) x
    ORDER BY x.slot;
END
$$;


-- One tick of a job in one statement: the oldest slot due_slots() gives,
-- claimed (under the job's lock, so nothing changes in between), or no
-- row: nothing due, or the oldest due slot refused (a run of the job is
-- going) -- never a newer slot past it.
CREATE FUNCTION app.claim_next_slot(p_job text, p_every interval,
                                    p_anchor timestamptz, p_catch_up text,
                                    p_max integer, p_owner text,
                                    p_lease interval,
                                    p_max_attempts integer,
                                    p_grace interval DEFAULT NULL)
  RETURNS TABLE (slot timestamptz, attempt integer, reason text)
  LANGUAGE plpgsql AS $$
DECLARE
  d record;
BEGIN
  SELECT * INTO d
    FROM app.due_slots(p_job, p_every, p_anchor, p_catch_up, p_max,
                       p_grace) x
   ORDER BY x.slot LIMIT 1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  attempt := app.claim_slot(p_job, d.slot, p_owner, p_lease,
                            p_max_attempts);
  IF attempt IS NOT NULL THEN
    slot := d.slot;
    reason := d.reason;
    RETURN NEXT;
  END IF;
END
$$;


-- The queue: items enqueued in the transaction of the writes that made
-- them (the outbox), claimed in batches with SKIP LOCKED.  run_after is
-- when an item may be claimed: for a pending one its due time, for a
-- running one the end of its lease, so one index serves both.
CREATE TABLE app.queue_items (
  id           bigserial PRIMARY KEY,
  queue        text NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}',
  dedupe_key   text,
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'done', 'dead')),
  attempts     integer NOT NULL DEFAULT 0,
  run_after    timestamptz NOT NULL DEFAULT now(),
  lease_until  timestamptz,
  owner        text,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  done_at      timestamptz
);

CREATE UNIQUE INDEX queue_items_dedupe_idx
  ON app.queue_items (queue, dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE INDEX queue_items_due_idx
  ON app.queue_items (queue, run_after, id)
  WHERE status IN ('pending', 'running');

CREATE INDEX queue_items_dead_idx
  ON app.queue_items (queue, id) WHERE status = 'dead';

-- The item's id; an item with the same dedupe key in this queue (whatever
-- its status, until pruned) is not enqueued again: its id is returned.
-- NOTIFY backend_queue (payload: the queue) is delivered at commit, so a
-- listener wakes only for committed items.
CREATE FUNCTION app.enqueue(p_queue text, p_payload jsonb,
                            p_dedupe_key text DEFAULT NULL,
                            p_delay interval DEFAULT NULL)
  RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  i bigint;
BEGIN
  INSERT INTO app.queue_items (queue, payload, dedupe_key, run_after)
  VALUES (p_queue, coalesce(p_payload, '{}'), p_dedupe_key,
          now() + coalesce(p_delay, interval '0'))
  ON CONFLICT (queue, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
  RETURNING id INTO i;

  IF i IS NULL THEN
    SELECT q.id INTO i FROM app.queue_items q
     WHERE q.queue = p_queue AND q.dedupe_key = p_dedupe_key;
    RETURN i;
  END IF;

  PERFORM pg_notify('backend_queue', p_queue);
  RETURN i;
END
$$;

-- Up to p_n due items of a queue (pending and due, or running with an
-- expired lease), locked with SKIP LOCKED so that concurrent claimers never
-- get the same item, each given to p_owner for p_lease with attempts + 1
-- (the attempt that fences it).  An expired item that already had
-- p_max_attempts is set dead instead of being returned.
CREATE FUNCTION app.claim_items(p_queue text, p_owner text, p_n integer,
                                p_lease interval,
                                p_max_attempts integer DEFAULT NULL)
  RETURNS TABLE (id bigint, payload jsonb, attempt integer,
                 dedupe_key text, created_at timestamptz)
  LANGUAGE sql AS $$
  WITH c AS (
    SELECT q.id, q.status, q.attempts, q.owner
      FROM app.queue_items q
     WHERE q.queue = p_queue AND q.status IN ('pending', 'running')
       AND q.run_after <= now()
     ORDER BY q.run_after, q.id
     LIMIT greatest(coalesce(p_n, 0), 0)   -- a NULL limit would be all
       FOR UPDATE SKIP LOCKED
  ), u AS (
    UPDATE app.queue_items q
       SET status = CASE WHEN c.status = 'running'
                          AND c.attempts >= p_max_attempts
                         THEN 'dead' ELSE 'running' END,
           attempts = CASE WHEN c.status = 'running'
                            AND c.attempts >= p_max_attempts
                           THEN c.attempts ELSE c.attempts + 1 END,
           error = CASE WHEN c.status = 'running'
                         AND c.attempts >= p_max_attempts
                        THEN 'lease of ' || c.owner || ' expired'
                        ELSE q.error END,
           owner = p_owner,
           lease_until = now() + p_lease,
           run_after = now() + p_lease
      FROM c
     WHERE q.id = c.id
    RETURNING q.id, q.payload, q.attempts, q.dedupe_key, q.created_at,
              q.status
  )
  SELECT u.id, u.payload, u.attempts, u.dedupe_key, u.created_at
    FROM u WHERE u.status = 'running' ORDER BY u.id
$$;

-- The fence of an item, as finish_slot: done only while it is this
-- owner's attempt; raises BG001 otherwise.
CREATE FUNCTION app.finish_item(p_id bigint, p_owner text, p_attempt integer,
                                p_work bigint DEFAULT NULL)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE app.queue_items q
     SET status = 'done', done_at = clock_timestamp(), lease_until = NULL,
         error = NULL
   WHERE q.id = p_id AND q.owner = p_owner AND q.attempts = p_attempt
     AND q.status = 'running';
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('item %s attempt %s of %s',
                                       p_id, p_attempt, p_owner));
  END IF;
  RETURN true;
END
$$;

-- A failed attempt (its own statement, after the handler rolled back):
-- pending again after app.background_backoff(attempt, p_backoff), or dead
-- once it had p_max_attempts.  Fenced (BG001).  Returns the status set.
CREATE FUNCTION app.fail_item(p_id bigint, p_owner text, p_attempt integer,
                              p_error text, p_max_attempts integer,
                              p_backoff interval)
  RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text := CASE WHEN p_attempt >= p_max_attempts
                  THEN 'dead' ELSE 'pending' END;
BEGIN
  UPDATE app.queue_items q
     SET status = st, error = p_error, lease_until = NULL,
         run_after = CASE WHEN st = 'dead' THEN q.run_after
                          ELSE now() + app.background_backoff(p_attempt,
                                                              p_backoff)
                     END
   WHERE q.id = p_id AND q.owner = p_owner AND q.attempts = p_attempt
     AND q.status = 'running';
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('item %s attempt %s of %s',
                                       p_id, p_attempt, p_owner));
  END IF;
  RETURN st;
END
$$;

-- The lease of a running item extended to now() + p_lease; fenced (BG001).
CREATE FUNCTION app.renew_item(p_id bigint, p_owner text, p_attempt integer,
                               p_lease interval)
  RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  UPDATE app.queue_items q
     SET lease_until = now() + p_lease, run_after = now() + p_lease
   WHERE q.id = p_id AND q.owner = p_owner AND q.attempts = p_attempt
     AND q.status = 'running'
  RETURNING q.lease_until INTO t;
  IF NOT FOUND THEN
    PERFORM app.background_lost(format('item %s attempt %s of %s',
                                       p_id, p_attempt, p_owner));
  END IF;
  RETURN t;
END
$$;

-- admin: a dead item pending again now (and its queue woken).  attempts
-- keeps counting, so that no late fence of an earlier attempt can match;
-- a replayed item that fails again is dead at once.  True when replayed.
CREATE FUNCTION app.replay_item(p_id bigint)
  RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  qn text;
BEGIN
  UPDATE app.queue_items q
     SET status = 'pending', run_after = now(), lease_until = NULL,
         owner = NULL, done_at = NULL
   WHERE q.id = p_id AND q.status = 'dead'
  RETURNING q.queue INTO qn;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pg_notify('backend_queue', qn);
  RETURN true;
END
$$;

-- Retention: done queue items, and ended slots, older than p_keep (the
-- latest slot of each job stays: due_slots starts after it).  Dead items
-- and failed slots are kept for people to look at.  Returns rows deleted.
CREATE FUNCTION app.prune_background(p_keep interval)
  RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  a bigint;
  b bigint;
BEGIN
  DELETE FROM app.queue_items q
   WHERE q.status = 'done' AND q.done_at < now() - p_keep;
  GET DIAGNOSTICS a = ROW_COUNT;

  DELETE FROM app.job_slots s
   WHERE s.status IN ('done', 'skipped', 'missed')
     AND s.finished_at < now() - p_keep
     AND s.slot < (SELECT max(l.slot) FROM app.job_slots l
                    WHERE l.job = s.job);
  GET DIAGNOSTICS b = ROW_COUNT;

  RETURN a + b;
END
$$;
