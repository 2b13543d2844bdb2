-- @drop users.flags
ALTER TABLE users DROP COLUMN flags;
