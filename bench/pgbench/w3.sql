-- W3's statement as mentorado.sessions.list runs it, for a random one of
-- the 200 mentorados with sessions (the k-th mentorado by id: 3(k+1),
-- skipping the admins 300 and 600)
\set k random(0, 199)
\set uid 3 * (:k + 1 + (case when :k >= 99 then 1 else 0 end) + (case when :k >= 198 then 1 else 0 end))
select id, title, scheduled_at as "scheduledAt", notes, created_at as "createdAt"
  from mentorado_sessions
 where user_id = :uid
   and (null::timestamptz is null or scheduled_at < null::timestamptz)
 order by scheduled_at desc
 limit 20;
