#!/bin/sh
# A linq-sync exec secret store: --secrets "exec:/usr/local/lib/linq-sync/to-files.sh /etc/myapp/webhooks"
#
# linq-sync runs this program once per new signing secret, with one JSON
# object on standard input (name, subscription_id, target_url,
# signing_secret, created_at, and previous_subscription_id for rotations),
# and once before the first create with "dry_run": true. Exit 0 means
# stored. It writes each secret to DIR/NAME (mode 0640, group readable by
# the app), keeping the one a rotation replaced as DIR/NAME.previous, so the
# receiving app can accept both during the switch. Needs jq.
set -eu
dir=$1
umask 027
input=$(cat)
if [ "$(printf '%s' "$input" | jq -r '.dry_run // false')" = true ]; then
  # Prove the directory takes a file of real size, and keep nothing.
  probe=$(mktemp "$dir/.probe.XXXXXX")
  printf '%s' "$input" | jq -r .signing_secret > "$probe"
  sync "$probe" 2>/dev/null || true
  rm -f "$probe"
  exit 0
fi
name=$(printf '%s' "$input" | jq -er .name)
case $name in *[!a-z0-9_-]*|'') echo "refusing name: $name" >&2; exit 2 ;; esac
tmp=$(mktemp "$dir/.$name.XXXXXX")
printf '%s' "$input" | jq -jer .signing_secret > "$tmp"
if [ -n "$(printf '%s' "$input" | jq -r '.previous_subscription_id // empty')" ] && [ -f "$dir/$name" ]; then
  cp -p "$dir/$name" "$dir/$name.previous"
fi
sync "$tmp"
mv -f "$tmp" "$dir/$name"
sync "$dir"
