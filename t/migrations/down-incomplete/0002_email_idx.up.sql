-- fixture (roundtrip): the down forgets the index
ALTER TABLE users ADD COLUMN verified boolean NOT NULL DEFAULT false;
CREATE INDEX users_email_idx ON users (email);
