DROP TABLE orders; DROP TABLE user_profiles;
