#!/bin/sh
# PostgreSQL's archive_command on every node of the local stack:
#   wal-archive.sh ARCHIVE_DIR %p %f
# Copies a closed WAL segment (or .history / .partial / .backup file) into
# the archive, the stack's S3 analogue. Never overwrites: both nodes archive
# into the same folder (whichever leads), and a segment archived twice must
# be the same segment. An identical copy is success (a node that crashed
# after archiving, before recording it, archives it again); a different one
# is an error PostgreSQL logs and counts in pg_stat_archiver, and it keeps
# the segment and retries, so nothing is lost while someone looks.
set -u
dir=$1 src=$2 name=$3
dst=$dir/$name

same_or_fail() {
  if cmp -s "$src" "$dst"; then
    exit 0
  fi
  echo "wal-archive: $dst exists with different content; not overwritten" >&2
  exit 1
}

[ -e "$dst" ] && same_or_fail

# Written under a temporary name, flushed, then linked into place: ln
# refuses an existing name, so two archivers racing on one name cannot
# overwrite each other, and a reader never sees a half-written segment.
tmp=$dir/.$name.$$.tmp
if ! cp "$src" "$tmp" || ! sync "$tmp"; then
  rm -f "$tmp"
  echo "wal-archive: cannot copy $src to $tmp" >&2
  exit 1
fi
if ln "$tmp" "$dst" 2>/dev/null; then
  rm -f "$tmp"
  exit 0
fi
rm -f "$tmp"
[ -e "$dst" ] && same_or_fail
echo "wal-archive: cannot link $dst" >&2
exit 1
