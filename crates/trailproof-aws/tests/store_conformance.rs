//! The ObjectStore conformance suite (trailproof_testkit::conformance) against `S3Store`, through
//! the real SDK, on an s3s server on 127.0.0.1.
//!
//! The server's backend is a small in-memory S3 written here, not s3s-fs: s3s-fs keeps objects
//! as files named after their keys, so it reads `a//b` and `a/./b` as `a/b`, which S3 does not.
//! Keys are held exactly as S3 holds them, which is what the suite needs to tell whether the
//! client side (the SDK's URL encoding, `S3Store`) keeps them exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};

use trailproof::ObjectStore;
use trailproof_testkit::conformance::{conformance, Made, BUCKET, TRICKY_KEYS};
use trailproof_testserver::{test_options, CloudTrailServer, Harness, S3Server, REGION};

#[derive(Clone)]
struct Stored {
    bytes: bytes::Bytes,
    metadata: Option<Metadata>,
}

/// Buckets of objects, keys held byte for byte.
#[derive(Clone, Default)]
struct MemS3(Arc<Mutex<BTreeMap<String, BTreeMap<String, Stored>>>>);

impl MemS3 {
    fn object(&self, bucket: &str, key: &str) -> S3Result<Stored> {
        let buckets = self.0.lock().unwrap();
        let objects = buckets.get(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        objects
            .get(key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))
    }

    fn exists(&self, bucket: &str) -> S3Result<()> {
        if self.0.lock().unwrap().contains_key(bucket) {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }
}

fn e_tag(bytes: &[u8]) -> ETag {
    ETag::Strong(format!(
        "{:x}",
        bytes.len() as u64 * 0x9e37_79b9 + bytes.iter().map(|b| u64::from(*b)).sum::<u64>()
    ))
}

#[async_trait::async_trait]
impl S3 for MemS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.0.lock().unwrap().entry(req.input.bucket).or_default();
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.exists(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.exists(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.exists(&input.bucket)?;
        let Some(body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let bytes = s3s::Body::from(body)
            .store_all_limited(1 << 30)
            .await
            .map_err(|e| s3_error!(InternalError, "reading the body: {e}"))?;
        let tag = e_tag(&bytes);
        self.0
            .lock()
            .unwrap()
            .entry(input.bucket)
            .or_default()
            .insert(
                input.key,
                Stored {
                    bytes,
                    metadata: input.metadata,
                },
            );
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(tag),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        if input.range.is_some() {
            return Err(s3_error!(NotImplemented, "ranges"));
        }
        let stored = self.object(&input.bucket, &input.key)?;
        Ok(S3Response::new(GetObjectOutput {
            content_length: Some(stored.bytes.len() as i64),
            e_tag: Some(e_tag(&stored.bytes)),
            metadata: stored.metadata,
            body: Some(StreamingBlob::from(s3s::Body::from(stored.bytes))),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let stored = self.object(&input.bucket, &input.key)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(stored.bytes.len() as i64),
            e_tag: Some(e_tag(&stored.bytes)),
            metadata: stored.metadata,
            ..Default::default()
        }))
    }

    /// ListObjectsV2 as S3 answers it: byte order, `StartAfter` or a continuation token
    /// (here the last entry returned), common prefixes counted with keys in `MaxKeys`.
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let buckets = self.0.lock().unwrap();
        let objects = buckets
            .get(&input.bucket)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone())
            .unwrap_or_default();
        let max_keys = usize::try_from(input.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut contents = Vec::new();
        let mut common_prefixes: Vec<CommonPrefix> = Vec::new();
        let mut last = None;
        let mut truncated = false;
        for (key, stored) in objects.range::<str, _>((
            std::ops::Bound::Excluded(after.as_str()),
            std::ops::Bound::Unbounded,
        )) {
            if !key.starts_with(&prefix) {
                if key.as_str() > prefix.as_str() {
                    break;
                }
                continue;
            }
            let folder = delimiter.as_deref().and_then(|d| {
                let rest = &key[prefix.len()..];
                rest.find(d)
                    .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
            });
            if let Some(folder) = &folder {
                if folder.as_str() <= after.as_str()
                    || common_prefixes.last().and_then(|c| c.prefix.as_deref()) == Some(folder)
                {
                    continue;
                }
            }
            if contents.len() + common_prefixes.len() == max_keys {
                truncated = true;
                break;
            }
            match folder {
                Some(folder) => {
                    last = Some(folder.clone());
                    common_prefixes.push(CommonPrefix {
                        prefix: Some(folder),
                    });
                }
                None => {
                    last = Some(key.clone());
                    contents.push(Object {
                        key: Some(key.clone()),
                        size: Some(stored.bytes.len() as i64),
                        e_tag: Some(e_tag(&stored.bytes)),
                        ..Default::default()
                    });
                }
            }
        }
        let count = contents.len() + common_prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            start_after: input.start_after,
            continuation_token: input.continuation_token,
            max_keys: input.max_keys,
            key_count: Some(i32::try_from(count).unwrap()),
            is_truncated: Some(truncated),
            next_continuation_token: if truncated { last } else { None },
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
            ..Default::default()
        }))
    }
}

/// The harness of the other tests, its S3 server replaced by one over `backend`.
fn start(backend: MemS3) -> Harness {
    let rt = trailproof_aws::runtime().unwrap();
    let (s3, cloudtrail) = rt.block_on(async {
        let s3 = S3Server::builder().start_with(backend).await;
        (s3, CloudTrailServer::start(100).await)
    });
    Harness { rt, s3, cloudtrail }
}

#[test]
fn s3_store_holds_every_key_s3_holds_exactly() {
    let backend = MemS3::default();
    let h = start(backend.clone());
    let ctx = h.context(&test_options());
    let client = ctx.s3_client(REGION);
    let outcome = conformance("S3Store", &mut |puts| {
        backend.0.lock().unwrap().clear();
        h.rt.block_on(async {
            client.create_bucket().bucket(BUCKET).send().await.unwrap();
            for p in puts {
                let mut put = client
                    .put_object()
                    .bucket(BUCKET)
                    .key(&p.key)
                    .body(ByteStream::from(p.bytes.clone()));
                for (name, value) in &p.metadata {
                    put = put.metadata(name, value);
                }
                put.send()
                    .await
                    .unwrap_or_else(|e| panic!("PutObject {:?}: {e:?}", p.key));
            }
        });
        // What the server holds is what was put, byte for byte (the suite then checks what
        // the store reads).
        let held: BTreeSet<String> = backend.0.lock().unwrap()[BUCKET].keys().cloned().collect();
        let put: BTreeSet<String> = puts.iter().map(|p| p.key.clone()).collect();
        assert_eq!(held, put, "the server holds other keys than were put");
        Made::new(h.store(&ctx))
    });
    // U+0001 cannot be written in XML 1.0, so a listing holding it fails (S3 asks clients to
    // list with `encoding-type=url` for such keys; S3Store does not): refused, never wrong.
    let unlistable = "a/\u{1}b";
    let all: BTreeSet<String> = TRICKY_KEYS
        .iter()
        .filter(|k| **k != unlistable)
        .map(|k| (*k).to_owned())
        .collect();
    let missing: Vec<&String> = all.difference(&outcome.exact).collect();
    assert!(
        missing.is_empty(),
        "S3 holds these keys exactly, S3Store did not read them back: {missing:?}"
    );
    assert_eq!(outcome.refused, BTreeSet::from([unlistable.to_owned()]));
    h.rt.block_on(
        client
            .put_object()
            .bucket(BUCKET)
            .key(unlistable)
            .body(ByteStream::from_static(b"x"))
            .send(),
    )
    .unwrap();
    let store = h.store(&ctx);
    assert_eq!(
        store.get(BUCKET, unlistable, 100).unwrap().bytes,
        b"x",
        "GetObject reads it exactly"
    );
    let listed = store.list(BUCKET, "", "", &mut |_| std::ops::ControlFlow::Continue(()));
    assert!(
        matches!(&listed, Err(trailproof::StoreError::Unreadable { cause, .. }) if cause.contains("ListObjectsV2")),
        "{listed:?}"
    );
}

#[test]
fn object_size_is_head_object_content_length() {
    let backend = MemS3::default();
    let h = start(backend.clone());
    let ctx = h.context(&test_options());
    let client = ctx.s3_client(REGION);
    h.rt.block_on(async {
        client.create_bucket().bucket(BUCKET).send().await.unwrap();
        client
            .put_object()
            .bucket(BUCKET)
            .key("a/b")
            .body(ByteStream::from(vec![7u8; 1234]))
            .send()
            .await
            .unwrap();
    });
    let store = h.store(&ctx);
    assert_eq!(store.object_size(BUCKET, "a/b").unwrap(), Some(1234));
    assert!(matches!(
        store.object_size(BUCKET, "a//b"),
        Err(trailproof::StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.object_size("no-such-bucket-here", "a/b"),
        Err(trailproof::StoreError::NoSuchBucket { .. })
    ));
}
