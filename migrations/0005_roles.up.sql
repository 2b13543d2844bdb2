-- Roles in one place: the table roles.  Adding a role is one migration
-- (INSERT INTO roles) and, if procedures are to admit it, one
-- backend_tier line in the configuration; users.role, admin.users.setRole
-- and the Clerk webhook's apply all check against this table.

CREATE TABLE roles (
  name        text PRIMARY KEY
              CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  description text NOT NULL DEFAULT ''
);

INSERT INTO roles (name, description) VALUES
  ('user',      'a signed-in user'),
  ('mentorado', 'a mentee: has sessions and notes'),
  ('admin',     'runs the platform');

-- was CHECK (role IN ('user', 'mentorado', 'admin'))
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users
  ADD CONSTRAINT users_role_fkey FOREIGN KEY (role) REFERENCES roles (name)
  ON UPDATE CASCADE;
CREATE INDEX users_role_idx ON users (role);

-- The role a Clerk user's public_metadata names, checked against roles
-- (was a list written into app.apply_clerk_event).
CREATE FUNCTION app.clerk_role(d jsonb, clerk_user text) RETURNS text
  LANGUAGE plpgsql STABLE AS $$
DECLARE
  r text := coalesce(d -> 'public_metadata' ->> 'role', 'user');
BEGIN
  IF NOT EXISTS (SELECT 1 FROM roles WHERE name = r) THEN
    RAISE EXCEPTION 'unknown role "%" for % (not in table roles)',
                    r, clerk_user
      USING ERRCODE = '22023';
  END IF;
  RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION app.apply_clerk_event(event jsonb,
                                                 OUT applied boolean,
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
    role := app.clerk_role(d, clerk_user);
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

-- admin.users.setRole: the user's new role, or a refusal that says what
-- was refused (a role not in roles) instead of a bare constraint failure
CREATE FUNCTION app.set_user_role(p_user bigint, p_role text)
  RETURNS SETOF users
  LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM roles WHERE name = p_role) THEN
    RAISE EXCEPTION 'role "%" does not exist (roles: %)', p_role,
                    (SELECT string_agg(name, ', ' ORDER BY name) FROM roles)
      USING ERRCODE = '22023';
  END IF;

  RETURN QUERY UPDATE users SET role = p_role WHERE id = p_user RETURNING *;
END
$$;
