#!/usr/bin/env bash
# Free TCP ports on 127.0.0.1.
#   tools/free-port.sh        prints a port that is free right now (the kernel
#                             picks it: bind to port 0, read it back, close)
#   tools/free-port.sh PORT   exit 0 if PORT can be bound now, 1 if in use
# Perl is always there on Debian, python3 may not be.  Another process
# could take the port before the caller binds it; for servers started
# right away that is rare enough.
set -euo pipefail
exec perl -MSocket -e '
    my $want = shift // 0;
    socket(my $s, PF_INET, SOCK_STREAM, getprotobyname("tcp")) or die "socket: $!\n";
    setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
    bind($s, pack_sockaddr_in($want, inet_aton("127.0.0.1"))) or exit 1;
    exit 0 if $want;
    my ($port) = unpack_sockaddr_in(getsockname($s));
    print "$port\n";
' "$@"
