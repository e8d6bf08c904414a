#!/bin/sh
# A self-signed certificate for localhost, for the compose demo's TLS listener (nginx on 8443).
# Real deployments mount their own certificate and key instead.
set -eu
dir="$(dirname "$0")/tls"
[ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ] && exit 0
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
# nginx's master reads the key as root before dropping privileges; readable by the owner only is enough.
chmod 600 "$dir/key.pem"
echo "wrote $dir/cert.pem and $dir/key.pem"
