-- fixture (lint, drop): a table dropped without an annotation (IF EXISTS
-- and lower case make no difference: the lint reads the catalog)
drop table if exists legacy_logins;
