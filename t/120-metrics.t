# backend_metrics (issue 13): the registry in shared memory, the procedure
# families, the exposition format, configuration errors; the access log's
# $backend_* variables and trace context.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_metrics_zone metrics 1m;
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure ping { tier public; type mutation; data '"pong"'; }
    log_format backend_json escape=json
        '{"request_id":"$backend_request_id","trace_id":"$backend_trace_id",'
        '"parent":"$backend_parent_span_id","span":"$backend_span_id",'
        '"actor":"$backend_actor","procedure":"$backend_procedure",'
        '"tier":"$backend_tier","code":"$backend_code","status":$status,'
        '"db_time":$backend_db_time,"queue_wait":$backend_queue_wait,'
        '"context_source":"$backend_context_source",'
        '"batch":$backend_batch_size}';
_EOC_

our $config = <<'_EOC_';
    location /trpc/ {
        backend_rpc;
        access_log logs/error.log backend_json;
    }
    location = /metrics { backend_metrics; }
_EOC_

run_tests();

__DATA__

=== TEST 1: calls counted by procedure, type and code; the histogram's count agrees
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /trpc/health", "GET /trpc/health", "GET /trpc/health",
 "POST /trpc/health", "GET /metrics"]
--- error_code eval
[200, 200, 200, 405, 200]
--- response_body_like eval
[".", ".", ".", ".",
 qr/^(?=.*\nbackend_calls_total\{procedure="health",type="query",code="OK"\} 3\n)(?=.*\nbackend_calls_total\{procedure="health",type="query",code="METHOD_NOT_SUPPORTED"\} 1\n).*\nbackend_call_duration_seconds_bucket\{procedure="health",le="\+Inf"\} 4\n.*\nbackend_call_duration_seconds_count\{procedure="health"\} 4\n/s]
--- response_headers_like eval
["", "", "", "", "Content-Type: text/plain; version=0\\.0\\.4; charset=utf-8"]
--- no_error_log
[error]



=== TEST 2: every declared procedure is exposed from the start; HELP and TYPE for every family
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /metrics
--- response_body_like eval
qr/^(?=.*\n# TYPE backend_calls_total counter\n)(?=.*\nbackend_calls_total\{procedure="ping",type="mutation",code="OK"\} 0\n)(?=.*\n# TYPE backend_call_duration_seconds histogram\n)(?=.*\nbackend_call_duration_seconds_bucket\{procedure="ping",le="0.0005"\} 0\n)(?=.*\n# HELP backend_batch_size .*\n# TYPE backend_batch_size histogram\n)(?=.*\nbackend_build_info\{version="[0-9.]+",nginx_version="1\.\d+\.\d+"\} 1\n)/s
--- no_error_log
[error]



=== TEST 3: an undeclared procedure is "unknown": no label value from the client
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /trpc/secret-user-42", "POST /trpc/other%22x", "GET /metrics"]
--- error_code eval
[404, 404, 200]
--- response_body_like eval
[".", ".", qr/backend_calls_total\{procedure="unknown",type="query",code="NOT_FOUND"\} 1\n.*backend_calls_total\{procedure="unknown",type="mutation",code="NOT_FOUND"\} 1\n/s]
--- response_body_unlike eval
["^\$", "^\$", qr/\{[^}\n]*(secret|other)/]
--- no_error_log
[error]



=== TEST 4: a batch: each call counted, the batch size observed once
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /trpc/health,health,nope?batch=1", "GET /metrics"]
--- error_code eval
[207, 200]
--- response_body_like eval
[".", qr/^(?=.*backend_calls_total\{procedure="health",type="query",code="OK"\} 2\n).*backend_calls_total\{procedure="unknown",type="query",code="NOT_FOUND"\} 1\n.*backend_batch_size_bucket\{le="2"\} 0\nbackend_batch_size_bucket\{le="4"\} 1\n.*backend_batch_size_count 1\n/s]
--- no_error_log
[error]



=== TEST 5: a request refused before any call is counted by its code
--- http_config eval: $::http_config
--- config eval: "backend_rpc_max_batch 2;\n" . $::config
--- request eval
["GET /trpc/health,health,health?batch=1", "GET /metrics"]
--- error_code eval
[400, 200]
--- response_body_like eval
[".", qr/\nbackend_rpc_rejected_total\{code="BAD_REQUEST"\} 1\n/s]
--- no_error_log
[error]



=== TEST 6: only GET and HEAD scrape
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["POST /metrics", "HEAD /metrics"]
--- error_code eval
[405, 200]
--- response_body_like eval
["405", "^\$"]
--- no_error_log
[error]



=== TEST 7: backend_metrics without a zone: nginx -t names file and line
--- http_config
    backend_procedure health { tier public; data '{"ok":true}'; }
--- config
    location = /metrics { backend_metrics; }
--- must_die
--- error_log eval
qr/"backend_metrics" in \S+nginx\.conf:\d+ needs "backend_metrics_zone"/



=== TEST 8: a zone too small for the series of the configuration
--- http_config eval
"backend_metrics_zone metrics 256k;\n"
. join("", map { "backend_procedure a$_ { tier public; data '1'; }\n" } 1 .. 20)
--- config
    location = /metrics { backend_metrics; }
--- must_die
--- error_log eval
qr/"backend_metrics_zone" in \S+nginx\.conf:\d+ is too small for the \d+ series cells of this configuration: give it at least \d+k/



=== TEST 9: bad duration buckets
--- http_config
    backend_metrics_zone metrics 1m;
    backend_metrics_duration_buckets 0.01 0.005;
--- config
    location = /metrics { backend_metrics; }
--- must_die
--- error_log eval
qr/invalid bucket "0\.005": bounds are seconds \(at most 6 decimals\), positive and increasing in \S+nginx\.conf:\d+/



=== TEST 10: configured duration buckets
--- http_config
    backend_metrics_zone metrics 1m;
    backend_metrics_duration_buckets 0.001 0.1 1;
    backend_procedure health { tier public; data '{"ok":true}'; }
--- config
    location /trpc/ { backend_rpc; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /trpc/health", "GET /metrics"]
--- response_body_like eval
[".", qr/backend_call_duration_seconds_bucket\{procedure="health",le="0\.001"\} \d\nbackend_call_duration_seconds_bucket\{procedure="health",le="0\.1"\} \d\nbackend_call_duration_seconds_bucket\{procedure="health",le="1"\} 1\nbackend_call_duration_seconds_bucket\{procedure="health",le="\+Inf"\} 1\nbackend_call_duration_seconds_sum\{procedure="health"\} 0\.\d{6}\n/s]
--- no_error_log
[error]



=== TEST 11: the access log's variables; a traceparent continued
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /trpc/health,nope?batch=1
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- error_code: 207
--- error_log eval
qr/\{"request_id":"[0-9a-f]{32}","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","parent":"00f067aa0ba902b7","span":"[0-9a-f]{16}","actor":"anonymous","procedure":"health,unknown","tier":"public,","code":"OK,NOT_FOUND","status":207,"db_time":0\.000000,"queue_wait":0\.000000,"context_source":"none","batch":2\}/
--- no_error_log
[error]



=== TEST 12: a malformed traceparent starts a new trace
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /trpc/health
--- more_headers
traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01
--- error_log eval
qr/"trace_id":"(?!0{32})[0-9a-f]{32}","parent":"","span":"[0-9a-f]{16}"/
--- no_error_log
[error]



=== TEST 13: a refused request's code in the access log
--- http_config eval: $::http_config
--- config eval: "backend_rpc_max_batch 2;\n" . $::config
--- request
GET /trpc/health,health,health?batch=1
--- error_code: 400
--- error_log eval
qr/"procedure":"","tier":"","code":"BAD_REQUEST","status":400,.*"batch":0\}/
--- no_error_log
[error]



=== TEST 14: every error-log line of the request names its request id, trace id and actor
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=2;
    backend_procedure num { tier public; sql "select $1::int as v"; params input.a; result one; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/num?input=%7B%22a
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
X-Request-Id: req-e2e-1
--- error_code: 400
--- error_log eval
qr/backend: bad input: .*, request_id: "req-e2e-1", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", actor: -/
--- no_error_log
[error]




=== TEST 15: the db time and queue wait of the request's statements
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=2;
    backend_procedure slow { tier public; sql "select pg_sleep(0.05)::text as v"; result one; }
    log_format t 'times db=$backend_db_time queue=$backend_queue_wait';
--- config
    location /trpc/ { backend_rpc; access_log logs/error.log t; }
--- request
GET /trpc/slow
--- error_log eval
qr/times db=0\.0[5-9]\d{4} queue=0\.\d{6}/
--- no_error_log
[error]



=== TEST 16: $backend_access_json: the whole line, valid JSON and UTF-8 whatever the path held
--- http_config
    backend_procedure health { tier public; data '{"ok":true}'; }
    log_format j escape=none 'ACCESS $backend_access_json';
--- config
    location /trpc/ { backend_rpc; access_log logs/error.log j; }
--- request eval
["GET /trpc/health,nope?batch=1", "GET /trpc/x%22%5C%ff%01"]
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- error_code eval
[207, 400]
--- error_log eval
[qr/ACCESS \{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d","request_id":"[0-9a-f]{32}","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"[0-9a-f]{16}","actor":"anonymous","session":"","method":"GET","path":"\/trpc\/health,nope","procedure":"health,unknown","tier":"public,","code":"OK,NOT_FOUND","status":207,"request_time":\d+\.\d{3},"db_time":0\.000000,"queue_wait":0\.000000,"context_source":"none","batch":2,"bytes_in":\d+,"bytes_out":\d+\}/,
 qr/ACCESS \{.*"path":"\/trpc\/x\\"\\\\\xef\xbf\xbd\\u0001","procedure":"","tier":"","code":"BAD_REQUEST","status":400,/]
--- no_error_log
[error]
