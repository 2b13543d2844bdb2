-- Reverts 0003_webhook_dead_letters.up.sql: the dead letters that have
-- only their raw body are dropped (jsonb cannot hold them).
DROP FUNCTION IF EXISTS app.dead_letter_clerk_webhook(text, text, bytea, text);
DELETE FROM webhook_events WHERE payload IS NULL;
ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS webhook_events_payload_or_raw;
ALTER TABLE webhook_events ALTER COLUMN payload SET NOT NULL;
ALTER TABLE webhook_events DROP COLUMN IF EXISTS raw_body;

-- admin.webhooks.replay: a failed or dead event applied again now
CREATE OR REPLACE FUNCTION app.replay_clerk_webhook(p_svix_id text)
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
