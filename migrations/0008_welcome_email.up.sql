-- The welcome as an email through the reference app's mail API
-- (conf/jobs.conf: queue "welcome" calls adapter "mailer", then its
-- statement stores the API's message id with the notification).  The
-- item carries the address and the template, so that its call needs no
-- statement before it.

ALTER TABLE notifications ADD COLUMN external_id text;

CREATE OR REPLACE FUNCTION app.users_enqueue_welcome() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM app.enqueue('welcome',
                      jsonb_build_object('userId', NEW.id, 'to', NEW.email,
                                         'template', 'welcome'),
                      'welcome:' || NEW.id);
  RETURN NEW;
END
$$;

-- items enqueued before: the address their call now sends
UPDATE app.queue_items q
   SET payload = q.payload || jsonb_build_object('to', u.email,
                                                 'template', 'welcome')
  FROM users u
 WHERE q.queue = 'welcome' AND q.status IN ('pending', 'dead')
   AND u.id = (q.payload ->> 'userId')::bigint
   AND NOT q.payload ? 'to';

-- the handler after the call: the notification with the message id the
-- API answered, once; app.send_welcome(jsonb) stays for nodes that still
-- run 0006's handler during a rolling deployment
CREATE FUNCTION app.send_welcome(p_payload jsonb, p_sent jsonb)
  RETURNS SETOF bigint LANGUAGE sql AS $$
  INSERT INTO notifications (kind, user_id, body, external_id)
  SELECT 'welcome', u.id, 'welcome, ' || u.email, p_sent ->> 'id'
    FROM users u
   WHERE u.id = (p_payload ->> 'userId')::bigint
  ON CONFLICT DO NOTHING
  RETURNING id
$$;
