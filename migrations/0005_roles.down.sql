-- Back to the role list of 0001 and 0002.
DROP FUNCTION app.set_user_role(bigint, text);

CREATE OR REPLACE FUNCTION app.apply_clerk_event(event jsonb, OUT applied boolean,
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
    role := coalesce(d -> 'public_metadata' ->> 'role', 'user');
    IF role NOT IN ('user', 'mentorado', 'admin') THEN
      RAISE EXCEPTION 'unknown role "%" for %', role, clerk_user;
    END IF;
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

DROP FUNCTION app.clerk_role(jsonb, text);

DROP INDEX users_role_idx;
ALTER TABLE users DROP CONSTRAINT users_role_fkey;
ALTER TABLE users ADD CONSTRAINT users_role_check
  CHECK (role IN ('user', 'mentorado', 'admin'));

DROP TABLE roles;
