#!/bin/sh
# preremove: on removal (not on upgrade), stop and disable the service before its
# binary goes away. Called as `prerm remove|upgrade ...` by dpkg, `%preun 0|1` by rpm.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl --no-reload disable --now linq-sync.service >/dev/null 2>&1 || true
fi
