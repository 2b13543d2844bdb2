# External APIs behind adapters (issue 15): backend_adapter and a
# procedure's "call" at configuration time (each mistake named with its
# file and line), a call through to a location of this server, and the
# backend_adapter_* metric families.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_metrics_zone metrics 1m;
    backend_adapter_zone adapters:1m;
    backend_adapter api {
        location /_adapters/api;
        timeout  1s;
        budget   2s;
        retries  1 on=5xx backoff=10ms max=50ms jitter=none;
        idempotency header=Idempotency-Key;
        breaker  failures=5 window=30s open=15s probes=1;
        rate     100r/s burst=100;
        degraded stale=10m;
    }
    backend_procedure api.user {
        tier   public;
        call   api GET "/v1/users/{input.id}?by={ctx.request_id}";
        result json;
    }
    backend_procedure api.make {
        type   mutation;
        tier   public;
        call   api POST "/v1/things" body=input;
    }
_EOC_

our $config = <<'_EOC_';
    location /trpc/ { backend_rpc; }
    location = /metrics { backend_metrics; }
    location = /_adapters/api {
        internal;
        proxy_pass http://127.0.0.1:$server_port/fake$backend_adapter_uri;
    }
    location /fake/ {
        default_type application/json;
        return 200 '{"uri":"$request_uri","method":"$request_method","cookie":"$http_cookie","key":"$http_idempotency_key","type":"$http_content_type"}';
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: a query's call: values percent-encoded, the client's headers kept back, the answer as data
--- http_config eval: $::http_config
--- config eval: $::config
--- more_headers
Cookie: __session=secret
X-Request-Id: rid-1
--- request
GET /trpc/api.user?input=%7B%22id%22%3A%22..%2Fadmin%40x%22%7D
--- error_code: 200
--- response_body_like: ^\{"result":\{"data":\{"uri":"/fake/v1/users/\.\.%2Fadmin%40x\?by=rid-1","method":"GET","cookie":"","key":"[0-9a-f]{32}","type":""\}\}\}$
--- no_error_log
[error]



=== TEST 2: a mutation's call: POST with the input as its body and an idempotency key
--- http_config eval: $::http_config
--- config eval: $::config
--- request
POST /trpc/api.make
{"name":"x"}
--- more_headers
Content-Type: application/json
--- error_code: 200
--- response_body_like: ^\{"result":\{"data":\{"uri":"/fake/v1/things","method":"POST","cookie":"","key":"[0-9a-f]{32}","type":"application/json"\}\}\}$
--- no_error_log
[error]



=== TEST 3: the families, per adapter, from the start; a call counted once
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /metrics", "GET /trpc/api.user?input=%7B%22id%22%3A1%7D", "GET /metrics"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/\nbackend_adapter_calls_total\{adapter="api",outcome="ok"\} 0\n(?s:.*)\nbackend_adapter_breaker_state\{adapter="api"\} 0\n/,
 ".",
 qr/\nbackend_adapter_calls_total\{adapter="api",outcome="ok"\} 1\n(?s:.*)\nbackend_adapter_attempts_total\{adapter="api",result="ok"\} 1\n(?s:.*)\nbackend_adapter_duration_seconds_count\{adapter="api"\} 1\n(?s:.*)\nbackend_adapter_degraded_total\{adapter="api",reason="breaker_open"\} 0\n/]
--- no_error_log
[error]



=== TEST 4: a call to an adapter nobody declared
--- http_config
    backend_procedure p { tier public; call nope GET "/x"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" calls unknown adapter "nope" in .*nginx\.conf:\d+/



=== TEST 5: a call without sql has no params
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a GET "/x"; params input.a; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": a "call" without "sql" goes with "result json" only .* in .*nginx\.conf:\d+/



=== TEST 6: result json without a call
--- http_config
    backend_procedure p { tier public; data '1'; result json; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "result json" is the answer of a "call" without "sql"/



=== TEST 7: a timeout longer than the budget
--- http_config
    backend_adapter a { location /a; timeout 5s; budget 2s; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*adapter "a": "timeout" 5000ms is longer than "budget" 2000ms in .*nginx\.conf:\d+/



=== TEST 8: stale answers need the zone
--- http_config
    backend_adapter a { location /a; degraded stale=1m; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*adapter "a" has "degraded stale=", which needs "backend_adapter_zone", in .*nginx\.conf:\d+/



=== TEST 9: a target that is not a path, a fragment, an unknown value
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a GET "https://evil.example/x"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid target "https:\/\/evil\.example\/x" in "call"/



=== TEST 10: a fragment in the target
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a GET "/x#y"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid target "\/x#y" in "call"/



=== TEST 11: a value that is neither input nor ctx
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a GET "/x/{secret}"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "\{secret\}" in "call": expected \{input\.field\} or \{ctx\.field\}/



=== TEST 12: an unknown context field
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a GET "/x/{ctx.password}"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown context field "ctx\.password" in "call"/



=== TEST 13: retries on= something unknown
--- http_config
    backend_adapter a { location /a; retries 2 on=teapot; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "on=" value "teapot" \(timeout, error, 429, 500, 502, 503, 504, 5xx\) in .*nginx\.conf:\d+/



=== TEST 14: an adapter without a location; a duplicate adapter
--- http_config
    backend_adapter a { timeout 1s; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*adapter "a" has no "location" in .*nginx\.conf:\d+/



=== TEST 15: a duplicate adapter
--- http_config
    backend_adapter a { location /a; }
    backend_adapter a { location /b; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate adapter "a", first defined in .*nginx\.conf:\d+/



=== TEST 16: a mutation's method without a body is still a call; an unknown method is not
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { tier public; call a TRACE "/x"; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid method "TRACE" in "call" \(GET, POST, PUT, PATCH, DELETE\)/



=== TEST 17: call then sql: a POST call needs the client's key
--- http_config
    backend_adapter a { location /a; idempotency header=Idempotency-Key; }
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_procedure p {
        type mutation; tier public;
        call a POST "/x";
        sql "select $1::text"; params answer.id;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": a POST call followed by "sql" needs "key=input\.field" \(the client's idempotency key\) in .*nginx\.conf:\d+/



=== TEST 18: key= needs the adapter's idempotency header
--- http_config
    backend_adapter a { location /a; }
    backend_procedure p { type mutation; tier public; call a POST "/x" key=input.k; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "key=" of its call needs "idempotency header=" in adapter "a"/



=== TEST 19: call then sql reading the input needs a schema
--- http_config
    backend_adapter a { location /a; }
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_procedure p { tier public; call a GET "/x/{input.id}"; sql "select $1::text"; params answer.id; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p" has "call" and "sql" and reads its input: it needs "input" \(a schema\)/



=== TEST 20: answer.field without a call
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_procedure p { tier public; sql "select $1::text"; params answer.id; }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*procedure "p": "answer\.id" needs a "call" and "sql" in .*nginx\.conf:\d+/



=== TEST 21: an adapter's location a client can reach (not internal) proxies nothing
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
    location = /_adapters/api {
        proxy_set_header Authorization "Bearer secret";
        proxy_pass http://127.0.0.1:$server_port/fake$backend_adapter_uri;
    }
    location /fake {
        return 200 '"reached with $http_authorization"';
    }
    location /_adapters/apidocs {
        return 200 'docs';
    }
--- request eval
["GET /_adapters/api", "GET /_adapters/api/v1/users/x", "GET /trpc/api.user?input=%7B%22id%22%3A1%7D", "GET /_adapters/apidocs"]
--- error_code eval
[404, 404, 200, 200]
--- response_body_like eval
[qr/^(?!.*reached)/s, qr/^(?!.*reached)/s, qr/"data":"reached with Bearer secret"/, qr/^docs$/]
--- error_log
backend adapter "api": a client's request for its location "/_adapters/api" refused (make the location "internal")
