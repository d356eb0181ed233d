#!/bin/sh
# postremove: make systemd forget the removed unit. Called as `postrm remove|purge|...`
# by dpkg, `%postun 0|1` by rpm. Signing secrets under /var/lib/private/linq-sync are
# never deleted: they cannot be fetched from the API again.
set -e

case "$1" in
remove | purge | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
