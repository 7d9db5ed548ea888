#!/bin/bash
# Submits N shards and their merge:
#   TRAIL_ARN=arn:aws:cloudtrail:… START_TIME=2019-01-01T00:00:00Z END_TIME=2026-01-01T00:00:00Z \
#   PARTS=/shared/trailproof/run-1 deploy/slurm/submit.sh 64 [SBATCH OPTIONS…]
# Options after N go to both sbatch calls (e.g. --partition=audit, --account=sec). A copy on a
# shared file system instead of S3: SHARD_FLAGS="--archive DIR --public-keys FILE".
# The merge job's exit status is the verdict: 0 valid, 1 invalid, 2 not checked / incomplete;
# its report is trailproof-report-JOBID.txt.
set -euo pipefail
N=${1:?usage: submit.sh N [SBATCH OPTIONS…]}
shift
here=$(dirname "$0")
case "${PARTS:?set PARTS}" in s3://*) ;; *) mkdir -p "$PARTS" ;; esac
array=$(sbatch --parsable --export=ALL --array=0-$((N - 1)) "$@" "$here/shard.sbatch")
array=${array%%;*}
# Shards take their run id from SLURM_ARRAY_JOB_ID; the merge is told the same, so it never
# merges a part an earlier array left in $PARTS.
merge=$(sbatch --parsable --export=ALL,TRAILPROOF_RUN_ID="$array" --dependency=afterany:"$array" "$@" "$here/merge.sbatch")
echo "shards: job $array (array of $N); merge: job ${merge%%;*}"
