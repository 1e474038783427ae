# shellcheck shell=bash
# raindrop-tls prepare|obtain|status: the certificate nginx serves on this host.
#
# Sourced into the command app/steps/tls.py builds, after the shared prelude (log, die, …) and these variables:
# TLS_CONF (the settings file config/tls.conf.j2 renders: TLS_MODE, SITE_DOMAIN, ACME_EMAIL, ACME_DIRECTORY,
# ACME_CA_BUNDLE, ACME_WEBROOT, TLS_DIR, HTTPS_PORT), CERT_NAME (certbot's name for the lineage),
# LETSENCRYPT_DIR (certbot's config directory) and NGINX_PID (nginx's pid file).
#
# nginx reads $TLS_DIR/live/{fullchain,privkey}.pem and $TLS_DIR/certificate-state.conf. `live` is a symlink
# switched atomically to one of: $TLS_DIR/standin (self-signed, made here), $TLS_DIR/provided (the secrets
# step writes it) or certbot's $LETSENCRYPT_DIR/live/$CERT_NAME. The state file says "real" or "stand-in";
# only with a real certificate does :80 redirect to https (config/nginx-site.conf.j2).
#
#   prepare  provision, before nginx loads the site: dhparam, webroot, and a live certificate, the stand-in
#            until a real one is there. A real certificate already live stays.
#   obtain   deploy, once the release is live: for acme, a certificate by HTTP-01 through nginx's webroot
#            (certbot keeps a valid one and asks for nothing), then nginx switched to it. An ACME failure is
#            reported with the domain and the CA's error, the site keeps serving, and the exit status is 0.
#   status   which certificate is live: real or stand-in, subject, serial, expiry.
#
# Why certbot (Debian's): its certbot.timer already renews twice a day, it keeps the deploy hook with each
# lineage (renewal-hooks/deploy), it registers without an e-mail address, and `certbot renew --force-renewal`
# is one command; lego would need an e-mail address and a unit and timer of our own.

[ -f "$TLS_CONF" ] || die "$TLS_CONF is missing: provision places it"
# shellcheck source=/dev/null
. "$TLS_CONF"

LIVE="$TLS_DIR/live"
STATE="$TLS_DIR/certificate-state.conf"
STANDIN="$TLS_DIR/standin"
PROVIDED="$TLS_DIR/provided"
LINEAGE="$LETSENCRYPT_DIR/live/$CERT_NAME"
# The state file's one line, an nginx directive (nginx's variable, not the shell's).
# shellcheck disable=SC2016
STATE_SET='set $raindrop_certificate'
if [ -n "$ACME_CA_BUNDLE" ]; then
  [ -f "$ACME_CA_BUNDLE" ] || die "raindrop_acme_ca_bundle $ACME_CA_BUNDLE does not exist on this host"
  export REQUESTS_CA_BUNDLE="$ACME_CA_BUNDLE"
fi

# The name the stand-in is made for: the site's domain, or the host's name when there is none.
standin_name() { printf '%s\n' "${SITE_DOMAIN:-$(hostname)}"; }

# nginx_running: the master process of $NGINX_PID is alive.
nginx_running() { [ -s "$NGINX_PID" ] && kill -0 "$(cat "$NGINX_PID")" 2>/dev/null; }

# point_live DIR STATE: nginx serves DIR's certificate from now on. A config nginx -t refuses goes back to what
# was live before, so a switch never leaves nginx unable to reload.
point_live() {
  local dir=$1 state=$2 before before_state
  before=$(readlink "$LIVE" 2>/dev/null || true)
  before_state=$(cat "$STATE" 2>/dev/null || true)
  # Already so: no reload.
  if [ "$before" = "$dir" ] && [ "$before_state" = "$STATE_SET $state;" ]; then return 0; fi
  ln -sfn "$dir" "$TLS_DIR/.live.tmp"
  mv -T "$TLS_DIR/.live.tmp" "$LIVE"
  printf '%s %s;\n' "$STATE_SET" "$state" > "$STATE.tmp"
  mv -f "$STATE.tmp" "$STATE"
  nginx_running || return 0
  if nginx -t -q 2>/dev/null; then
    nginx -s reload
    log "nginx reloaded: serving the $state certificate of $dir"
    return 0
  fi
  log "nginx -t refuses the certificate of $dir: $(nginx -t 2>&1 | tail -n 2 | tr '\n' ' ')"
  if [ -n "$before" ]; then ln -sfn "$before" "$TLS_DIR/.live.tmp"; mv -T "$TLS_DIR/.live.tmp" "$LIVE"; fi
  if [ -n "$before_state" ]; then printf '%s\n' "$before_state" > "$STATE"; fi
  return 1
}

# serial_of PEM: the certificate's serial number, for the log.
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }

make_standin() {
  local name
  name=$(standin_name)
  if [ -f "$STANDIN/fullchain.pem" ] && [ "$(openssl x509 -noout -subject -nameopt multiline -in "$STANDIN/fullchain.pem" \
    | sed -n 's/^ *commonName *= *//p')" = "$name" ]; then
    return 0
  fi
  install -d -m 700 "$STANDIN"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name" -keyout "$STANDIN/privkey.pem.tmp" -out "$STANDIN/fullchain.pem.tmp" 2>/dev/null
  chmod 600 "$STANDIN/privkey.pem.tmp"
  mv -f "$STANDIN/privkey.pem.tmp" "$STANDIN/privkey.pem"
  mv -f "$STANDIN/fullchain.pem.tmp" "$STANDIN/fullchain.pem"
  log "made a self-signed stand-in certificate for $name"
}

# real_lineage_ok: certbot holds an unexpired certificate for SITE_DOMAIN.
real_lineage_ok() {
  [ -f "$LINEAGE/fullchain.pem" ] && [ -f "$LINEAGE/privkey.pem" ] || return 1
  openssl x509 -noout -checkend 0 -in "$LINEAGE/fullchain.pem" >/dev/null || return 1
  openssl x509 -noout -ext subjectAltName -in "$LINEAGE/fullchain.pem" | grep -qF "DNS:$SITE_DOMAIN"
}

check_provided() {
  if [ ! -f "$PROVIDED/fullchain.pem" ] || [ ! -f "$PROVIDED/privkey.pem" ]; then
    die "raindrop_tls is provided, but $PROVIDED holds no fullchain.pem and privkey.pem: the secrets step" \
      "writes them from the secrets tls_certificate and tls_private_key"
  fi
  openssl x509 -noout -in "$PROVIDED/fullchain.pem" 2>/dev/null \
    || die "the provided certificate ($PROVIDED/fullchain.pem) is not a PEM certificate"
  [ "$(openssl x509 -noout -pubkey -in "$PROVIDED/fullchain.pem")" = "$(openssl pkey -pubout -in "$PROVIDED/privkey.pem" 2>/dev/null)" ] \
    || die "the provided private key does not belong to the provided certificate ($PROVIDED)"
}

prepare() {
  log "tls ($TLS_MODE): dhparam, ACME webroot and a live certificate for nginx"
  install -d -m 700 -o root -g root "$TLS_DIR"
  install -d -m 755 -o root -g root "$ACME_WEBROOT" "$ACME_WEBROOT/.well-known" "$ACME_WEBROOT/.well-known/acme-challenge"
  # RFC 7919's ffdhe2048, the group Mozilla's profile names for its DHE suites: fixed, so nothing to generate.
  if [ ! -s "$TLS_DIR/dhparam.pem" ]; then
    openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$TLS_DIR/dhparam.pem.tmp"
    mv -f "$TLS_DIR/dhparam.pem.tmp" "$TLS_DIR/dhparam.pem"
  fi
  make_standin
  case "$TLS_MODE" in
    provided)
      check_provided
      point_live "$PROVIDED" real || die "nginx refuses the provided certificate"
      log "serving the provided certificate (serial $(serial_of "$PROVIDED/fullchain.pem"))"
      ;;
    acme)
      if real_lineage_ok; then
        point_live "$LINEAGE" real || die "nginx refuses certbot's certificate in $LINEAGE"
      else
        point_live "$STANDIN" stand-in || die "nginx refuses the self-signed stand-in certificate"
      fi
      ;;
    *) die "raindrop-tls has nothing to do for raindrop_tls $TLS_MODE (nginx serves no https here)" ;;
  esac
}

# acme_reason LOG: the CA's own words from certbot's output (its "Detail:" lines), else its last lines.
acme_reason() {
  local detail
  detail=$(sed -n 's/^ *Detail: *//p' "$1" | tr '\n' ' ')
  [ -n "$detail" ] || detail=$(grep -v '^ *$' "$1" | tail -n 3 | tr '\n' ' ')
  printf '%s\n' "${detail% }"
}

obtain() {
  local out status=0
  if [ "$TLS_MODE" != acme ]; then
    log "tls ($TLS_MODE): no ACME request here"
    return 0
  fi
  prepare
  local account=(--register-unsafely-without-email)
  [ -z "$ACME_EMAIL" ] || account=(--email "$ACME_EMAIL" --no-eff-email)
  log "tls: certificate for $SITE_DOMAIN from $ACME_DIRECTORY (HTTP-01 via $ACME_WEBROOT)"
  out=$(mktemp)
  # --keep-until-expiring: a valid certificate is kept (no request); bounded, so a CA that never answers
  # cannot hold the deploy.
  timeout 300 certbot certonly --non-interactive --agree-tos "${account[@]}" --server "$ACME_DIRECTORY" \
    --config-dir "$LETSENCRYPT_DIR" --cert-name "$CERT_NAME" -d "$SITE_DOMAIN" --webroot --webroot-path "$ACME_WEBROOT" --keep-until-expiring \
    >"$out" 2>&1 || status=$?
  if [ "$status" -ne 0 ] && real_lineage_ok; then
    # A renewal the CA refused: the certificate certbot holds is still valid, and stays live.
    printf '\n*** certbot could not renew the certificate for %s (exit %s): %s; the current one stays, expiring %s\n\n' \
      "$SITE_DOMAIN" "$status" "$(acme_reason "$out")" "$(openssl x509 -noout -enddate -in "$LINEAGE/fullchain.pem" | cut -d= -f2)" >&2
    rm -f "$out"
    point_live "$LINEAGE" real || true
    return 0
  fi
  if [ "$status" -ne 0 ] || ! real_lineage_ok; then
    printf '\n*** no certificate yet for %s: serving a self-signed stand-in on :%s and the site over http on :80;' \
      "$SITE_DOMAIN" "$HTTPS_PORT" >&2
    printf ' reason (certbot exit %s): %s\n*** the next deploy, or raindrop-tls obtain on the host, tries again\n\n' \
      "$status" "$(acme_reason "$out")" >&2
    rm -f "$out"
    return 0
  fi
  rm -f "$out"
  if [ "$(readlink "$LIVE")" = "$LINEAGE" ] && grep -qxF "$STATE_SET real;" "$STATE"; then
    log "tls: the certificate for $SITE_DOMAIN is live (serial $(serial_of "$LINEAGE/fullchain.pem"))"
    return 0
  fi
  if point_live "$LINEAGE" real; then
    log "tls: certificate for $SITE_DOMAIN is live (serial $(serial_of "$LINEAGE/fullchain.pem")); http redirects to https"
  else
    printf '\n*** the certificate for %s is in %s but nginx refuses it: the stand-in keeps serving\n\n' \
      "$SITE_DOMAIN" "$LINEAGE" >&2
    point_live "$STANDIN" stand-in || true
  fi
}

status() {
  local target state
  target=$(readlink "$LIVE" 2>/dev/null || true)
  [ -n "$target" ] || { echo "no certificate is live ($LIVE is missing)"; return 1; }
  state=$(cat "$STATE" 2>/dev/null || true)
  state=${state#"$STATE_SET "}
  printf '%s certificate: %s\n' "${state%;}" "$target"
  openssl x509 -noout -subject -serial -enddate -in "$LIVE/fullchain.pem"
}

case "${1:-}" in
  prepare) prepare ;;
  obtain) obtain ;;
  status) status ;;
  *) die "usage: raindrop-tls prepare|obtain|status (got '${1:-}')" ;;
esac
