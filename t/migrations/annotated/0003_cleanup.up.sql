-- fixture: an irreversible migration (no down file)
-- @irreversible: drops legacy_logins and users.nickname; a down could
-- recreate them, not their data
--
-- @drop legacy_logins: nothing has read it since 2025
-- @drop users.nickname: replaced by user_profiles.bio
DROP TABLE legacy_logins;
ALTER TABLE users DROP COLUMN nickname;
