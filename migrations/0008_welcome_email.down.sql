-- Back to 0006's welcome: a notification without a call, items with the
-- user's id only.

DROP FUNCTION IF EXISTS app.send_welcome(jsonb, jsonb);

CREATE OR REPLACE FUNCTION app.users_enqueue_welcome() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM app.enqueue('welcome', jsonb_build_object('userId', NEW.id),
                      'welcome:' || NEW.id);
  RETURN NEW;
END
$$;

ALTER TABLE notifications DROP COLUMN IF EXISTS external_id;
