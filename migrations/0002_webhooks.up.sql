-- Clerk webhooks (delivered by Svix): stored before they are acknowledged,
-- applied once, retried with backoff, dead-lettered.
--
-- nginx (backend_webhook) calls app.receive_clerk_webhook() for each
-- verified delivery, and app.retry_clerk_webhooks() from a timer; both
-- return the Clerk user whose cached auth context must be dropped.

CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE webhook_events (
  svix_id          text PRIMARY KEY,
  type             text NOT NULL,
  payload          jsonb NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'applied', 'ignored',
                                     'failed', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  last_error       text,
  applied_at       timestamptz
);

CREATE INDEX webhook_events_retry_idx
  ON webhook_events (next_attempt_at) WHERE status = 'failed';

-- sessions Clerk ended, removed or revoked: their tokens (valid for up to
-- a minute more) resolve no app user
CREATE TABLE revoked_sessions (
  session_id  text PRIMARY KEY,
  clerk_id    text,
  revoked_at  timestamptz NOT NULL DEFAULT now()
);

-- Clerk's updated_at (ms) of the data a row was written from: Svix does
-- not keep order, so an older update must not overwrite a newer one
ALTER TABLE users ADD COLUMN clerk_updated_at bigint;

-- The affected Clerk user, or NULL.  Raises on anything it cannot apply.
CREATE FUNCTION app.apply_clerk_event(event jsonb, OUT applied boolean,
                                      OUT clerk_user text)
  LANGUAGE plpgsql AS $$
DECLARE
  d       jsonb := event -> 'data';
  kind    text := event ->> 'type';
  email   text;
  role    text;
  updated bigint;
BEGIN
  applied := true;

  IF kind IN ('user.created', 'user.updated') THEN
    clerk_user := d ->> 'id';
    IF clerk_user IS NULL THEN
      RAISE EXCEPTION '% without data.id', kind;
    END IF;

    SELECT e ->> 'email_address' INTO email
      FROM jsonb_array_elements(coalesce(d -> 'email_addresses', '[]')) e
     WHERE e ->> 'id' = d ->> 'primary_email_address_id';
    email := coalesce(email,
                      d -> 'email_addresses' -> 0 ->> 'email_address', '');
    role := coalesce(d -> 'public_metadata' ->> 'role', 'user');
    IF role NOT IN ('user', 'mentorado', 'admin') THEN
      RAISE EXCEPTION 'unknown role "%" for %', role, clerk_user;
    END IF;
    updated := (d ->> 'updated_at')::bigint;

    INSERT INTO users AS u (clerk_id, email, role, clerk_updated_at)
    VALUES (clerk_user, email, role, updated)
    ON CONFLICT (clerk_id) DO UPDATE
      SET email = EXCLUDED.email, role = EXCLUDED.role,
          clerk_updated_at = EXCLUDED.clerk_updated_at
      WHERE u.clerk_updated_at IS NULL
         OR EXCLUDED.clerk_updated_at IS NULL
         OR u.clerk_updated_at <= EXCLUDED.clerk_updated_at;

  ELSIF kind = 'user.deleted' THEN
    clerk_user := d ->> 'id';
    DELETE FROM users WHERE clerk_id = clerk_user;

  ELSIF kind IN ('session.ended', 'session.removed', 'session.revoked') THEN
    clerk_user := d ->> 'user_id';
    INSERT INTO revoked_sessions (session_id, clerk_id)
    VALUES (d ->> 'id', clerk_user)
    ON CONFLICT (session_id) DO NOTHING;

  ELSE
    applied := false;   -- stored, marked ignored
  END IF;
END
$$;

-- One delivery: stored, then applied in a subtransaction of the same
-- transaction; a failed apply stays stored as 'failed' for the retries.
-- status: applied, ignored, failed, or duplicate (stored before).
CREATE FUNCTION app.receive_clerk_webhook(p_svix_id text, p_type text,
                                          p_payload jsonb,
                                          p_backoff_ms integer DEFAULT 1000)
  RETURNS TABLE (status text, clerk_user text)
  LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  INSERT INTO webhook_events (svix_id, type, payload)
  VALUES (p_svix_id, p_type, p_payload)
  ON CONFLICT (svix_id) DO NOTHING;

  IF NOT FOUND THEN
    RETURN QUERY SELECT 'duplicate'::text, NULL::text;
    RETURN;
  END IF;

  BEGIN
    r := app.apply_clerk_event(p_payload);
    status := CASE WHEN r.applied THEN 'applied' ELSE 'ignored' END;
    clerk_user := r.clerk_user;
    UPDATE webhook_events e
       SET status = receive_clerk_webhook.status, attempts = 1,
           applied_at = now()
     WHERE e.svix_id = p_svix_id;
  EXCEPTION WHEN OTHERS THEN
    status := 'failed';
    clerk_user := NULL;
    UPDATE webhook_events e
       SET status = 'failed', attempts = 1, last_error = SQLERRM,
           next_attempt_at = now() + app.webhook_backoff(1, p_backoff_ms)
     WHERE e.svix_id = p_svix_id;
  END;

  RETURN NEXT;
END
$$;

-- exponential, capped at an hour, with +-50% jitter so that retries of
-- many events do not come back together
CREATE FUNCTION app.webhook_backoff(attempts integer, base_ms integer)
  RETURNS interval LANGUAGE sql VOLATILE AS $$
  SELECT make_interval(secs => least(base_ms * 2.0 ^ (attempts - 1), 3600000)
                               * (0.5 + random()) / 1000.0)
$$;

-- Up to p_limit failed events that are due, claimed with SKIP LOCKED so
-- that several nodes never apply the same event; each applied in its own
-- subtransaction.  Dead after p_max_attempts.
CREATE FUNCTION app.retry_clerk_webhooks(p_limit integer,
                                         p_max_attempts integer,
                                         p_backoff_ms integer DEFAULT 1000)
  RETURNS TABLE (svix_id text, status text, clerk_user text)
  LANGUAGE plpgsql AS $$
DECLARE
  ev record;
  r  record;
BEGIN
  FOR ev IN
    SELECT e.svix_id, e.payload, e.attempts
      FROM webhook_events e
     WHERE e.status = 'failed' AND e.next_attempt_at <= now()
     ORDER BY e.next_attempt_at
     LIMIT p_limit
       FOR UPDATE SKIP LOCKED
  LOOP
    svix_id := ev.svix_id;
    BEGIN
      r := app.apply_clerk_event(ev.payload);
      status := CASE WHEN r.applied THEN 'applied' ELSE 'ignored' END;
      clerk_user := r.clerk_user;
      UPDATE webhook_events e
         SET status = retry_clerk_webhooks.status,
             attempts = ev.attempts + 1, applied_at = now(),
             next_attempt_at = NULL
       WHERE e.svix_id = ev.svix_id;
    EXCEPTION WHEN OTHERS THEN
      clerk_user := NULL;
      status := CASE WHEN ev.attempts + 1 >= p_max_attempts
                     THEN 'dead' ELSE 'failed' END;
      UPDATE webhook_events e
         SET status = retry_clerk_webhooks.status,
             attempts = ev.attempts + 1, last_error = SQLERRM,
             next_attempt_at = CASE WHEN retry_clerk_webhooks.status = 'dead'
                                    THEN NULL
                                    ELSE now() + app.webhook_backoff(
                                                   ev.attempts + 1,
                                                   p_backoff_ms) END
       WHERE e.svix_id = ev.svix_id;
    END;
    RETURN NEXT;
  END LOOP;
END
$$;

-- admin.webhooks.replay: a failed or dead event applied again now
CREATE FUNCTION app.replay_clerk_webhook(p_svix_id text)
  RETURNS TABLE (svix_id text, status text, clerk_user text,
                 last_error text)
  LANGUAGE plpgsql AS $$
DECLARE
  ev record;
  r  record;
BEGIN
  SELECT e.svix_id, e.payload, e.attempts INTO ev
    FROM webhook_events e
   WHERE e.svix_id = p_svix_id AND e.status IN ('failed', 'dead')
     FOR UPDATE;

  IF NOT FOUND THEN
    RETURN;
  END IF;

  svix_id := ev.svix_id;
  BEGIN
    r := app.apply_clerk_event(ev.payload);
    status := CASE WHEN r.applied THEN 'applied' ELSE 'ignored' END;
    clerk_user := r.clerk_user;
    last_error := NULL;
    UPDATE webhook_events e
       SET status = replay_clerk_webhook.status, attempts = ev.attempts + 1,
           applied_at = now(), next_attempt_at = NULL
     WHERE e.svix_id = ev.svix_id;
  EXCEPTION WHEN OTHERS THEN
    status := 'dead';
    clerk_user := NULL;
    last_error := SQLERRM;
    UPDATE webhook_events e
       SET attempts = ev.attempts + 1, last_error = SQLERRM
     WHERE e.svix_id = ev.svix_id;
  END;
  RETURN NEXT;
END
$$;
