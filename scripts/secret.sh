#!/usr/bin/env bash
# scripts/secret.sh FILE: print the secret kept in FILE, making a random one first
# (mode 0600, 48 URL-safe characters) when FILE does not exist. `make run` uses it for
# JWT_SECRET and FLOWER_PASSWORD when they are not set: nothing here is published.
set -euo pipefail
file=$1
if [[ ! -s $file ]]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(36))' >"$file.new")
    mv "$file.new" "$file"
    printf 'secrets: made %s (mode 0600)\n' "$file" >&2
fi
cat "$file"
