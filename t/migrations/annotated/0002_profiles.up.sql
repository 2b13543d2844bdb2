-- fixture: a 1:1 table with its reason, and a foreign key whose index
-- comes in a later migration (the fix for one already applied elsewhere)

-- @one-to-one user_profiles: written by the profile service under its own
-- role, which must not be able to write users
CREATE TABLE user_profiles (
  user_id bigint PRIMARY KEY REFERENCES users (id),
  bio     text
);

CREATE TABLE orders (
  id      bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id)
);
