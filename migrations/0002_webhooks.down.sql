-- Reverts 0002_webhooks.up.sql (drops stored webhook events).
DROP FUNCTION IF EXISTS app.replay_clerk_webhook(text);
DROP FUNCTION IF EXISTS app.retry_clerk_webhooks(integer, integer, integer);
DROP FUNCTION IF EXISTS app.webhook_backoff(integer, integer);
DROP FUNCTION IF EXISTS app.receive_clerk_webhook(text, text, jsonb, integer);
DROP FUNCTION IF EXISTS app.apply_clerk_event(jsonb);
ALTER TABLE users DROP COLUMN IF EXISTS clerk_updated_at;
DROP TABLE IF EXISTS revoked_sessions;
DROP TABLE IF EXISTS webhook_events;
DROP SCHEMA IF EXISTS app;
