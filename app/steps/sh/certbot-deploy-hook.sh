#!/bin/bash
# certbot runs this after it renewed a lineage (renewal-hooks/deploy; certbot.timer's `certbot renew`): nginx
# reloads onto the new certificate. A reload is graceful (new workers, old ones finish their requests), and
# only a config nginx -t accepts is loaded, so a bad file elsewhere never takes the site down with a renewal.
set -euo pipefail
nginx -t -q
nginx -s reload
echo "raindrop: nginx reloaded onto the renewed certificate of ${RENEWED_LINEAGE:-?}"
