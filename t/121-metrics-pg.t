# The Postgres families of /metrics (docs/metrics.md): statements by
# outcome (OK, the SQLSTATE's class, timeout, unavailable, other), the
# queue wait and duration histograms (one observation per statement),
# timeouts by stage, connect failures, and the gauges (connections by
# state, queue length, pipeline depth) back to what the pool holds once
# the calls are answered.  Each block scrapes its own nginx after its
# calls.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

our $pg = 'host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT '
          . 'dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER';

our $procs = <<'_EOC_';
    backend_procedure t.one { tier public; sql "select $1::int + 1 as v"; params input; result value; }
    backend_procedure t.zero { tier public; sql "select 1/0"; result value; }
    backend_procedure t.slow { tier public; sql "select pg_sleep(2)"; result none; }
    backend_procedure t.nap { tier public; sql "select pg_sleep(0.5)"; result none; }
    backend_procedure t.odd { tier public; sql "do $$ begin raise exception 'odd' using errcode = 'ZZ001'; end $$"; result none; }
_EOC_

our $config = <<'_EOC_';
    location /trpc/ { backend_rpc; }
    location = /metrics { backend_metrics; }
_EOC_

# a pattern for a scrape holding each of these sample lines, exactly, in
# any order: [name, labels, value]
sub samples {
    return '(?m)\A' . join('', map {
        my ($name, $labels, $value) = @$_;
        '(?=.*^' . quotemeta("$name\{$labels\} $value") . '$)'
    } @_);
}

run_tests();

__DATA__

=== TEST 1: statements by outcome, a histogram observation for each, the connection idle again
(the first statement waits for the first connection; a division by zero
is SQLSTATE 22012, class 22)
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.one?input=1", "GET /trpc/t.one?input=2", "GET /trpc/t.zero",
 "GET /metrics"]
--- error_code eval
[200, 200, 500, 200]
--- response_body_like eval
['', '', '',
 main::samples(
     ['backend_pg_connections', 'database="main",state="connecting"', 0],
     ['backend_pg_connections', 'database="main",state="idle"', 1],
     ['backend_pg_connections', 'database="main",state="busy"', 0],
     ['backend_pg_queue_length', 'database="main"', 0],
     ['backend_pg_queue_wait_seconds_count', 'database="main"', 3],
     ['backend_pg_statement_duration_seconds_count', 'database="main"', 3],
     ['backend_pg_statements_total', 'database="main",outcome="OK"', 2],
     ['backend_pg_statements_total', 'database="main",outcome="22"', 1],
     ['backend_pg_pipeline_depth', 'database="main"', 0])]
--- error_log
division by zero



=== TEST 2: a statement that got its connection at once waited 0: all of them but the first in the lowest bucket
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.one?input=1", "GET /trpc/t.one?input=2",
 "GET /trpc/t.one?input=3", "GET /metrics"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['', '', '',
 main::samples(['backend_pg_queue_wait_seconds_bucket', 'database="main",le="0.0005"', 2],
               ['backend_pg_queue_wait_seconds_count', 'database="main"', 3])]
--- no_error_log
[error]



=== TEST 3: statement_timeout (query_timeout=) is a timeout at the query stage
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1 query_timeout=300ms;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.slow", "GET /metrics"]
--- error_code eval
[504, 200]
--- response_body_like eval
['',
 main::samples(
     ['backend_pg_statements_total', 'database="main",outcome="timeout"', 1],
     ['backend_pg_timeouts_total', 'database="main",stage="query"', 1],
     ['backend_pg_statement_duration_seconds_count', 'database="main"', 1],
     ['backend_pg_connections', 'database="main",state="idle"', 1])]
--- timeout: 10



=== TEST 4: a statement that waits past queue_timeout behind a busy connection: a timeout at the queue stage, unavailable
(the first call opens the connection, so the batch's first call takes it
at once and its second waits)
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1 queue_timeout=200ms;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.one?input=1",
 "GET /trpc/t.nap,t.one?batch=1&input=%7B%221%22%3A1%7D", "GET /metrics"]
--- error_code eval
[200, 207, 200]
--- response_body_like eval
['', '^\[\{"result":.*\},\{"error":.*"SERVICE_UNAVAILABLE"',
 main::samples(
     ['backend_pg_connections', 'database="main",state="idle"', 1],
     ['backend_pg_queue_length', 'database="main"', 0],
     ['backend_pg_queue_wait_seconds_count', 'database="main"', 3],
     ['backend_pg_statement_duration_seconds_count', 'database="main"', 2],
     ['backend_pg_statements_total', 'database="main",outcome="OK"', 2],
     ['backend_pg_statements_total', 'database="main",outcome="unavailable"', 1],
     ['backend_pg_timeouts_total', 'database="main",stage="queue"', 1])]
--- error_log
no connection within 200ms
--- timeout: 10



=== TEST 5: a SQLSTATE of no class of Appendix A counts as other
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.odd", "GET /metrics"]
--- error_code eval
[500, 200]
--- response_body_like eval
['', main::samples(['backend_pg_statements_total', 'database="main",outcome="other"', 1])]
--- response_body_unlike eval
['^$', 'outcome="ZZ"']
--- error_log
odd



=== TEST 6: pipeline mode: five calls on one connection, the depth back to 0 after
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1 pipeline=4;
 $::procs"
--- config eval: $::config
--- request eval
["GET /trpc/t.one,t.one,t.zero,t.one,t.one?batch=1&input=%7B%220%22%3A1%2C%221%22%3A2%2C%223%22%3A3%2C%224%22%3A4%7D",
 "GET /metrics"]
--- error_code eval
[207, 200]
--- response_body_like eval
['',
 main::samples(
     ['backend_pg_connections', 'database="main",state="idle"', 1],
     ['backend_pg_connections', 'database="main",state="busy"', 0],
     ['backend_pg_queue_wait_seconds_count', 'database="main"', 5],
     ['backend_pg_statement_duration_seconds_count', 'database="main"', 5],
     ['backend_pg_statements_total', 'database="main",outcome="OK"', 4],
     ['backend_pg_statements_total', 'database="main",outcome="22"', 1],
     ['backend_pg_pipeline_depth', 'database="main"', 0])]
--- error_log
division by zero



=== TEST 7: a database that cannot be reached: a connect failure, the statement unavailable, no connection left counted
--- http_config
    backend_metrics_zone metrics 1m;
    backend_pg main "host=127.0.0.1 port=$TEST_NGINX_RAND_PORT_1 dbname=x user=x" max=1;
    backend_procedure t.one { tier public; sql "select $1::int + 1 as v"; params input; result value; }
--- config eval: $::config
--- request eval
["GET /trpc/t.one?input=1", "GET /metrics"]
--- error_code eval
[503, 200]
--- response_body_like eval
['',
 main::samples(
     ['backend_pg_connections', 'database="main",state="connecting"', 0],
     ['backend_pg_connections', 'database="main",state="idle"', 0],
     ['backend_pg_connections', 'database="main",state="busy"', 0],
     ['backend_pg_queue_length', 'database="main"', 0],
     ['backend_pg_queue_wait_seconds_count', 'database="main"', 1],
     ['backend_pg_statements_total', 'database="main",outcome="unavailable"', 1],
     ['backend_pg_connect_failures_total', 'database="main"', 1])]
--- response_body_unlike eval
['^$', 'backend_pg_statement_duration_seconds_count']
--- error_log
could not connect to 127.0.0.1



=== TEST 8: every family is declared, with no backend_pg and no Redis at all
--- http_config
    backend_metrics_zone metrics 1m;
--- config eval: $::config
--- request
GET /metrics
--- response_body_like eval
CORE::join('(?s).*', map { "# TYPE $_->[0] $_->[1]\n" }
    ['backend_pg_connections', 'gauge'],
    ['backend_pg_queue_length', 'gauge'],
    ['backend_pg_queue_wait_seconds', 'histogram'],
    ['backend_pg_statement_duration_seconds', 'histogram'],
    ['backend_pg_statements_total', 'counter'],
    ['backend_pg_timeouts_total', 'counter'],
    ['backend_pg_connect_failures_total', 'counter'],
    ['backend_pg_connections_lost_total', 'counter'],
    ['backend_pg_pipeline_depth', 'gauge'],
    ['backend_redis_up', 'gauge'],
    ['backend_redis_command_duration_seconds', 'histogram'],
    ['backend_redis_timeouts_total', 'counter'],
    ['backend_redis_reconnects_total', 'counter'],
    ['backend_redis_messages_total', 'counter'])
--- no_error_log
[error]



=== TEST 9: each statement's queue wait and duration reach the request: $backend_queue_wait, $backend_db_time, whatever the outcome
(the first call waits for the first connection; the others find it free)
--- http_config eval
"backend_metrics_zone metrics 1m;
 backend_pg main \"$::pg\" max=1;
 $::procs
 log_format pgtimes 'pgtimes \$status db=\$backend_db_time wait=\$backend_queue_wait';"
--- config
    location /trpc/ { backend_rpc; access_log logs/error.log pgtimes; }
--- request eval
["GET /trpc/t.one?input=1", "GET /trpc/t.one?input=2", "GET /trpc/t.zero"]
--- error_code eval
[200, 200, 500]
--- error_log eval
[qr/pgtimes 200 db=(?!0\.000000)\d+\.\d{6} wait=(?!0\.000000)\d+\.\d{6}/,
 qr/pgtimes 200 db=(?!0\.000000)\d+\.\d{6} wait=0\.000000/,
 qr/pgtimes 500 db=(?!0\.000000)\d+\.\d{6} wait=0\.000000/]
