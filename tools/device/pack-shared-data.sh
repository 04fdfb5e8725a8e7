#!/bin/bash
# Packs the texts and task files tools/results needs into .carry/shared/data.tar.xz (git-ignored,
# ~6 MB), so that the small models' results rows can run on the GPU machine's 16 cores, which
# cannot see ../shared. The models stay behind: the bundled ones travel with the repo.
set -euo pipefail
shared=${BITFOLD_SHARED_DATA:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}
out=$(cd "$(dirname "$0")/../.." && pwd)/.carry/shared
mkdir -p "$out"
tar -C "$shared" -cJf "$out/data.tar.xz.tmp" MANIFEST.md text/train.txt text/test.txt \
  text/wikitext-2-raw/wiki.test.raw tasks
mv "$out/data.tar.xz.tmp" "$out/data.tar.xz"
ls -l "$out/data.tar.xz"
