ALTER TABLE users ADD COLUMN late integer;
-- @irreversible: too late: db-push reads the leading comments only
