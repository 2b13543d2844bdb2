# backend_log_sample and $backend_log_sample (issue 13's cost): a sampled
# access log keeps every failure, every slow request, every trace its
# caller marked sampled, and the configured share of the rest, chosen by
# the trace id so that every node keeps the same traces.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

our $http_config = <<'_EOC_';
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure num { tier public; data '{"ok":true}'; }
    log_format s escape=none 'SAMPLE $backend_log_sample LINE $backend_code';
_EOC_

run_tests();

__DATA__

=== TEST 1: without the directive every request is kept
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- error_log
SAMPLE 1 LINE OK
--- no_error_log
[error]



=== TEST 2: 0%: a fast success that nobody asked to trace is dropped
--- http_config eval: $::http_config
--- config
    backend_log_sample 0%;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00
--- error_log
SAMPLE 0 LINE OK
--- no_error_log
[error]
SAMPLE 1



=== TEST 3: 0%: failures are kept, whatever their kind
--- http_config eval: $::http_config
--- config
    backend_log_sample 0%;
    location /trpc/ {
        backend_rpc;
        access_log logs/error.log s if=$backend_log_sample;
    }
--- request eval
["GET /trpc/nope", "GET /trpc/health%ff",
 "GET /trpc/health,nope?batch=1", "GET /trpc/health"]
--- error_code eval
[404, 400, 207, 200]
--- error_log eval
[qr/SAMPLE 1 LINE NOT_FOUND$/m, qr/SAMPLE 1 LINE BAD_REQUEST$/m,
 qr/SAMPLE 1 LINE OK,NOT_FOUND$/m]
--- no_error_log eval
["[error]", qr/LINE OK$/m]



=== TEST 4: 0%: a caller's sampled trace (flags 01) is kept
--- http_config eval: $::http_config
--- config
    backend_log_sample 0%;
    location /trpc/ {
        backend_rpc;
        access_log logs/error.log s if=$backend_log_sample;
    }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03
--- error_log
SAMPLE 1 LINE OK
--- no_error_log
[error]



=== TEST 5: 1%: the trace id's low 56 bits below 1% of 2^56 are kept
--- http_config eval: $::http_config
--- config
    backend_log_sample 1%;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3028f5c28f5c23f-00f067aa0ba902b7-00
--- error_log
SAMPLE 1 LINE OK
--- no_error_log
[error]



=== TEST 6: 1%: the first trace id at 1% of 2^56 is not
--- http_config eval: $::http_config
--- config
    backend_log_sample 1%;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3028f5c28f5c240-00f067aa0ba902b7-00
--- error_log
SAMPLE 0 LINE OK
--- no_error_log
[error]



=== TEST 7: 99.99%: the range below the top is kept
--- http_config eval: $::http_config
--- config
    backend_log_sample 99.99%;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3fff972474519ef-00f067aa0ba902b7-00
--- error_log
SAMPLE 1 LINE OK
--- no_error_log
[error]



=== TEST 8: 99.99%: the top 0.01% is dropped
--- http_config eval: $::http_config
--- config
    backend_log_sample 99.99%;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request
GET /trpc/health
--- more_headers
traceparent: 00-4bf92f3577b34da6a3fff972474519f0-00f067aa0ba902b7-00
--- error_log
SAMPLE 0 LINE OK
--- no_error_log
[error]



=== TEST 9: 0% slow=20ms: a slow success is kept, a fast one is not
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=2;
    backend_procedure slow { tier public; sql "select pg_sleep(0.05)::text as v"; result one; }
    backend_procedure fast { tier public; sql "select 1 as v"; result one; }
    log_format s escape=none 'SAMPLE $backend_log_sample LINE $backend_procedure';
--- config
    backend_log_sample 0% slow=20ms;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
--- request eval
["GET /trpc/slow", "GET /trpc/fast"]
--- error_log eval
[qr/SAMPLE 1 LINE slow$/m, qr/SAMPLE 0 LINE fast$/m]
--- no_error_log
[error]



=== TEST 10: a location's own setting replaces the server's, slow= included
--- http_config eval: $::http_config
--- config
    backend_log_sample 0% slow=1ms;
    location /trpc/ { backend_rpc; access_log logs/error.log s; }
    location /all/ {
        backend_log_sample 100%;
        rewrite ^/all(/.*)$ $1 break;
        backend_rpc;
        access_log logs/error.log s;
    }
--- request eval
["GET /trpc/health", "GET /all/trpc/health"]
--- error_log eval
[qr/SAMPLE 0 LINE OK$/m, qr/SAMPLE 1 LINE OK$/m]
--- no_error_log
[error]



=== TEST 11: a share over 100%
--- http_config eval: $::http_config
--- config
    backend_log_sample 100.5%;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "100\.5%": a percentage from 0% to 100% with at most two decimals, such as 1% or 0\.25% in \S*nginx\.conf:\d+$/



=== TEST 12: a share without its percent sign
--- http_config eval: $::http_config
--- config
    backend_log_sample 0.01;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "0\.01": .* in \S*nginx\.conf:\d+$/



=== TEST 13: three decimals
--- http_config eval: $::http_config
--- config
    backend_log_sample 0.125%;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "0\.125%"/



=== TEST 14: an unknown parameter
--- http_config eval: $::http_config
--- config
    backend_log_sample 1% fast=1s;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "fast=1s": only slow=time may follow the share in \S*nginx\.conf:\d+$/



=== TEST 15: slow= that is not a time
--- http_config eval: $::http_config
--- config
    backend_log_sample 1% slow=soon;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid time in "slow=soon" in \S*nginx\.conf:\d+$/



=== TEST 16: twice at one level
--- http_config eval: $::http_config
--- config
    backend_log_sample 1%;
    backend_log_sample 2%;
    location /trpc/ { backend_rpc; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_log_sample" directive is duplicate in \S*nginx\.conf:\d+$/
