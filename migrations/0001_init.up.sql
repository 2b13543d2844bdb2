-- The reference application: a mentoring platform.
--
-- A superset of ../shared/bench/workload/schema.sql (same tables, columns,
-- types and index), so the benchmark's data loads into this schema as is.
-- Applied by tools/db-push.sh inside one transaction: no BEGIN/COMMIT here.

CREATE TABLE users (
  id         bigserial PRIMARY KEY,
  clerk_id   text NOT NULL UNIQUE,
  email      text NOT NULL,
  role       text NOT NULL DEFAULT 'user'
             CHECK (role IN ('user', 'mentorado', 'admin')),
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);

CREATE TABLE mentorado_sessions (
  id           bigserial PRIMARY KEY,
  user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
  title        text,
  scheduled_at timestamptz,
  notes        text,
  created_at   timestamptz DEFAULT now()
);

CREATE INDEX mentorado_sessions_user_scheduled_idx
  ON mentorado_sessions (user_id, scheduled_at DESC);

-- users.updated_at follows every UPDATE that does not set it itself
CREATE FUNCTION users_set_updated_at() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER users_updated_at
  BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION users_set_updated_at();
