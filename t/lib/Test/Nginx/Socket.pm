package Test::Nginx::Socket;

# A Test::Nginx::Socket compatible harness on Debian's Perl packages
# (Test::Base, Test::More), so that the project's t/*.t files run here and
# unchanged under the real Test::Nginx.  What it implements, and how it
# counts tests, follows Test::Nginx::Socket: see docs/testing.md.

use strict;
use warnings;

use Test::More ();

# Test::Base parses the blocks of the calling script's __DATA__; its
# import makes it the default class, exporting into a private package
BEGIN {
    package Test::Nginx::Socket::Base;
    require Test::Base;
    Test::Base->import();
}

use Test::LongString ();
use Text::Diff ();
use IO::Socket::INET ();
use IO::Select ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use Cwd qw(cwd);
use Time::HiRes qw(sleep time);
use POSIX ();

our $VERSION = '0.30';

our @EXPORT = qw(
    plan run_tests blocks repeat_each no_shuffle no_long_string no_diff
    log_level workers master_on master_off worker_connections
    no_root_location env_to_nginx check_accum_error_log
    add_block_preprocessor html_dir server_root server_port
    config_preamble bail_out
);

my $RepeatEach = 1;
my $NoLongString = 0;
my $NoDiff = 0;
my $Workers = 1;
my $MasterOn = $ENV{TEST_NGINX_MASTER_PROCESS}
               && $ENV{TEST_NGINX_MASTER_PROCESS} eq 'on' ? 1 : 0;
my $WorkerConnections = 64;
my $NoRootLocation = 0;
my $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
my $ConfigPreamble = '';
my @EnvToNginx;
my @BlockPreprocessors;

my $Binary = $ENV{TEST_NGINX_BINARY} || _find_nginx();
my $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
my $Sleep = defined $ENV{TEST_NGINX_SLEEP} ? $ENV{TEST_NGINX_SLEEP} : 0.015;
my $Randomize = $ENV{TEST_NGINX_RANDOMIZE};

my $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                 || 1984;
my $ServRoot;

sub import {
    my ($class, @args) = @_;
    my $caller = caller;

    no strict 'refs';
    for my $name (@EXPORT) {
        *{"${caller}::$name"} = \&{"${class}::$name"};
    }

    if (@args) {
        Test::More::plan(@args);
    }
}

sub plan { Test::More::plan(@_) }
sub blocks { Test::Base::blocks(@_) }
sub repeat_each { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle { }
sub no_long_string { $NoLongString = 1 }
sub no_diff { $NoDiff = 1 }
sub log_level { $LogLevel = shift if @_; return $LogLevel }
sub workers { $Workers = shift if @_; return $Workers }
sub master_on { $MasterOn = 1 }
sub master_off { $MasterOn = 0 }
sub worker_connections { $WorkerConnections = shift if @_;
                         return $WorkerConnections }
sub no_root_location { $NoRootLocation = 1 }
sub env_to_nginx { push @EnvToNginx, @_ }
sub check_accum_error_log { }
sub add_block_preprocessor { push @BlockPreprocessors, @_ }
sub config_preamble { $ConfigPreamble = shift if @_; return $ConfigPreamble }
sub server_port { $ServerPort }
sub server_root { $ServRoot }
sub html_dir { "$ServRoot/html" }
sub bail_out { Test::More::BAIL_OUT(@_) }

sub _find_nginx {
    for my $dir (split /:/, $ENV{PATH} || '') {
        return "$dir/nginx" if -x "$dir/nginx";
    }

    return '/usr/sbin/nginx';
}

sub _free_port {
    for (1 .. 50) {
        my $port = 20000 + int(rand(30000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Listen => 1,
                                      ReuseAddr => 1);
        if ($s) {
            close $s;
            return $port;
        }
    }

    die "no free port\n";
}

# $TEST_NGINX_FOO in configuration text, bodies and log patterns

sub _expand {
    my $s = shift;

    return $s unless defined $s && !ref $s;

    $s =~ s/\$(TEST_NGINX_RAND_PORT_\d+)/
             $ENV{$1} ||= _free_port()/ge;
    $s =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/
             defined $ENV{$1} ? $ENV{$1} : die "$1 is not set\n"/ge;

    return $s;
}

sub _expand_any {
    my $v = shift;

    return [map { _expand($_) } @$v] if ref $v eq 'ARRAY';
    return $v if ref $v;
    return _expand($v);
}

sub _section {
    my ($block, $name) = @_;

    # Test::Base has an accessor for each section any block of the file
    # uses; a block's own sections are keys of the block
    return undef unless exists $block->{$name} && $block->can($name);

    my @v = $block->$name;
    return '' unless @v && defined $v[0];

    return @v > 1 ? \@v : $v[0];
}

sub _nth {
    my ($v, $i) = @_;

    return ref $v eq 'ARRAY' ? $v->[$i] : $v;
}

sub _write_file {
    my ($file, $text) = @_;
    my (undef, $dir) = File::Spec->splitpath($file);

    make_path($dir) if $dir && !-d $dir;
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $text;
    close $fh;
}

sub _read_file {
    my ($file, $from) = @_;

    open my $fh, '<', $file or return '';
    binmode $fh;
    seek $fh, $from || 0, 0;
    local $/;
    my $s = <$fh>;
    close $fh;

    return defined $s ? $s : '';
}

sub _conf {
    my ($block) = @_;

    my $http_config = _expand(_section($block, 'http_config') // '');
    my $config = _expand(_section($block, 'config') // '');
    my $main_config = _expand(_section($block, 'main_config') // '');
    my $post_main = _expand(_section($block, 'post_main_config') // '');
    my $server_name = _section($block, 'server_name') // 'localhost';
    my $level = _section($block, 'log_level') // $LogLevel;
    chomp $level;

    my $load = '';
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '') {
        $load .= "load_module $m;\n";
    }

    my $env = join '', map { "env $_;\n" } ('LD_PRELOAD', 'ASAN_OPTIONS',
                                              @EnvToNginx);

    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $ServRoot/html;
            index index.html index.htm;
        }
_EOC_

    my $master = $MasterOn ? 'on' : 'off';

    return <<"_EOC_";
${load}worker_processes  $Workers;
daemon on;
master_process $master;
error_log $ServRoot/logs/error.log $level;
pid $ServRoot/logs/nginx.pid;
$env
$main_config

http {
    access_log $ServRoot/logs/access.log;
    client_body_temp_path $ServRoot/client_body_temp;
    proxy_temp_path $ServRoot/proxy_temp;
    fastcgi_temp_path $ServRoot/fastcgi_temp;
    uwsgi_temp_path $ServRoot/uwsgi_temp;
    scgi_temp_path $ServRoot/scgi_temp;
    default_type text/plain;
    keepalive_timeout 68000ms;

$http_config

    server {
        listen $ServerPort;
        server_name '$server_name';
        client_max_body_size 30M;
$ConfigPreamble
$config
$root    }
}

$post_main

events {
    accept_mutex off;
    worker_connections $WorkerConnections;
}
_EOC_
}

sub _pid {
    my $s = _read_file("$ServRoot/logs/nginx.pid");
    return $s =~ /(\d+)/ ? $1 : undef;
}

# a daemon is reparented to PID 1, which may reap it late: a zombie is gone

sub _alive {
    my $pid = shift;

    return 0 unless kill 0, $pid;

    my $stat = _read_file("/proc/$pid/stat");
    return $stat =~ /^\d+ \(.*\) Z/ ? 0 : 1;
}

sub _stop_nginx {
    my $pid = _pid();
    return unless $pid;

    kill 'TERM', $pid;

    for (1 .. 500) {
        last unless _alive($pid);
        sleep 0.01;
    }

    if (_alive($pid)) {
        kill 'KILL', $pid;
        sleep 0.1;
    }

    unlink "$ServRoot/logs/nginx.pid";
}

sub _port_open {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ServerPort, Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# returns (ok, stderr)
sub _start_nginx {
    my $cmd = "$Binary -p $ServRoot/ -c conf/nginx.conf 2>&1";
    my $out = `$cmd`;
    my $rc = $? >> 8;

    return (0, $out) if $rc != 0;

    for (1 .. 250) {
        return (1, $out) if _pid() && _port_open();
        sleep 0.02;
    }

    return (0, $out . "\nnginx did not start listening on $ServerPort");
}

sub _parse_request {
    my ($text, $more_headers, $block) = @_;

    my ($first, $body) = split /\n/, $text, 2;
    $first =~ s/^\s+|\s+$//g;
    my ($method, $uri, $proto) = split /\s+/, $first;
    $uri //= '/';
    $proto //= 'HTTP/1.1';
    $body //= '';

    my $req = "$method $uri $proto\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    my $chunked = 0;

    for my $line (split /\n/, $more_headers // '') {
        next unless $line =~ /\S/;
        $line =~ s/^\s+|\s+$//g;
        $chunked = 1 if $line =~ /^Transfer-Encoding\s*:\s*chunked/i;
        $req .= "$line\r\n";
    }

    if (length $body || $method eq 'POST' || $method eq 'PUT') {
        # a body in a "request" section ends without the newline trim left
        $body =~ s/\n\z//;
        $req .= "Content-Length: " . length($body) . "\r\n" unless $chunked;
    }

    return "$req\r\n$body";
}

# returns (status, headers hashref (lowercase keys, arrays), body, raw)
sub _send {
    my ($raw, $timeout) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ServerPort,
                                     Timeout => $timeout)
        or return (undef, {}, undef, "connect failed: $!");

    binmode $sock;
    print $sock $raw;

    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $deadline = time + $timeout;

    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) {
            close $sock;
            return (undef, {}, undef, "timeout: $resp");
        }

        last unless $sel->can_read($left);

        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $resp .= $buf;
    }

    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    return (undef, {}, undef, "bad response: $resp") unless defined $head;

    my @lines = split /\r\n/, $head;
    my $status_line = shift @lines;
    my ($status) = $status_line =~ m{^HTTP/\d\.\d\s+(\d+)};

    my %h;
    for my $l (@lines) {
        my ($k, $v) = split /:\s*/, $l, 2;
        push @{ $h{lc $k} }, $v // '';
    }

    $body //= '';

    if (($h{'transfer-encoding'}[0] // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr $body, 0, $len, '';
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }

    return ($status, \%h, $body, $resp);
}

sub _patterns {
    my $v = shift;
    return () unless defined $v;
    my @p = ref $v eq 'ARRAY' ? @$v : ($v);
    my @out;

    for my $p (@p) {
        if (ref $p) {
            push @out, $p;
            next;
        }

        # each non-empty line of a plain section is one pattern
        push @out, grep { length } map { s/^\s+|\s+$//gr } split /\n/, $p;
    }

    return map { ref $_ ? $_ : _expand($_) } @out;
}

sub _match {
    my ($text, $p) = @_;
    return ref $p eq 'Regexp' ? $text =~ $p : index($text, $p) >= 0;
}

sub _is_body {
    my ($got, $want, $name) = @_;

    if ($NoLongString && !$NoDiff && defined $got && $got ne $want) {
        Test::More::ok(0, $name)
            or Test::More::diag(Text::Diff::diff(\$want, \$got));
        return;
    }

    if ($NoLongString) {
        Test::More::is($got, $want, $name);
    } else {
        Test::LongString::is_string($got, $want, $name);
    }
}

sub _check_log {
    my ($block, $name, $log) = @_;

    for my $p (_patterns(_section($block, 'error_log'))) {
        Test::More::ok(_match($log, $p), "$name - pattern \"$p\" "
                                          . "should match a line in error.log");
    }

    for my $p (_patterns(_section($block, 'no_error_log'))) {
        Test::More::ok(!_match($log, $p), "$name - pattern \"$p\" "
                                           . "should not match any line in "
                                           . "error.log");
    }

    for my $line (split /\n/, $log) {
        if ($line =~ /\[(alert|crit|emerg)\]/ && $line !~ /\[emerg\] .*bind/) {
            Test::More::diag("$name - $1 in error.log: $line")
                unless defined _section($block, 'must_die');
        }

        if ($line =~ /Assertion .* failed|AddressSanitizer/) {
            Test::More::fail("$name - $line");
        }
    }
}

sub _run_block {
    my ($block, $rep) = @_;

    my $name = $block->name;
    $name .= " (repeat $rep)" if $RepeatEach > 1;

    $_->($block) for @BlockPreprocessors;

    if (my $init = _section($block, 'init')) {
        eval $init;
        die $@ if $@;
    }

    remove_tree("$ServRoot/logs", "$ServRoot/html");
    make_path("$ServRoot/conf", "$ServRoot/logs", "$ServRoot/html");

    if (my $files = _section($block, 'user_files')) {
        for my $f (split /^>>> /m, $files) {
            next unless $f =~ /\S/;
            my ($fname, $content) = split /\n/, $f, 2;
            _write_file("$ServRoot/html/$fname", $content // '');
        }
    }

    _write_file("$ServRoot/conf/nginx.conf", _conf($block));

    my ($started, $out) = _start_nginx();

    if (defined _section($block, 'must_die')) {
        Test::More::ok(!$started, "$name - nginx must die");
        _stop_nginx() if $started;
        _check_log($block, $name, $out . _read_file("$ServRoot/logs/error.log"));
        return;
    }

    unless ($started) {
        Test::More::fail("$name - nginx started");
        Test::More::diag($out . _read_file("$ServRoot/logs/error.log"));
        return;
    }

    my $requests = _section($block, 'raw_request')
                   // _section($block, 'request');
    my $is_raw = defined _section($block, 'raw_request');
    my @reqs = ref $requests eq 'ARRAY' ? @$requests : ($requests);

    my $timeout = _section($block, 'timeout') // $Timeout;
    $timeout =~ s/\s+//g;
    $timeout = $1 / 1000 if $timeout =~ /^(\d+)ms$/;
    $timeout =~ s/s$//;

    my $log_start = -s "$ServRoot/logs/error.log" || 0;
    my $grep = _section($block, 'grep_error_log');
    my $grep_out = _section($block, 'grep_error_log_out');

    for my $i (0 .. $#reqs) {
        my $rname = @reqs > 1 ? "$name - req $i" : $name;
        my $req_log_start = -s "$ServRoot/logs/error.log" || 0;

        my $raw = $is_raw ? _expand($reqs[$i])
                          : _parse_request(_expand($reqs[$i]),
                                           _section($block, 'more_headers'),
                                           $block);

        my ($status, $h, $body, $resp) = _send($raw, $timeout);

        if (!defined $status) {
            Test::More::fail("$rname - response: $resp");
            next;
        }

        my $want_code = _nth(_section($block, 'error_code') // 200, $i);
        my $code_like = _nth(_section($block, 'error_code_like'), $i);

        if (defined $code_like) {
            Test::More::like($status, qr/$code_like/, "$rname - status code ok");
        } else {
            $want_code =~ s/\s+//g;
            Test::More::is($status, $want_code, "$rname - status code ok");
        }

        for my $line (split /\n/, _expand(_section($block, 'response_headers')
                                          // '')) {
            next unless $line =~ /\S/;
            if ($line =~ /^\s*!\s*([^:\s]+)/) {
                Test::More::ok(!exists $h->{lc $1},
                               "$rname - header $1 not present");
                next;
            }

            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $k =~ s/^\s+//;
            $v //= '';
            $v =~ s/\s+$//;
            my $got = $h->{lc $k} ? $h->{lc $k}[0] : undef;

            if ($v eq '') {
                Test::More::ok(!defined $got || $got eq '',
                               "$rname - header $k empty or missing");
            } else {
                Test::More::is($got, $v, "$rname - header $k ok");
            }
        }

        for my $line (split /\n/, _section($block, 'response_headers_like')
                                  // '') {
            next unless $line =~ /\S/;
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $k =~ s/^\s+//;
            my $got = $h->{lc $k} ? $h->{lc $k}[0] : '';
            Test::More::like($got, qr/^$v$/, "$rname - header $k like");
        }

        my $want = _section($block, 'response_body');
        if (defined $want) {
            _is_body($body, _expand(_nth($want, $i)),
                     "$rname - response_body - response is expected");
        }

        my $like = _section($block, 'response_body_like');
        if (defined $like) {
            my $re = _expand(_nth($like, $i));
            Test::More::like($body, qr/$re/s,
                             "$rname - response_body_like - response is "
                             . "expected");
        }

        my $unlike = _section($block, 'response_body_unlike');
        if (defined $unlike) {
            my $re = _expand(_nth($unlike, $i));
            Test::More::unlike($body, qr/$re/s,
                               "$rname - response_body_unlike - response is "
                               . "expected");
        }

        sleep $Sleep if $Sleep;

        if (defined $grep) {
            my $log = _read_file("$ServRoot/logs/error.log", $req_log_start);
            my $re = ref $grep ? $grep : qr/\Q$grep\E/;
            my $got = '';
            while ($log =~ /($re)/g) {
                $got .= "$1\n";
            }
            Test::More::is($got, _nth($grep_out, $i) // '',
                           "$rname - grep_error_log_out");
        }
    }

    if (my $wait = _section($block, 'wait')) {
        sleep $wait;
    }

    sleep $Sleep if $Sleep;

    _check_log($block, $name,
               _read_file("$ServRoot/logs/error.log", $log_start));

    _stop_nginx() unless $ENV{TEST_NGINX_NO_CLEAN};
}

sub run_tests {
    if ($Randomize) {
        $ServerPort = _free_port();
    }

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    $ENV{TEST_NGINX_PORT} = $ServerPort;

    my $root = $ENV{TEST_NGINX_SERVROOT}
               || File::Spec->catdir(cwd(), 't',
                                     $Randomize ? "servroot_$ServerPort"
                                                : 'servroot');
    $ServRoot = File::Spec->rel2abs($root);
    $ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
    $ENV{TEST_NGINX_SERVROOT} = $ServRoot;

    make_path($ServRoot);

    my @blocks = Test::Base::blocks();

    for my $rep (1 .. $RepeatEach) {
        for my $block (@blocks) {
            if (defined _section($block, 'skip_nginx')) {
                Test::More::pass($block->name . " - skipped");
                next;
            }

            _run_block($block, $rep);
        }
    }

    remove_tree($ServRoot) if $Randomize && !$ENV{TEST_NGINX_NO_CLEAN};
}

END {
    _stop_nginx() if $ServRoot && !$ENV{TEST_NGINX_NO_CLEAN};
}

1;
