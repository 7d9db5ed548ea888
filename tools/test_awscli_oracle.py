#!/usr/bin/env python3
"""Self-test of tools/awscli_oracle.py on a tiny hand-built archive.

Run by ``tools/test`` with the Python of the pinned AWS CLI's virtual
environment: ``target/awscli-1.46.3/bin/python -m pytest tools/test_awscli_oracle.py``
(or, without pytest, ``target/awscli-1.46.3/bin/python tools/test_awscli_oracle.py``).
Another Python, or another awscli version, fails every test with the install
command (the oracle checks its version).
"""

import base64
import datetime
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import rsa

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, 'awscli_oracle.py')

ACCOUNT = '123456789012'
REGION = 'us-east-1'
TRAIL = 'mytrail'
ARN = f'arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}'
BUCKET = 'trail-bucket'
T0 = datetime.datetime(2024, 1, 1, 0, 0, 0)
HOURS = 3
LOGS_PER_HOUR = 2

_KEYPAIR = None


def keypair():
    global _KEYPAIR
    if _KEYPAIR is None:
        _KEYPAIR = rsa.newkeys(2048)
    return _KEYPAIR


def iso(d):
    return d.strftime('%Y-%m-%dT%H:%M:%SZ')


def aws_json(obj):
    """Compact JSON with '/' escaped as AWS writes it."""
    return json.dumps(obj, separators=(',', ':')).replace('/', '\\/').encode()


def put(bucket_dir, key, data, metadata=None):
    path = os.path.join(bucket_dir, *key.split('/'))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    if metadata is not None:
        with open(path + '.meta.json', 'w') as f:
            json.dump(metadata, f)


def log_key(hour_start, i):
    stamp = (hour_start + datetime.timedelta(minutes=5 + i)).strftime(
        '%Y%m%dT%H%MZ'
    )
    ymd = hour_start.strftime('%Y/%m/%d')
    return (
        f'AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{ymd}/'
        f'{ACCOUNT}_CloudTrail_{REGION}_{stamp}_abcdefghijklmno{i}.json.gz'
    )


def digest_key(end):
    ymd = end.strftime('%Y/%m/%d')
    return (
        f'AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{ymd}/'
        f'{ACCOUNT}_CloudTrail-Digest_{REGION}_{TRAIL}_{REGION}_'
        f'{end.strftime("%Y%m%dT%H%M%SZ")}.json.gz'
    )


def build_archive(root):
    """Writes HOURS hourly digests (one chain) with LOGS_PER_HOUR logs each."""
    pub, priv = keypair()
    der = pub.save_pkcs1('DER')
    fingerprint = hashlib.md5(der).hexdigest()
    bucket_dir = os.path.join(root, BUCKET)
    os.makedirs(bucket_dir)
    keys_file = os.path.join(root, 'keys.json')
    with open(keys_file, 'w') as f:
        json.dump(
            {
                'PublicKeyList': [
                    {
                        'Value': base64.b64encode(der).decode(),
                        'ValidityStartTime': (T0 - datetime.timedelta(days=10))
                        .replace(tzinfo=datetime.timezone.utc)
                        .timestamp(),
                        'ValidityEndTime': (T0 + datetime.timedelta(days=20))
                        .replace(tzinfo=datetime.timezone.utc)
                        .timestamp(),
                        'Fingerprint': fingerprint,
                    }
                ]
            },
            f,
        )

    logs, digests = [], []
    prev = None  # (key, sha256 hex, signature hex)
    for h in range(HOURS):
        start = T0 + datetime.timedelta(hours=h)
        end = start + datetime.timedelta(hours=1)
        entries = []
        for i in range(LOGS_PER_HOUR):
            key = log_key(start, i)
            body = aws_json(
                {
                    'Records': [
                        {
                            'eventTime': iso(start + datetime.timedelta(minutes=i)),
                            'eventName': 'ListBuckets',
                            'n': h * 10 + i,
                        }
                    ]
                }
            )
            put(bucket_dir, key, gzip.compress(body))
            logs.append(key)
            entries.append(
                {
                    's3Bucket': BUCKET,
                    's3Object': key,
                    'hashValue': hashlib.sha256(body).hexdigest(),
                    'hashAlgorithm': 'SHA-256',
                    'newestEventTime': iso(start + datetime.timedelta(minutes=i)),
                    'oldestEventTime': iso(start + datetime.timedelta(minutes=i)),
                }
            )
        dkey = digest_key(end)
        digest = {
            'awsAccountId': ACCOUNT,
            'digestStartTime': iso(start),
            'digestEndTime': iso(end),
            'digestS3Bucket': BUCKET,
            'digestS3Object': dkey,
            'digestPublicKeyFingerprint': fingerprint,
            'digestSignatureAlgorithm': 'SHA256withRSA',
            'newestEventTime': iso(start + datetime.timedelta(minutes=1)),
            'oldestEventTime': iso(start),
            'previousDigestS3Bucket': BUCKET if prev else None,
            'previousDigestS3Object': prev[0] if prev else None,
            'previousDigestHashValue': prev[1] if prev else None,
            'previousDigestHashAlgorithm': 'SHA-256' if prev else None,
            'previousDigestSignature': prev[2] if prev else None,
            'logFiles': entries,
        }
        raw = aws_json(digest)
        digest_hash = hashlib.sha256(raw).hexdigest()
        to_sign = '\n'.join(
            [
                iso(end),
                f'{BUCKET}/{dkey}',
                digest_hash,
                prev[2] if prev else 'null',
            ]
        ).encode()
        signature = rsa.sign(to_sign, priv, 'SHA-256').hex()
        put(
            bucket_dir,
            dkey,
            gzip.compress(raw),
            {'signature': signature, 'signature-algorithm': 'SHA256withRSA'},
        )
        digests.append(dkey)
        prev = (dkey, digest_hash, signature)
    return {
        'bucket_dir': bucket_dir,
        'keys_file': keys_file,
        'logs': logs,
        'digests': digests,
    }


def run_oracle(archive, *extra, start=T0, end=T0 + datetime.timedelta(hours=HOURS)):
    cmd = [
        sys.executable,
        ORACLE,
        '--trail-arn',
        ARN,
        '--start-time',
        iso(start),
        '--end-time',
        iso(end),
        '--bucket',
        f'{BUCKET}={archive["bucket_dir"]}',
        '--public-keys',
        archive['keys_file'],
    ] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.stdout, p.stderr, p.returncode


class Archive:
    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix='oracle-test-')
        return build_archive(self.root)

    def __exit__(self, *exc):
        shutil.rmtree(self.root)


HEADER = (
    f'Validating log files for trail {ARN} between 2024-01-01T00:00:00Z '
    'and 2024-01-01T03:00:00Z\n\n'
    'Results requested for 2024-01-01T00:00:00Z to 2024-01-01T03:00:00Z\n'
)


def test_clean_archive():
    with Archive() as a:
        out, err, rc = run_oracle(a)
    assert err == ''
    assert rc == 0
    assert out == (
        HEADER + 'Results found for 2024-01-01T00:00:00Z to 2024-01-01T03:00:00Z:\n'
        '\n3/3 digest files valid'
        '\n6/6 log files valid'
        '\n'
    )


def test_clean_archive_verbose():
    with Archive() as a:
        out, err, rc = run_oracle(a, '--verbose')
        lines = out.splitlines()
        # newest digest first, then its logs, then the previous digest...
        assert lines[2] == f'Digest file\ts3://{BUCKET}/{a["digests"][2]}\tvalid'
        assert lines[3] == f'Log file\ts3://{BUCKET}/{a["logs"][4]}\tvalid'
        assert lines[4] == f'Log file\ts3://{BUCKET}/{a["logs"][5]}\tvalid'
        assert lines[5] == f'Digest file\ts3://{BUCKET}/{a["digests"][1]}\tvalid'
        assert len([l for l in lines if l.endswith('\tvalid')]) == 9
    assert err == ''
    assert rc == 0
    assert '\n\nResults requested for' in out


def test_modified_log():
    with Archive() as a:
        victim = a['logs'][2]
        put(a['bucket_dir'], victim, gzip.compress(b'{"Records":[]}'))
        out, err, rc = run_oracle(a)
    assert rc == 1
    assert err == (
        f"Log file\ts3://{BUCKET}/{victim}\tINVALID: hash value doesn't match\n\n"
    )
    assert out.endswith(
        '\n3/3 digest files valid'
        '\n5/6 log files valid, 1/6 log files INVALID'
        '\n'
    )


def test_deleted_digest():
    with Archive() as a:
        victim = a['digests'][1]
        os.remove(os.path.join(a['bucket_dir'], *victim.split('/')))
        out, err, rc = run_oracle(a)
    assert rc == 1
    assert err == f'Digest file\ts3://{BUCKET}/{victim}\tINVALID: not found\n\n'
    assert out.endswith(
        '\n2/3 digest files valid, 1/3 digest files INVALID'
        '\n4/4 log files valid'
        '\n'
    )


def test_deleted_log_and_bad_signature():
    with Archive() as a:
        gone = a['logs'][0]
        os.remove(os.path.join(a['bucket_dir'], *gone.split('/')))
        newest = a['digests'][2]
        meta = os.path.join(a['bucket_dir'], *newest.split('/')) + '.meta.json'
        with open(meta) as f:
            m = json.load(f)
        m['signature'] = m['signature'][:-2] + ('00' if m['signature'][-2:] != '00' else '11')
        with open(meta, 'w') as f:
            json.dump(m, f)
        out, err, rc = run_oracle(a)
    assert rc == 1
    assert err == (
        f'Digest file\ts3://{BUCKET}/{newest}\tINVALID: signature verification failed\n\n'
        f'Log file\ts3://{BUCKET}/{gone}\tINVALID: not found\n\n'
    )
    assert out.endswith(
        '\n2/3 digest files valid, 1/3 digest files INVALID'
        '\n3/4 log files valid, 1/4 log files INVALID'
        '\n'
    )


def test_no_public_keys_is_fatal():
    with Archive() as a:
        with open(a['keys_file'], 'w') as f:
            json.dump({'PublicKeyList': []}, f)
        out, err, rc = run_oracle(a)
    assert rc == 255
    assert out == (
        f'Validating log files for trail {ARN} between 2024-01-01T00:00:00Z '
        'and 2024-01-01T03:00:00Z\n\n'
    )
    assert err == (
        '\nNo public keys found between 2024-01-01T00:00:00Z and '
        '2024-01-01T05:00:00Z\n'
    )


def test_argument_errors():
    with Archive() as a:
        out, err, rc = run_oracle(
            a, start=T0 + datetime.timedelta(hours=5)
        )
        assert (out, rc) == ('', 255)
        assert err == (
            '\nInvalid time range specified: start-time must occur before '
            'end-time\n'
        )
        cmd = [sys.executable, ORACLE, '--trail-arn', 'x', '--start-time', '2024']
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert (p.stdout, p.stderr, p.returncode) == (
            '',
            '\nInvalid trail ARN provided: x\n',
            255,
        )


def test_no_digests_found():
    with Archive() as a:
        out, err, rc = run_oracle(
            a,
            start=T0 + datetime.timedelta(days=2),
            end=T0 + datetime.timedelta(days=3),
        )
    assert (err, rc) == ('', 0)
    assert out.endswith('Results requested for 2024-01-03T00:00:00Z to '
                        '2024-01-04T00:00:00Z\nNo digests found\n')


if __name__ == '__main__':
    failed = 0
    for name, fn in sorted(globals().items()):
        if name.startswith('test_') and callable(fn):
            try:
                fn()
                print(f'PASS {name}')
            except Exception as e:  # noqa: BLE001
                failed += 1
                print(f'FAIL {name}: {e!r}')
                import traceback

                traceback.print_exc()
    sys.exit(1 if failed else 0)
