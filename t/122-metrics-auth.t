# The Auth, JWKS and Webhooks families of docs/metrics.md without a
# database: declared at start, tier denials by tier, webhook answers that
# never reach the database; backend_webhook_backlog_sql at configuration
# time.  Tokens, contexts, invalidations, the JWKS and the backlog with
# Postgres, Redis, jose and svix: t/e2e/metrics-auth-webhooks.test.mjs.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

our $http_config = <<'_EOC_';
    backend_metrics_zone metrics 4m;
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_tier admin admin;
    backend_tier staff admin staff;
    backend_procedure me { tier protected; data '1'; }
    backend_procedure a { tier admin; data '"a"'; }
_EOC_

our $config = <<'_EOC_';
    location /trpc/ { backend_rpc; }
    location = /metrics { backend_metrics; }
    location = /wh {
        backend_webhook svix;
        backend_webhook_secret ../html/secret;
        backend_webhook_sql "select status, clerk_user from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: every family is declared, with HELP and TYPE, before any sample
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /metrics
--- response_body_like eval
join '', map { "(?s)(?=.*# HELP $_->[0] .+\\n# TYPE $_->[0] $_->[1]\\n)" }
    ['backend_auth_tokens_total', 'counter'],
    ['backend_auth_token_cache_total', 'counter'],
    ['backend_auth_context_total', 'counter'],
    ['backend_auth_context_failures_total', 'counter'],
    ['backend_auth_denials_total', 'counter'],
    ['backend_invalidations_sent_total', 'counter'],
    ['backend_invalidations_received_total', 'counter'],
    ['backend_invalidations_pending', 'gauge'],
    ['backend_jwks_keys', 'gauge'],
    ['backend_jwks_last_refresh_timestamp_seconds', 'gauge'],
    ['backend_jwks_refresh_failures_total', 'counter'],
    ['backend_webhook_deliveries_total', 'counter'],
    ['backend_webhook_retry_rounds_total', 'counter'],
    ['backend_webhook_dead_letters_total', 'counter'],
    ['backend_webhook_backlog', 'gauge'],
    ['backend_webhook_backlog_oldest_seconds', 'gauge']
--- response_body_unlike
(?m)^backend_(auth|jwks|invalidations|webhook)
--- no_error_log
[error]



=== TEST 2: calls refused by a tier, counted by the tier's name
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /trpc/me", "GET /trpc/a", "GET /trpc/me,a?batch=1&input=%7B%7D", "GET /metrics"]
--- error_code eval
[401, 401, 401, 200]
--- response_body_like eval
[qr/UNAUTHORIZED/, qr/UNAUTHORIZED/, qr/UNAUTHORIZED/,
 qr/\nbackend_auth_denials_total\{tier="protected"\} 2\nbackend_auth_denials_total\{tier="admin"\} 2\n#/]
--- no_error_log
[error]



=== TEST 3: webhook answers before the database: a stale timestamp, a GET
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config eval: $::http_config
--- config eval: $::config
--- more_headers
svix-id: msg_1
svix-timestamp: 1000
svix-signature: v1,AAAA
--- request eval
["POST /wh\n{}", "GET /wh", "GET /metrics"]
--- error_code eval
[400, 405, 200]
--- response_body_like eval
[qr/too old/, qr/method not allowed/,
 qr/\nbackend_webhook_deliveries_total\{outcome="rejected_timestamp"\} 1\nbackend_webhook_deliveries_total\{outcome="rejected_request"\} 1\n#/]
--- no_error_log
[error]



=== TEST 4: webhook answers before the database: no signature
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["POST /wh\n{\"type\":\"user.created\"}", "GET /metrics"]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/missing required headers/,
 qr/\nbackend_webhook_deliveries_total\{outcome="rejected_signature"\} 1\n#/]
--- no_error_log
[error]



=== TEST 5: the backlog statement runs after the retries: it needs them
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_webhook_backlog_sql "select 0 as due, 0 as oldest_seconds";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_webhook_backlog_sql in \S+nginx\.conf:\d+ is run after each round of backend_webhook_retry, which is not configured/



=== TEST 6: the backlog statement takes no parameters
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_webhook_retry "select $1, $2, $3";
    backend_webhook_backlog_sql "select count(*) as due from t where a > $1";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_webhook_backlog_sql takes no parameters in \S+nginx\.conf:\d+/



=== TEST 7: once
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_webhook_retry "select $1, $2, $3";
    backend_webhook_backlog_sql "select 0, 0";
    backend_webhook_backlog_sql "select 0, 0";
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_webhook_backlog_sql" directive is duplicate/



=== TEST 8: with a backlog statement, its gauges are exposed from the start
--- http_config
    backend_metrics_zone metrics 4m;
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_webhook_retry "select $1, $2, $3" interval=1h;
    backend_webhook_backlog_sql "select 0 as due, 0 as oldest_seconds";
--- config
    location = /metrics { backend_metrics; }
--- request
GET /metrics
--- response_body_like eval
qr/\nbackend_webhook_backlog 0\n.*\nbackend_webhook_backlog_oldest_seconds 0\n/s
--- no_error_log
[error]
