-- Dead letters for deliveries the receiving statement can never store
-- (e.g. a \u0000 that jsonb refuses, 22P05): nginx runs
-- app.dead_letter_clerk_webhook() after such an error (the classes are in
-- docs/directives.md, backend_webhook_dead_letter_sql) and acknowledges
-- the delivery once its raw body is stored here as 'dead'.

ALTER TABLE webhook_events ADD COLUMN raw_body bytea;
ALTER TABLE webhook_events ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_payload_or_raw
  CHECK (payload IS NOT NULL OR raw_body IS NOT NULL);

-- status: dead (stored now), or duplicate (an event with this id was
-- stored before: a redelivery, or the unique violation that got us here)
CREATE FUNCTION app.dead_letter_clerk_webhook(p_svix_id text, p_type text,
                                              p_raw_body bytea,
                                              p_error text)
  RETURNS TABLE (status text)
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_events (svix_id, type, payload, raw_body, status,
                              attempts, last_error)
  VALUES (p_svix_id, p_type, NULL, p_raw_body, 'dead', 1, p_error)
  ON CONFLICT (svix_id) DO NOTHING;

  status := CASE WHEN FOUND THEN 'dead' ELSE 'duplicate' END;
  RETURN NEXT;
END
$$;

-- admin.webhooks.replay: as in 0002, but a dead letter without a payload
-- (only its raw body) stays dead until a person has set one
CREATE OR REPLACE FUNCTION app.replay_clerk_webhook(p_svix_id text)
  RETURNS TABLE (svix_id text, status text, clerk_user text,
                 last_error text)
  LANGUAGE plpgsql AS $$
DECLARE
  ev record;
  r  record;
BEGIN
  SELECT e.svix_id, e.payload, e.attempts, e.last_error INTO ev
    FROM webhook_events e
   WHERE e.svix_id = p_svix_id AND e.status IN ('failed', 'dead')
     FOR UPDATE;

  IF NOT FOUND THEN
    RETURN;
  END IF;

  svix_id := ev.svix_id;

  IF ev.payload IS NULL THEN
    status := 'dead';
    clerk_user := NULL;
    last_error := ev.last_error;
    RETURN NEXT;
    RETURN;
  END IF;

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
