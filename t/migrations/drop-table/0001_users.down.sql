DROP TABLE legacy_logins; DROP TABLE users;
