#!/bin/sh
# postinstall: make systemd see the unit, then say how to give linq-sync its token and
# start it. It never starts, restarts or enables the service itself.
# Called as `postinst configure [OLD-VERSION]` by dpkg, `%post 1|2` by rpm.
set -e

upgrade=
case "$1" in
configure) [ -z "$2" ] || upgrade=1 ;; # dpkg passes the version it upgrades from
1) ;;
[2-9] | [1-9][0-9]) upgrade=1 ;; # rpm passes the number of installed versions
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi

if [ -n "$upgrade" ]; then
	cat <<'MSG'
linq-sync: upgraded. A running service keeps the old binary until it restarts:
  run: systemctl try-restart linq-sync
MSG
	exit 0
fi

cat <<'MSG'
linq-sync: installed, not started. To run it as a service:

  1. Edit the desired state, and check it:
       $EDITOR /etc/linq-sync/subscriptions.yaml
       linq-sync validate -f /etc/linq-sync/subscriptions.yaml
  2. Store the API token, readable by root only (systemd hands the service a copy
     as the credential "linq-token"; it never appears in the environment):
       (umask 077 && systemd-ask-password 'Linq API token:' > /etc/linq-sync/token)
  3. See what the first reconcile will do, then start the service:
       linq-sync plan -f /etc/linq-sync/subscriptions.yaml --token-file /etc/linq-sync/token
     start: systemctl enable --now linq-sync

Optional overrides: /usr/share/doc/linq-sync/examples/linq-sync.env, copied to
/etc/linq-sync/linq-sync.env. Alert rules and the file's JSON Schema are in
/usr/share/linq-sync/.
MSG
