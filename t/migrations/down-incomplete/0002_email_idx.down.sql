ALTER TABLE users DROP COLUMN verified;
