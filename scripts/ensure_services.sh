#!/usr/bin/env bash
# Make sure MariaDB/MySQL (127.0.0.1:3306) and Redis (127.0.0.1:6379) answer: use them where they already
# run, otherwise install Debian's packages and start them. Idempotent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! port_open 127.0.0.1 3306; then
  apt_install mariadb-server
  say "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql \
    --bind-address=127.0.0.1
  wait_port 127.0.0.1 3306 60 MariaDB
fi
# Root over TCP without a password is how this machine kind is set up; production brings its own URL.
if ! mariadb -h127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');" \
    >/dev/null 2>&1 || true
fi

if ! port_open 127.0.0.1 6379; then
  apt_install redis-server
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/wegent.log
  wait_port 127.0.0.1 6379 30 Redis
fi
say "MariaDB and Redis are up"
