# backend_session_redis: what it needs and refuses at configuration time.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: Redis needs a session zone (its pending invalidations live there)
--- http_config
    backend_session_redis 127.0.0.1:6379;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_session_redis needs a backend_session_zone, where invalidations Redis has not taken are kept/



=== TEST 2: pending= is a positive number
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 pending=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "pending=0" in \S+nginx\.conf:\d+/



=== TEST 3: heartbeat= is a time above zero
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 heartbeat=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "heartbeat=0" in \S+nginx\.conf:\d+/



=== TEST 4: heartbeat= and pending= accepted
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:1 connect_timeout=100ms heartbeat=250ms
                          pending=10;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
