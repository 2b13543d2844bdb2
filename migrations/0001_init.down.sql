-- Reverts 0001_init.up.sql (drops the application's data).
DROP TABLE IF EXISTS mentorado_sessions;
DROP TABLE IF EXISTS users;
DROP FUNCTION IF EXISTS users_set_updated_at();
