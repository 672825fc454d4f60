#!/usr/bin/env sh
# Writes a random value for each secret deploy/compose.yaml mounts, into
# deploy/secrets/ (git ignores it). Existing files are kept, so re-running it
# never changes a key clients already use.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for name in api_keys admin_keys read_keys unsubscribe_secret webhook_secret; do
  file="$dir/$name"
  [ -s "$file" ] && continue
  # Readable by the container's user (10001): compose mounts the file itself.
  # The directory (700) keeps other users of this host out.
  (umask 022 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file")
  echo "wrote $file"
done
