#!/usr/bin/env bash
# Sourced by scripts/run.sh and scripts/flask: mercato_load_dotenv FILE exports the
# KEY=value lines of FILE (Heroku `heroku local` style: optional `export `, optional
# quotes, # comments), except variables already set in the environment, which win.
mercato_load_dotenv() {
    local file=$1 line key value
    [[ -f $file ]] || return 1
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key=${BASH_REMATCH[2]}
        value=${BASH_REMATCH[3]}
        if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
            value=${BASH_REMATCH[1]}
        fi
        [[ -n ${!key+x} ]] || export "$key=$value"
    done <"$file"
}
