-- W4's statement as mentorado.notes.create runs it: a session and its owner
\set sid random(1, 10000)
\set k (:sid - 1) / 50
\set uid 3 * (:k + 1 + (case when :k >= 99 then 1 else 0 end) + (case when :k >= 198 then 1 else 0 end))
update mentorado_sessions set notes = 'Bench note: went over goals, next steps agreed.'
 where id = :sid and user_id = :uid
returning id, title, scheduled_at as "scheduledAt", notes, created_at as "createdAt";
