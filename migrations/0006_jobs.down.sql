-- Reverts 0006_jobs.up.sql.
DROP FUNCTION IF EXISTS app.send_welcome(jsonb);
DROP TRIGGER IF EXISTS users_enqueue_welcome ON users;
DROP FUNCTION IF EXISTS app.users_enqueue_welcome();
DROP FUNCTION IF EXISTS app.prune_webhook_events(interval);
DROP FUNCTION IF EXISTS app.remind_sessions(timestamptz);
DROP TABLE IF EXISTS notifications;
DROP FUNCTION IF EXISTS app.request_job_run(text);
DROP FUNCTION IF EXISTS app.tick_job(text, bigint, text, integer, text, bigint,
                                     integer, text);
DROP FUNCTION IF EXISTS app.finish_item_within(bigint, text, integer, bigint,
                                               bigint);
DROP FUNCTION IF EXISTS app.finish_slot_within(text, timestamptz, text,
                                               integer, bigint, bigint);
DROP TABLE IF EXISTS app.jobs;
