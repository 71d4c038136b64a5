#!/usr/bin/env bash
# Debian packages some tests drive for real: Chromium + ChromeDriver (browser test of the UI),
# MariaDB (MySQL sources) and OpenSSH's server (SFTP file sources). Installed once when missing
# and apt is usable (CI runs as root); elsewhere the tests that need them skip and say why.
set -uo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v mariadbd >/dev/null || need+=(mariadb-server)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system packages: missing ${need[*]} (not root or no apt-get); the tests needing them will skip"
  exit 0
fi
echo "system packages: installing ${need[*]} (about 30 s)…"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/tmp/medallion-apt.log 2>&1; then
  echo "system packages: apt-get failed (see /tmp/medallion-apt.log); the tests needing them will skip"
fi
exit 0
