#!/bin/sh
# Container entry point: the first run writes a config to edit, the next one
# the registration, then the bridge runs. Everything lives in $WABRIDGE_DATA
# (/data in the image).
set -eu
# Config, registration and database hold tokens and keys: owner only.
umask 077
data=${WABRIDGE_DATA:-/data}
example=${WABRIDGE_EXAMPLE:-/opt/wabridge/config.example.yaml}
cd "$data"
if [ ! -f config.yaml ]; then
    # Inside a container the appservice must listen beyond loopback.
    sed 's/^\(    hostname:\) 127\.0\.0\.1$/\1 0.0.0.0/' "$example" > config.yaml
    echo "wrote $data/config.yaml: set homeserver.address, homeserver.domain," \
         "appservice.address and bridge.permissions, then start again" >&2
    exit 0
fi
if [ ! -f registration.yaml ]; then
    wabridge -c config.yaml -g -r registration.yaml
    echo "wrote $data/registration.yaml (and fresh tokens in config.yaml):" \
         "add it to the homeserver's app_service_config_files, then start again" >&2
    exit 0
fi
exec wabridge -c config.yaml "$@"
