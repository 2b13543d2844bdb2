-- Demo data for make run (idempotent: run it as often as you like).
--
-- clerk_id and role follow ../shared/bench/workload/schema.sql (user_<n>;
-- n % 100 = 0 admin, else n % 3 = 0 mentorado, else user), so tokens
-- minted for the benchmark (sub = user_<n>) match these users' roles.
BEGIN;

INSERT INTO users (clerk_id, email, role) VALUES
  ('user_1',   'ana@demo.local',    'user'),
  ('user_2',   'davi@demo.local',   'user'),
  ('user_3',   'bruno@demo.local',  'mentorado'),
  ('user_6',   'carla@demo.local',  'mentorado'),
  ('user_100', 'admin@demo.local',  'admin')
ON CONFLICT (clerk_id) DO UPDATE
  SET email = EXCLUDED.email, role = EXCLUDED.role
  WHERE (users.email, users.role) IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.role);

INSERT INTO mentorado_sessions (user_id, title, scheduled_at, notes)
SELECT u.id, s.title, s.scheduled_at, s.notes
  FROM (VALUES
    ('user_3', 'Kickoff: goals for the quarter',
     timestamptz '2025-01-06 14:00+00', 'Wants to move into backend work'),
    ('user_3', 'Code review habits',
     timestamptz '2025-01-13 14:00+00', NULL),
    ('user_3', 'System design: a job queue',
     timestamptz '2025-01-20 14:00+00', 'Homework: draw the failure modes'),
    ('user_6', 'First session',
     timestamptz '2025-02-03 10:00+00', NULL),
    ('user_6', 'Interview preparation',
     timestamptz '2025-02-10 10:00+00', 'Mock interview next time'),
    ('user_100', 'Admin smoke test session',
     timestamptz '2025-03-01 09:00+00', NULL)
  ) AS s (clerk_id, title, scheduled_at, notes)
  JOIN users u ON u.clerk_id = s.clerk_id
 WHERE NOT EXISTS (SELECT 1 FROM mentorado_sessions m
                    WHERE m.user_id = u.id AND m.title = s.title);

COMMIT;
