#!/usr/bin/env python3
"""Run the real AWS CLI v1 ``cloudtrail validate-logs`` code over a local archive.

Everything that validates (CloudTrailValidateLogs, DigestTraverser,
DigestProvider, PublicKeyProvider, Sha256RSADigestValidator, S3ClientProvider)
is the unmodified code of ``awscli.customizations.cloudtrail.validation``.
Only ``create_nested_client`` (as imported in that module) is replaced, so
that the S3, CloudTrail and Organizations clients are small stubs reading
local files.  Uncaught exceptions are turned into output the way
``awscli.clidriver.CLIDriver.main`` does it: ``"\\n" + str(e) + "\\n"`` on
stderr and exit status 255.

Usage (with the Python of the pinned AWS CLI's virtual environment, which
``tools/test`` installs: ``target/awscli-1.46.3/bin/python``):

  target/awscli-1.46.3/bin/python tools/awscli_oracle.py \\
      --trail-arn arn:aws:cloudtrail:us-east-1:123456789012:trail/t \\
      --start-time 2024-01-01T00:00:00Z [--end-time 2024-01-02T00:00:00Z] \\
      --bucket my-bucket=/path/to/bucket/dir [--bucket other=/dir2 ...] \\
      --public-keys keys.json \\
      [--s3-bucket B] [--s3-prefix P] [--account-id A] [--verbose] \\
      [--region R] [--organization-id o-xxx] [--is-organization-trail] \\
      [--trail-s3-bucket B] [--trail-s3-prefix P]

Archive layout: the objects of bucket NAME are the files under DIR (key =
path relative to DIR, "/"-separated); ``<key>.meta.json`` holds the object's
user metadata as a JSON object and is never listed as an object.

``--public-keys`` is the JSON printed by ``aws cloudtrail list-public-keys``
({"PublicKeyList": [{"Value", "ValidityStartTime", "ValidityEndTime",
"Fingerprint"}]}); times may be epoch numbers or ISO 8601 strings.  Entries
are returned exactly as written in the file (the AWS CLI keeps blobs as
base64 text and timestamps as wire values, see awscli/customizations/
scalarparse.py), filtered to those whose validity overlaps the requested
range.  Without ``--public-keys`` the key list is empty.

describe_trails() returns one trail: TrailARN = --trail-arn, S3BucketName =
--trail-s3-bucket or --s3-bucket or the first --bucket name, S3KeyPrefix =
--trail-s3-prefix or --s3-prefix (omitted when neither is given),
IsOrganizationTrail = --is-organization-trail.  (The CLI only calls
describe_trails when --s3-bucket is *not* given; then --s3-prefix is ignored
by the CLI and the trail's S3KeyPrefix is used, which is why
--trail-s3-prefix exists: to model a trail whose configured prefix differs.)

Without --region the command gets parsed_globals.region = None, exactly like
the CLI when --region is not on the command line (a configured default region
is *not* copied into parsed_globals); the source region is then the ARN's.
"""

import argparse
import datetime
import io
import json
import os
import signal
import sys

REQUIRED_AWSCLI = '1.46.3'

try:
    import awscli
except ImportError:
    awscli = None
if awscli is None or awscli.__version__ != REQUIRED_AWSCLI:
    # Exit status 3 (a harness error): another version's verdicts would read as regressions.
    found = 'no awscli' if awscli is None else f'awscli {awscli.__version__}'
    sys.stderr.write(
        f'awscli_oracle: awscli {REQUIRED_AWSCLI} is required, {sys.executable} has {found}: '
        f'run tools/test, or: python3 -m venv target/awscli-{REQUIRED_AWSCLI} && '
        f'target/awscli-{REQUIRED_AWSCLI}/bin/pip install awscli=={REQUIRED_AWSCLI}\n')
    sys.exit(3)

import jmespath
from botocore.exceptions import ClientError
from dateutil import parser as date_parser
from dateutil import tz

from awscli.customizations.cloudtrail import validation
from awscli.customizations.cloudtrail.validation import CloudTrailValidateLogs

META_SUFFIX = '.meta.json'
PAGE_SIZE = 1000
HARNESS_ERROR_RC = 3


class HarnessError(BaseException):
    """A problem with the local archive or the oracle's own arguments.

    Derives from BaseException so that the CLI's ``except Exception`` blocks
    can never turn it into a validation result.  Exit status 3.
    """


def _client_error(code, message, operation, status=404):
    return ClientError(
        {
            'Error': {'Code': code, 'Message': message},
            'ResponseMetadata': {'HTTPStatusCode': status},
        },
        operation,
    )


# --------------------------------------------------------------------------
# S3 stub
# --------------------------------------------------------------------------
class _Body:
    """Minimal stand-in for botocore.response.StreamingBody."""

    def __init__(self, data):
        self._stream = io.BytesIO(data)

    def read(self, amt=None):
        if amt is None:
            return self._stream.read()
        return self._stream.read(amt)

    def close(self):
        self._stream.close()


class _PageIterator:
    def __init__(self, pages):
        self._pages = pages

    def __iter__(self):
        return iter(self._pages)

    def search(self, expression):
        # Same semantics as botocore.paginate.PageIterator.search.
        compiled = jmespath.compile(expression)
        for page in self:
            results = compiled.search(page)
            if isinstance(results, list):
                yield from results
            else:
                yield results


class _ListObjectsPaginator:
    def __init__(self, s3):
        self._s3 = s3

    def paginate(self, Bucket, Prefix='', Marker='', **kwargs):
        keys = self._s3._keys(Bucket, 'ListObjects')
        marker_b = (Marker or '').encode('utf-8', 'surrogateescape')
        prefix = Prefix or ''
        selected = [
            k
            for k in keys
            if k.startswith(prefix)
            and k.encode('utf-8', 'surrogateescape') > marker_b
        ]
        pages = []
        for i in range(0, len(selected), PAGE_SIZE):
            chunk = selected[i : i + PAGE_SIZE]
            pages.append(
                {
                    'IsTruncated': i + PAGE_SIZE < len(selected),
                    'Marker': Marker or '',
                    'Prefix': prefix,
                    'Name': Bucket,
                    'MaxKeys': PAGE_SIZE,
                    'Contents': [{'Key': k} for k in chunk],
                }
            )
        if not pages:
            # An empty listing: a page without "Contents" (search yields None).
            pages.append(
                {
                    'IsTruncated': False,
                    'Marker': Marker or '',
                    'Prefix': prefix,
                    'Name': Bucket,
                    'MaxKeys': PAGE_SIZE,
                }
            )
        return _PageIterator(pages)


class StubS3Client:
    def __init__(self, buckets):
        # buckets: dict name -> directory
        self._buckets = buckets
        self._key_cache = {}

    def _bucket_dir(self, bucket, operation):
        d = self._buckets.get(bucket)
        if d is None or not os.path.isdir(d):
            raise _client_error(
                'NoSuchBucket', 'The specified bucket does not exist', operation
            )
        return d

    def _keys(self, bucket, operation):
        d = self._bucket_dir(bucket, operation)
        if bucket not in self._key_cache:
            keys = []
            for root, dirs, files in os.walk(d, followlinks=True):
                for name in files:
                    if name.endswith(META_SUFFIX):
                        continue
                    full = os.path.join(root, name)
                    if not os.path.isfile(full):
                        continue
                    rel = os.path.relpath(full, d)
                    keys.append(rel.replace(os.sep, '/'))
            # S3 lists keys in UTF-8 binary order.
            keys.sort(key=lambda k: k.encode('utf-8', 'surrogateescape'))
            self._key_cache[bucket] = (keys, set(keys))
        return self._key_cache[bucket][0]

    def get_bucket_location(self, Bucket, **kwargs):
        self._bucket_dir(Bucket, 'GetBucketLocation')
        return {'LocationConstraint': None}

    def get_paginator(self, operation_name):
        if operation_name != 'list_objects':
            raise HarnessError(f'unexpected paginator: {operation_name}')
        return _ListObjectsPaginator(self)

    def get_object(self, Bucket, Key, **kwargs):
        d = self._bucket_dir(Bucket, 'GetObject')
        self._keys(Bucket, 'GetObject')
        if Key not in self._key_cache[Bucket][1]:
            raise _client_error(
                'NoSuchKey', 'The specified key does not exist.', 'GetObject'
            )
        path = os.path.join(d, *Key.split('/'))
        with open(path, 'rb') as f:
            data = f.read()
        metadata = {}
        meta_path = path + META_SUFFIX
        if os.path.isfile(meta_path):
            # Archive errors must not be mistaken for validation results:
            # HarnessError is not caught by the CLI's "except Exception".
            try:
                with open(meta_path, 'rb') as f:
                    metadata = json.loads(f.read().decode('utf-8'))
            except (OSError, ValueError) as e:
                raise HarnessError(f'{meta_path}: {e}')
            if not isinstance(metadata, dict) or not all(
                isinstance(v, str) for v in metadata.values()
            ):
                raise HarnessError(
                    f'{meta_path}: metadata must be a JSON object of strings'
                )
        return {
            'Body': _Body(data),
            'ContentLength': len(data),
            'Metadata': metadata,
        }


# --------------------------------------------------------------------------
# CloudTrail / Organizations stubs
# --------------------------------------------------------------------------
def _to_datetime(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz.tzutc())
        return value
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=tz.tzutc())
    if isinstance(value, str):
        try:
            return datetime.datetime.fromtimestamp(float(value), tz=tz.tzutc())
        except ValueError:
            pass
        d = date_parser.isoparse(value)
        if d.tzinfo is None:
            d = d.replace(tzinfo=tz.tzutc())
        return d
    raise ValueError(f'unsupported timestamp value {value!r}')


class StubCloudTrailClient:
    def __init__(self, trail, public_keys):
        self._trail = trail
        self._public_keys = []
        for key in public_keys:
            try:
                bounds = (
                    _to_datetime(key.get('ValidityStartTime')),
                    _to_datetime(key.get('ValidityEndTime')),
                )
            except (ValueError, OverflowError, OSError, AttributeError) as e:
                raise HarnessError(f'bad public key entry {key!r}: {e}')
            self._public_keys.append((key, bounds))
        self.list_public_keys_calls = []

    def describe_trails(self, **kwargs):
        return {'trailList': [dict(self._trail)]}

    def list_public_keys(self, StartTime=None, EndTime=None, **kwargs):
        self.list_public_keys_calls.append((StartTime, EndTime))
        start = _to_datetime(StartTime)
        end = _to_datetime(EndTime)
        result = []
        for key, (k_start, k_end) in self._public_keys:
            # Overlap of [k_start, k_end] with [start, end] (inclusive);
            # a missing bound is open.
            if end is not None and k_start is not None and k_start > end:
                continue
            if start is not None and k_end is not None and k_end < start:
                continue
            result.append(dict(key))
        return {'PublicKeyList': result}


class StubOrganizationsClient:
    def __init__(self, organization_id):
        self._organization_id = organization_id

    def describe_organization(self, **kwargs):
        if not self._organization_id:
            raise _client_error(
                'AWSOrganizationsNotInUseException',
                'Your account is not a member of an organization.',
                'DescribeOrganization',
                status=400,
            )
        return {
            'Organization': {
                'Id': self._organization_id,
            }
        }


class _SessionStandIn:
    """The command only hands its session to create_nested_client."""


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def build_arg_parser():
    p = argparse.ArgumentParser(
        prog='awscli_oracle.py',
        description='Run the real AWS CLI validate-logs code over a local archive.',
    )
    # validate-logs arguments (same names as the CLI)
    p.add_argument('--trail-arn', required=True)
    p.add_argument('--start-time', required=True)
    p.add_argument('--end-time')
    p.add_argument('--s3-bucket')
    p.add_argument('--s3-prefix')
    p.add_argument('--account-id')
    p.add_argument('--verbose', action='store_true')
    # CLI global
    p.add_argument('--region')
    # archive / stub configuration
    p.add_argument('--bucket', action='append', default=[], metavar='NAME=DIR')
    p.add_argument('--public-keys', metavar='FILE')
    p.add_argument('--organization-id')
    p.add_argument('--is-organization-trail', action='store_true')
    p.add_argument('--trail-s3-bucket')
    p.add_argument('--trail-s3-prefix')
    return p


def main(argv=None):
    try:
        return _main(argv)
    except HarnessError as e:
        sys.stdout.flush()
        sys.stderr.write(f'awscli_oracle: {e}\n')
        sys.stderr.flush()
        return HARNESS_ERROR_RC


def _main(argv):
    opts = build_arg_parser().parse_args(argv)

    buckets = {}
    for spec in opts.bucket:
        if '=' not in spec:
            raise HarnessError(f'--bucket expects NAME=DIR, got {spec!r}')
        name, d = spec.split('=', 1)
        if name in buckets:
            raise HarnessError(f'bucket {name!r} given twice')
        buckets[name] = d

    public_keys = []
    if opts.public_keys:
        try:
            with open(opts.public_keys, 'rb') as f:
                public_keys = json.loads(f.read().decode('utf-8'))['PublicKeyList']
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise HarnessError(f'{opts.public_keys}: {e!r}')

    trail_bucket = opts.trail_s3_bucket or opts.s3_bucket
    if trail_bucket is None and opts.bucket:
        trail_bucket = opts.bucket[0].split('=', 1)[0]
    trail = {
        'Name': opts.trail_arn.split('/')[-1],
        'TrailARN': opts.trail_arn,
        'S3BucketName': trail_bucket,
        'IsOrganizationTrail': bool(opts.is_organization_trail),
        'LogFileValidationEnabled': True,
    }
    trail_prefix = opts.trail_s3_prefix or opts.s3_prefix
    if trail_prefix is not None:
        trail['S3KeyPrefix'] = trail_prefix

    s3 = StubS3Client(buckets)
    cloudtrail = StubCloudTrailClient(trail, public_keys)
    organizations = StubOrganizationsClient(opts.organization_id)

    def fake_create_nested_client(session, service_name, **kwargs):
        if service_name == 's3':
            return s3
        if service_name == 'cloudtrail':
            return cloudtrail
        if service_name == 'organizations':
            return organizations
        raise HarnessError(f'unexpected client requested: {service_name}')

    validation.create_nested_client = fake_create_nested_client

    args = argparse.Namespace(
        trail_arn=opts.trail_arn,
        start_time=opts.start_time,
        end_time=opts.end_time,
        s3_bucket=opts.s3_bucket,
        s3_prefix=opts.s3_prefix,
        account_id=opts.account_id,
        verbose=opts.verbose,
    )
    parsed_globals = argparse.Namespace(
        region=opts.region,
        verify_ssl=True,
        endpoint_url=None,
    )

    command = CloudTrailValidateLogs(_SessionStandIn())
    try:
        rc = command._run_main(args, parsed_globals)
    except KeyboardInterrupt:
        # clidriver: stdout gets "\n", rc = 128 + SIGINT
        sys.stdout.write('\n')
        rc = 128 + signal.SIGINT
    except Exception as e:
        # clidriver.main -> awscli.utils.write_exception(e, sys.stderr)
        sys.stdout.flush()
        sys.stderr.write('\n')
        sys.stderr.write(str(e))
        sys.stderr.write('\n')
        rc = 255
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


if __name__ == '__main__':
    sys.exit(main())
