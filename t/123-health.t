# backend_liveness and backend_readiness: the answers, their JSON, the
# checks against a real Postgres (the test database has migrations/
# applied: version 4), Redis and JWKS states, the metrics, and the mistakes
# refused at configuration time with their file and line.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

our $PG = 'backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT '
        . 'dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=2;';

our $JWKS = '{"keys":[{"kty":"RSA","n":"sbFigtzoPDVNPmszpKGGtqsjahYuLGjTS77PJ9GOGyeCykRlxjF1Swa1x6SqBQAUSMde0Z7JEPjH0Ri1LKGBUtYNFbZ5jpNZOVs4xAzp7fgqtAeK0erQTvnegJkUrjFIZRcLdCWQQiSX1CRru8EbOQJ1tSJZCgIM-ArJK0AFv4eJWBBgFEMfLQiVs4N2BEnEm_j5c_Jta3h35NFJy3MA2Vd2Z4ZKtOIc3S6gNAJ0Y_KjG_yM6mM2VrA_my4YqI1DeNl1_tvRje81XMk6pGx4S4we2jTzs9ppryRUBxNeRAalEwmBo0BlvtMstXlMxTNNfPYbln4-7NVGUBIM8c46wQ","e":"AQAB","kid":"t123","alg":"RS256","use":"sig"}]}';

add_block_preprocessor(sub {
    my $block = shift;

    my $c = $block->http_config;
    if (defined $c) {
        $c =~ s/\$PG\b/$PG/g;
        $block->set_value("http_config", $c);
    }

    if (defined $block->user_files) {
        my $f = $block->user_files;
        $f =~ s/\$JWKS\b/$JWKS/g;
        $block->set_value("user_files", $f);
    }
});

run_tests();

__DATA__

=== TEST 1: liveness answers 200 and a tiny JSON body, checking nothing (no database at all)
--- config
    location = /healthz { backend_liveness; }
--- request
GET /healthz
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"status":"ok"}
--- no_error_log
[error]



=== TEST 2: liveness stays 200 with a database that does not answer
--- http_config
    backend_pg main "host=127.0.0.1 port=1 dbname=x user=x";
--- config
    location = /healthz { backend_liveness; }
--- request
GET /healthz
--- error_code: 200
--- response_body chomp
{"status":"ok"}
--- no_error_log
[error]



=== TEST 3: readiness is 200 with Postgres up and the applied migration version (3) satisfied
--- http_config
    $PG
    backend_readiness_database main;
    backend_readiness_migration 3;
--- config
    location = /readyz { backend_readiness; }
--- request
GET /readyz
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"status":"ready","checks":{"postgres":"ok","migrations":"ok","jwks":"skipped","redis":"skipped"}}
--- no_error_log
[error]
[warn]



=== TEST 4: readiness is 503 when a higher migration version is required; Postgres itself is ok
--- http_config
    $PG
    backend_readiness_migration 9999;
--- config
    location = /readyz { backend_readiness; }
--- request
GET /readyz
--- error_code: 503
--- response_body chomp
{"status":"not_ready","checks":{"postgres":"ok","migrations":"failing","jwks":"skipped","redis":"skipped"}}
--- no_error_log
[error]



=== TEST 5: readiness is 503 when Postgres does not answer; the change is logged
--- http_config
    backend_pg main "host=127.0.0.1 port=1 dbname=x user=x" connect_timeout=1s;
    backend_readiness_migration 1;
--- config
    location = /readyz { backend_readiness; }
--- request
GET /readyz
--- error_code: 503
--- response_body chomp
{"status":"not_ready","checks":{"postgres":"failing","migrations":"failing","jwks":"skipped","redis":"skipped"}}
--- error_log
backend readiness: postgres "main" does not answer



=== TEST 6: without backend_readiness_migration the migrations check is skipped; HEAD has no body
--- http_config
    $PG
--- config
    location = /readyz { backend_readiness; }
--- request eval
["GET /readyz", "HEAD /readyz"]
--- error_code eval
[200, 200]
--- response_body eval
['{"status":"ready","checks":{"postgres":"ok","migrations":"skipped","jwks":"skipped","redis":"skipped"}}', '']
--- no_error_log
[error]



=== TEST 7: JWKS keys loaded from a file: ok; Redis down and optional (the default): degraded, still ready
--- http_config
    $PG
    backend_auth_jwks ../html/jwks.json;
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:1 connect_timeout=100ms;
--- user_files
>>> jwks.json
$JWKS
--- config
    location = /readyz { backend_readiness; }
--- request
GET /readyz
--- error_code: 200
--- response_body chomp
{"status":"ready","checks":{"postgres":"ok","migrations":"skipped","jwks":"ok","redis":"degraded"}}
--- no_error_log
[error]



=== TEST 8: Redis down and required: failing, 503
--- http_config
    $PG
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:1 connect_timeout=100ms;
    backend_readiness_redis required;
--- config
    location = /readyz { backend_readiness; }
--- request
GET /readyz
--- error_code: 503
--- response_body chomp
{"status":"not_ready","checks":{"postgres":"ok","migrations":"skipped","jwks":"skipped","redis":"failing"}}
--- no_error_log
[error]



=== TEST 9: other methods than GET and HEAD are refused
--- http_config
    $PG
--- config
    location = /readyz { backend_readiness; }
    location = /healthz { backend_liveness; }
--- request eval
["POST /readyz\nx", "DELETE /healthz"]
--- error_code eval
[405, 405]



=== TEST 10: the metrics: backend_ready and backend_readiness_check per check
--- http_config
    $PG
    backend_metrics_zone metrics 1m;
    backend_readiness_migration 9999;
--- config
    location = /readyz { backend_readiness; }
    location = /metrics { backend_metrics; }
--- request eval
["GET /readyz", "GET /metrics"]
--- error_code eval
[503, 200]
--- response_body_like eval
['"migrations":"failing"',
 qr/# TYPE backend_ready gauge\nbackend_ready 0\n.*# TYPE backend_readiness_check gauge\nbackend_readiness_check\{check="postgres"\} 1\nbackend_readiness_check\{check="migrations"\} 0\nbackend_readiness_check\{check="jwks"\} 1\nbackend_readiness_check\{check="redis"\} 1\n/s]
--- no_error_log
[error]



=== TEST 11: the families are declared without a readiness location too
--- http_config
    backend_metrics_zone metrics 1m;
--- config
    location = /metrics { backend_metrics; }
--- request
GET /metrics
--- response_body_like eval
qr/# HELP backend_ready .*\n# TYPE backend_ready gauge\n(?s:.*)# HELP backend_readiness_check .*\n# TYPE backend_readiness_check gauge\n/
--- no_error_log
[error]



=== TEST 12: an unknown database is refused, naming the directive's file and line
--- http_config
    $PG
    include ../html/health.conf;
--- user_files
>>> health.conf

backend_readiness_database nosuch;
--- config
    location = /readyz { backend_readiness; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_readiness_database: no backend_pg "nosuch" in \S*health\.conf:2$/



=== TEST 13: a migration version that is not a number is refused at its line
--- http_config
    $PG
    include ../html/health.conf;
--- user_files
>>> health.conf
backend_readiness_migration 0003a;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid migration version "0003a": a number, as in migrations\/NNNN_name\.up\.sql in \S*health\.conf:1$/



=== TEST 14: backend_readiness_redis takes optional or required
--- http_config
    include ../html/health.conf;
--- user_files
>>> health.conf
backend_readiness_redis maybe;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "maybe" in \S*health\.conf:1$/



=== TEST 15: a migration version needs a database
--- http_config
    backend_readiness_migration 3;
--- config
    location = /readyz { backend_readiness; }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_readiness_migration needs a database: no backend_pg is defined/



=== TEST 16: a duplicate directive is refused at its line
--- http_config
    include ../html/health.conf;
--- user_files
>>> health.conf
backend_readiness_interval 1s;
backend_readiness_interval 2s;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_readiness_interval" directive is duplicate in \S*health\.conf:2$/
