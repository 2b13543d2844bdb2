# CORS directives of backend_rpc locations (issue 11, item 25): checked at
# start, "*" without credentials, nothing allowed by default.  The CSRF
# rules need signed tokens: t/e2e/cors.test.mjs.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure add { type mutation; tier public; data '1'; }
_EOC_

run_tests();

__DATA__

=== TEST 1: "*" with credentials is refused at start
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        backend_rpc;
        backend_cors_origins *;
        backend_cors_credentials on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_cors_credentials on" cannot be used with "backend_cors_origins \*"/



=== TEST 2: an origin is scheme://host[:port], nothing else
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        backend_rpc;
        backend_cors_origins http://a.example https://b.example/;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid origin "https:\/\/b\.example\/": an origin is http\(s\):\/\/host\[:port\], or "\*" alone in .*nginx\.conf:\d+/



=== TEST 3: "*": any origin, without credentials; inherited from the server
--- http_config eval: $::http_config
--- config
    backend_cors_origins *;
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health
--- more_headers
Origin: https://anything.example
--- response_headers
Access-Control-Allow-Origin: *
!Access-Control-Allow-Credentials
--- no_error_log
[error]



=== TEST 4: a preflight where nothing is configured: 204, nothing allowed
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
OPTIONS /trpc/add
--- more_headers
Origin: https://app.example
Access-Control-Request-Method: POST
--- error_code: 204
--- response_headers
!Access-Control-Allow-Origin
!Access-Control-Allow-Methods
!Vary
--- no_error_log
[error]



=== TEST 5: a preflight from a listed origin, with the default max age
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        backend_rpc;
        backend_cors_origins https://app.example;
    }
--- request
OPTIONS /trpc/add
--- more_headers
Origin: https://app.example
Access-Control-Request-Method: POST
Access-Control-Request-Headers: content-type, trpc-accept
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://app.example
Access-Control-Allow-Methods: GET, POST
Access-Control-Allow-Headers: authorization, content-type, trpc-accept, trpc-batch-mode, x-trpc-source, x-request-id
Access-Control-Max-Age: 600
!Access-Control-Allow-Credentials
--- no_error_log
[error]



=== TEST 6: an OPTIONS that is not a preflight is the tRPC location's 405
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        backend_rpc;
        backend_cors_origins https://app.example;
    }
--- request
OPTIONS /trpc/add
--- error_code: 405
--- no_error_log
[error]



=== TEST 7: an anonymous cross-site mutation is not a CSRF (no ambient credentials)
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/add
{}
--- more_headers
Origin: https://evil.example
Content-Type: text/plain
--- error_code: 200
--- response_body chomp
{"result":{"data":1}}
--- no_error_log
[error]
