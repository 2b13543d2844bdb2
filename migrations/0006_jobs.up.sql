-- Background work run by nginx (backend_schedule, backend_queue): what the
-- engine calls around 0004's ledger and queue, and the reference app's
-- jobs and queue.
--
-- A job's run is one statement (work and record commit together):
--
--   with work as materialized (<the job's sql>)
--   select app.finish_slot_within($job, $slot, $owner, $attempt, $timeout,
--                                 (select count(*) from work))
--
-- and a queue item's the same with app.finish_item_within().  The
-- "within" fences add the run's timeout to 0004's: a run that took longer
-- than its timeout raises 57014 there, so its work rolls back with it and
-- the run is retried (the connection's statement_timeout, the backend_pg
-- query_timeout, is the hard limit above it).

-- The jobs the nodes run, as their configuration declares them (upserted
-- by each tick, at most every 10 s): what admin.jobs.list shows and what
-- a manual run may name.
CREATE TABLE app.jobs (
  job       text PRIMARY KEY,
  every     interval NOT NULL,
  catch_up  text NOT NULL,
  seen_at   timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION app.finish_slot_within(p_job text, p_slot timestamptz,
                                       p_owner text, p_attempt integer,
                                       p_timeout_ms bigint,
                                       p_work bigint DEFAULT NULL)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF p_timeout_ms > 0
     AND clock_timestamp() - statement_timestamp()
         > p_timeout_ms * interval '1 ms'
  THEN
    RAISE EXCEPTION USING ERRCODE = '57014',
      MESSAGE = format('run of %s took longer than its timeout of %s ms',
                       p_job, p_timeout_ms),
      HINT = 'nothing of this run was committed';
  END IF;
  RETURN app.finish_slot(p_job, p_slot, p_owner, p_attempt, p_work);
END
$$;

CREATE FUNCTION app.finish_item_within(p_id bigint, p_owner text,
                                       p_attempt integer,
                                       p_timeout_ms bigint,
                                       p_work bigint DEFAULT NULL)
  RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF p_timeout_ms > 0
     AND clock_timestamp() - statement_timestamp()
         > p_timeout_ms * interval '1 ms'
  THEN
    RAISE EXCEPTION USING ERRCODE = '57014',
      MESSAGE = format('item %s took longer than its timeout of %s ms',
                       p_id, p_timeout_ms),
      HINT = 'nothing of this attempt was committed';
  END IF;
  RETURN app.finish_item(p_id, p_owner, p_attempt, p_work);
END
$$;

-- One tick of a job for the engine, one statement: the job recorded in
-- app.jobs, app.claim_next_slot(), and the slots this tick recorded as
-- missed.  With p_overlap 'skip', when nothing could be claimed because a
-- run of the job is going, the new slots due now are recorded 'skipped'
-- instead of waiting for it ('wait').  Always one row; slot is NULL when
-- nothing was claimed.  slot is text in the session's time zone (UTC on
-- the engine's connections), given back as is to the run and the fences.
CREATE FUNCTION app.tick_job(p_job text, p_every_ms bigint, p_catch_up text,
                             p_max integer, p_owner text, p_lease_ms bigint,
                             p_max_attempts integer,
                             p_overlap text DEFAULT 'wait')
  RETURNS TABLE (slot text, attempt integer, reason text, lag_ms bigint,
                 missed bigint, skipped bigint)
  LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  e interval := p_every_ms * interval '1 ms';
  c record;
  d record;
BEGIN
  INSERT INTO app.jobs AS j (job, every, catch_up)
  VALUES (p_job, e, p_catch_up)
  ON CONFLICT (job) DO UPDATE
     SET every = excluded.every, catch_up = excluded.catch_up,
         seen_at = now()
   WHERE j.seen_at < now() - interval '10 s'
      OR (j.every, j.catch_up) IS DISTINCT FROM (excluded.every,
                                                 excluded.catch_up);

  SELECT * INTO c
    FROM app.claim_next_slot(p_job, e, 'epoch', p_catch_up, p_max, p_owner,
                             p_lease_ms * interval '1 ms', p_max_attempts) x;

  skipped := 0;

  IF FOUND THEN
    slot := c.slot::text;
    attempt := c.attempt;
    reason := c.reason;
    lag_ms := (extract(epoch FROM now() - c.slot) * 1000)::bigint;

  ELSIF p_overlap = 'skip'
        AND EXISTS (SELECT 1 FROM app.job_slots s
                     WHERE s.job = p_job AND s.status = 'running'
                       AND s.lease_until > now())
  THEN
    -- the job's lock is still held: nothing changed since the claim
    FOR d IN SELECT x.slot
               FROM app.due_slots(p_job, e, 'epoch', p_catch_up, p_max) x
              WHERE x.reason = 'new'
    LOOP
      IF app.skip_slot(p_job, d.slot, 'a run of the job was still going')
      THEN
        skipped := skipped + 1;
      END IF;
    END LOOP;
  END IF;

  -- due_slots() stamps the slots it records as missed with this
  -- transaction's now()
  SELECT count(*) INTO missed FROM app.job_slots s
   WHERE s.job = p_job AND s.status = 'missed' AND s.finished_at = now();

  RETURN NEXT;
END
$$;

-- admin.jobs.run: a manual run of a job, as a slot of its own at now()
-- waiting to be claimed (status retry, due now): it is claimed like any
-- slot, so it never runs while another run of the job is going.  Being
-- the job's latest slot, it stands for the current period if that was
-- not recorded yet.  Its time is in whole milliseconds, as JSON shows
-- it.  No row: no such job.
CREATE FUNCTION app.request_job_run(p_job text)
  RETURNS TABLE (job text, slot timestamptz)
  LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  t timestamptz := date_trunc('milliseconds', now());
BEGIN
  IF NOT EXISTS (SELECT 1 FROM app.jobs j WHERE j.job = p_job) THEN
    RETURN;
  END IF;
  INSERT INTO app.job_slots AS s (job, slot, status, attempt,
                                  next_attempt_at, error)
  VALUES (p_job, t, 'retry', 0, now(), 'manual run')
  ON CONFLICT ON CONSTRAINT job_slots_pkey DO NOTHING;
  job := p_job;
  slot := t;
  RETURN NEXT;
END
$$;


-- The reference app: notifications, written once whatever retries.

CREATE TABLE notifications (
  id          bigserial PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('reminder', 'welcome')),
  user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
  session_id  bigint REFERENCES mentorado_sessions (id) ON DELETE CASCADE,
  slot        timestamptz,
  body        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- a reminder per (session, slot): a retried slot writes nothing twice
CREATE UNIQUE INDEX notifications_reminder_idx
  ON notifications (session_id, slot) WHERE kind = 'reminder';

-- one welcome per user, whatever replays the queue makes
CREATE UNIQUE INDEX notifications_welcome_idx
  ON notifications (user_id) WHERE kind = 'welcome';

-- a user's and a session's notifications (and their foreign keys)
CREATE INDEX notifications_user_idx ON notifications (user_id);
CREATE INDEX notifications_session_idx ON notifications (session_id);

-- sessions.remind: sessions starting within the hour after the slot that
-- have no reminder yet; returns the reminders written
CREATE FUNCTION app.remind_sessions(p_slot timestamptz)
  RETURNS SETOF bigint LANGUAGE sql AS $$
  INSERT INTO notifications (kind, user_id, session_id, slot, body)
  SELECT 'reminder', s.user_id, s.id, p_slot,
         format('"%s" starts at %s', coalesce(s.title, 'session'),
                s.scheduled_at)
    FROM mentorado_sessions s
   WHERE s.scheduled_at > p_slot
     AND s.scheduled_at <= p_slot + interval '1 hour'
     AND NOT EXISTS (SELECT 1 FROM notifications n
                      WHERE n.kind = 'reminder' AND n.session_id = s.id)
  ON CONFLICT DO NOTHING
  RETURNING id
$$;

-- webhooks.retention: applied and ignored events older than p_keep; the
-- failed and dead ones stay for people to look at.  Returns their ids.
CREATE FUNCTION app.prune_webhook_events(p_keep interval)
  RETURNS SETOF text LANGUAGE sql AS $$
  DELETE FROM webhook_events e
   WHERE e.status IN ('applied', 'ignored')
     AND e.received_at < now() - p_keep
  RETURNING e.svix_id
$$;

-- welcome: each new user (a user.created webhook, or any insert) enqueues
-- its welcome in the transaction that created it (the outbox); the dedupe
-- key makes a second enqueue of the same user a no-op
CREATE FUNCTION app.users_enqueue_welcome() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM app.enqueue('welcome', jsonb_build_object('userId', NEW.id),
                      'welcome:' || NEW.id);
  RETURN NEW;
END
$$;

CREATE TRIGGER users_enqueue_welcome
  AFTER INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION app.users_enqueue_welcome();

-- the welcome queue's handler: the notification, once
CREATE FUNCTION app.send_welcome(p_payload jsonb)
  RETURNS SETOF bigint LANGUAGE sql AS $$
  INSERT INTO notifications (kind, user_id, body)
  SELECT 'welcome', u.id, 'welcome, ' || u.email
    FROM users u
   WHERE u.id = (p_payload ->> 'userId')::bigint
  ON CONFLICT DO NOTHING
  RETURNING id
$$;
