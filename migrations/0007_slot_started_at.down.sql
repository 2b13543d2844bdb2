-- Back to 0004's claim_slot: started_at = now(), the claiming
-- statement's start.

CREATE OR REPLACE FUNCTION app.claim_slot(p_job text, p_slot timestamptz, p_owner text,
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
