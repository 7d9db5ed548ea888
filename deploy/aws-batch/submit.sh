#!/bin/bash
# Registers the two job definitions, submits N shards as an array job and the merge as a job
# that depends on the whole array (it starts when every child has finished).
#   QUEUE=trailproof deploy/aws-batch/submit.sh 64
# Parts go to S3 (the shard definition's `partial`; the merge reads every object under the
# merge definition's `parts`, the same prefix). --shard-count is passed as well as the array size
# (`shards`, set here to N): `--shard auto` checks that they agree when Batch tells the size. The
# merge's log (CloudWatch) holds the report; its exit status is the verdict. Shards bind their
# parts to the array job's id (from AWS_BATCH_JOB_ID); the merge is given the same id and
# refuses any part of another run.
set -euo pipefail
N=${1:?usage: submit.sh N}
QUEUE=${QUEUE:?set QUEUE to a job queue}
here=$(dirname "$0")
aws batch register-job-definition --cli-input-json "file://$here/job-definition.json" >/dev/null
aws batch register-job-definition --cli-input-json "file://$here/merge-job-definition.json" >/dev/null
array=$(aws batch submit-job --job-name trailproof-shards --job-queue "$QUEUE" \
  --job-definition trailproof-shard --array-properties size="$N" --parameters shards="$N" \
  --query jobId --output text)
merge=$(aws batch submit-job --job-name trailproof-merge --job-queue "$QUEUE" \
  --job-definition trailproof-merge --depends-on jobId="$array" --parameters runid="$array" \
  --query jobId --output text)
echo "shards: $array (array of $N); merge: $merge"
