//! Signed CloudTrail Lake query results: the folder CloudTrail writes when a Lake query's results
//! are saved to S3 (`result_1.csv.gz`, … and `result_sign.json`), really signed with the test
//! keys, plus the tampered variants a verifier must catch ([`scenarios`]).
//!
//! Layout: `[prefix/]AWSLogs/<account>/CloudTrail-Lake/Query/<YYYY>/<MM>/<DD>/<query id>/`.
//! The sign file lists each result file with the hex SHA-256 of its bytes as stored (gzip) and
//! signs those hashes joined by single spaces, in order, with RSA PKCS#1 v1.5 / SHA-256.
//! The published keys are the trail builder's: key A valid `[start − 10 days, start + 20 days]`,
//! key B `[start + 15 days, start + 45 days]`, `start` being the builder's start.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::archive::{Archive, Object, PublicKeyEntry};
use crate::json::{obj, J};
use crate::{fmt_time, gzip, TestKey};

/// The sign file's name.
pub const SIGN_FILE: &str = "result_sign.json";

/// Configures a saved query result.
#[derive(Clone, Debug)]
pub struct QueryResultsBuilder {
    account: String,
    region: String,
    bucket: String,
    prefix: Option<String>,
    query_id: Option<String>,
    start: DateTime<Utc>,
    complete_after: Duration,
    files: u32,
    rows_per_file: u32,
    seed: u64,
    signer: TestKey,
    spki: bool,
}

impl Default for QueryResultsBuilder {
    fn default() -> Self {
        QueryResultsBuilder::new()
    }
}

impl QueryResultsBuilder {
    /// Account `111122223333` in `us-east-1`, bucket `lake-bucket` without prefix, a query
    /// completed a day after 2024-03-01T00:00:00Z (at 2024-03-02T06:07:08Z), three result files
    /// of 20 rows, seed 1, signed with key A published in PKCS#1 form.
    pub fn new() -> Self {
        QueryResultsBuilder {
            account: "111122223333".to_owned(),
            region: "us-east-1".to_owned(),
            bucket: "lake-bucket".to_owned(),
            prefix: None,
            query_id: None,
            start: Utc
                .with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
                .single()
                .expect("a fixed valid date"),
            complete_after: Duration::days(1) + Duration::seconds(6 * 3600 + 7 * 60 + 8),
            files: 3,
            rows_per_file: 20,
            seed: 1,
            signer: TestKey::a(),
            spki: false,
        }
    }

    pub fn account(mut self, account: &str) -> Self {
        self.account = account.to_owned();
        self
    }

    /// The region written in the sign file (where its key is listed).
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.to_owned();
        self
    }

    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = bucket.to_owned();
        self
    }

    /// S3 key prefix before `AWSLogs/` (without trailing `/`).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.trim_end_matches('/').to_owned());
        self
    }

    /// The query id (default: a UUID drawn from the seed).
    pub fn query_id(mut self, id: &str) -> Self {
        self.query_id = Some(id.to_owned());
        self
    }

    /// `queryCompleteTime` is `start + after` (keys' validity derives from `start`).
    pub fn completed_after(mut self, after: Duration) -> Self {
        self.complete_after = after;
        self
    }

    /// Number of result files (at least 1).
    pub fn files(mut self, n: u32) -> Self {
        self.files = n.max(1);
        self
    }

    pub fn rows_per_file(mut self, n: u32) -> Self {
        self.rows_per_file = n;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The key that signs (its fingerprint goes in the sign file).
    pub fn signer(mut self, key: TestKey) -> Self {
        self.signer = key;
        self
    }

    /// Publish keys as SubjectPublicKeyInfo DER (fingerprints are then MD5 of that form).
    pub fn spki_keys(mut self, spki: bool) -> Self {
        self.spki = spki;
        self
    }

    /// Generates the folder.
    pub fn build(&self) -> QueryResults {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x1a4e_5eed);
        let query_id = self.query_id.clone().unwrap_or_else(|| uuid(&mut rng));
        let complete = self.start + self.complete_after;
        let mut folder = String::new();
        if let Some(p) = &self.prefix {
            folder.push_str(p);
            folder.push('/');
        }
        folder.push_str(&format!(
            "AWSLogs/{}/CloudTrail-Lake/Query/{}/{query_id}/",
            self.account,
            complete.format("%Y/%m/%d")
        ));
        let mut archive = Archive::default();
        let mut names = Vec::new();
        for i in 1..=self.files {
            let name = format!("result_{i}.csv.gz");
            let body = gzip(&csv(&mut rng, self.rows_per_file, complete, &self.region));
            archive.objects.insert(
                (self.bucket.clone(), format!("{folder}{name}")),
                Object {
                    body,
                    metadata: BTreeMap::new(),
                },
            );
            names.push(name);
        }
        let a_validity = (
            self.start - Duration::days(10),
            self.start + Duration::days(20),
        );
        let b_validity = (
            self.start + Duration::days(15),
            self.start + Duration::days(45),
        );
        archive.public_keys = vec![
            PublicKeyEntry::for_key(&TestKey::a(), self.spki, a_validity.0, a_validity.1),
            PublicKeyEntry::for_key(&TestKey::b(), self.spki, b_validity.0, b_validity.1),
        ];
        let mut results = QueryResults {
            archive,
            bucket: self.bucket.clone(),
            folder,
            query_id,
            complete_time: complete,
            region: self.region.clone(),
            names,
        };
        let files: Vec<J> = results
            .names
            .iter()
            .map(|n| {
                obj([
                    ("fileHashValue", J::from(results.file_hash(n))),
                    ("fileName", J::from(n.as_str())),
                ])
            })
            .collect();
        let message = results.string_to_sign_of(&results.names);
        let signature = hex::encode(self.signer.sign(message.as_bytes()));
        let sign = obj([
            ("region", J::from(self.region.as_str())),
            ("files", J::Arr(files)),
            ("hashAlgorithm", J::from("SHA-256")),
            ("signatureAlgorithm", J::from("SHA256withRSA")),
            ("hashSignature", J::from(signature)),
            (
                "publicKeyFingerprint",
                J::from(self.signer.published_fingerprint(self.spki)),
            ),
            ("queryCompleteTime", J::from(fmt_time(complete))),
        ]);
        results.put(SIGN_FILE, sign.to_bytes());
        results
    }
}

/// A UUID-shaped query id.
fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// CSV rows as a Lake query over CloudTrail events returns them.
fn csv(rng: &mut ChaCha8Rng, rows: u32, complete: DateTime<Utc>, region: &str) -> Vec<u8> {
    const NAMES: &[&str] = &[
        "GetObject",
        "PutObject",
        "AssumeRole",
        "ConsoleLogin",
        "DescribeInstances",
        "CreateBucket",
    ];
    let mut out = String::from("eventID,eventTime,eventName,awsRegion,sourceIPAddress\n");
    for _ in 0..rows {
        let id: [u8; 16] = rng.gen();
        let at = complete - Duration::seconds(rng.gen_range(60..86_400));
        let name = NAMES[rng.gen_range(0..NAMES.len())];
        let ip = format!(
            "{}.{}.{}.{}",
            rng.gen_range(1..224u8),
            rng.gen::<u8>(),
            rng.gen::<u8>(),
            rng.gen_range(1..255u8)
        );
        out.push_str(&format!(
            "{},{},{name},{region},{ip}\n",
            hex::encode(id),
            at.format("%Y-%m-%d %H:%M:%S%.3f")
        ));
    }
    out.into_bytes()
}

/// A saved query result: its objects in an [`Archive`] (one bucket) with the published keys.
#[derive(Clone, Debug)]
pub struct QueryResults {
    /// The folder's objects and the keys `list-public-keys` would return.
    pub archive: Archive,
    bucket: String,
    folder: String,
    query_id: String,
    complete_time: DateTime<Utc>,
    region: String,
    names: Vec<String>,
}

impl QueryResults {
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The folder's key prefix, ending with `/` (what `--s3-prefix` names).
    pub fn folder(&self) -> &str {
        &self.folder
    }

    pub fn query_id(&self) -> &str {
        &self.query_id
    }

    /// `queryCompleteTime` as generated.
    pub fn complete_time(&self) -> DateTime<Utc> {
        self.complete_time
    }

    /// The region written in the sign file.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The result files as generated, in the sign file's order.
    pub fn file_names(&self) -> &[String] {
        &self.names
    }

    /// The key of an object of the folder.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.folder)
    }

    /// The bytes of an object of the folder.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.archive
            .get(&self.bucket, &self.key(name))
            .map(|o| o.body.as_slice())
    }

    /// The sign file's bytes.
    pub fn sign_file(&self) -> &[u8] {
        self.get(SIGN_FILE)
            .unwrap_or_else(|| panic!("testkit: the sign file was deleted"))
    }

    /// The sign file parsed.
    pub fn sign_json(&self) -> Value {
        serde_json::from_slice(self.sign_file())
            .unwrap_or_else(|e| panic!("testkit: the sign file is not JSON: {e}"))
    }

    /// Hex SHA-256 of an object's stored bytes (what `fileHashValue` records).
    pub fn file_hash(&self, name: &str) -> String {
        let body = self
            .get(name)
            .unwrap_or_else(|| panic!("testkit: no object {name} in the folder"));
        hex::encode(Sha256::digest(body))
    }

    /// The string CloudTrail signs for these file names: their current hashes joined by spaces.
    fn string_to_sign_of(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.file_hash(n))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The public keys as `aws cloudtrail list-public-keys` prints them.
    pub fn public_keys_json(&self) -> String {
        self.archive.public_keys_json()
    }

    /// Adds or replaces an object of the folder.
    pub fn put(&mut self, name: &str, body: Vec<u8>) {
        self.archive.objects.insert(
            (self.bucket.clone(), self.key(name)),
            Object {
                body,
                metadata: BTreeMap::new(),
            },
        );
    }

    /// Removes an object of the folder.
    pub fn delete(&mut self, name: &str) {
        let key = self.key(name);
        self.archive.delete(&self.bucket.clone(), &key);
    }

    /// Changes one CSV character of a result file and re-gzips it: still a valid result file,
    /// another hash.
    pub fn modify_file(&mut self, name: &str) {
        let key = self.key(name);
        self.archive.modify_log(&self.bucket.clone(), &key);
    }

    /// Lets `f` edit the parsed sign file, then writes it back compactly (not re-signed).
    pub fn edit_sign(&mut self, f: impl FnOnce(&mut Value)) {
        let mut v = self.sign_json();
        f(&mut v);
        let bytes = serde_json::to_vec(&v).expect("serialising JSON cannot fail");
        self.put(SIGN_FILE, bytes);
    }

    /// Signs the sign file's current `fileHashValue`s again with `key` (its fingerprint field
    /// is left as is).
    pub fn resign(&mut self, key: &TestKey) {
        let v = self.sign_json();
        let message = v["files"]
            .as_array()
            .map(|files| {
                files
                    .iter()
                    .map(|f| f["fileHashValue"].as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let signature = hex::encode(key.sign(message.as_bytes()));
        self.edit_sign(|v| v["hashSignature"] = Value::from(signature));
    }

    /// Writes the folder's objects flat into `dir` (what `--local-export-path` reads).
    pub fn write_folder(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        for ((bucket, key), object) in &self.archive.objects {
            if bucket != &self.bucket {
                continue;
            }
            if let Some(name) = key.strip_prefix(&self.folder) {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(path, &object.body)?;
            }
        }
        Ok(())
    }
}

/// One tampered (or clean) query result, named after what was done.
#[derive(Clone, Debug)]
pub struct LakeScenario {
    pub name: &'static str,
    pub description: &'static str,
    pub results: QueryResults,
}

/// Every scenario, built from `base`.
///
/// Panics only on a base whose folder has fewer than two result files.
pub fn scenarios(base: &QueryResultsBuilder) -> Vec<LakeScenario> {
    let clean = base.build();
    assert!(
        clean.file_names().len() >= 2,
        "testkit: lake scenarios need at least two result files"
    );
    let first = clean.file_names()[0].clone();
    let second = clean.file_names()[1].clone();
    let mut out = Vec::new();
    let mut push =
        |name: &'static str, description: &'static str, f: &dyn Fn(&mut QueryResults)| {
            let mut results = clean.clone();
            f(&mut results);
            out.push(LakeScenario {
                name,
                description,
                results,
            });
        };
    push("clean", "As CloudTrail wrote it.", &|_| {});
    push(
        "modified-file",
        "One CSV character of the first result file changed (re-gzipped).",
        &|r| r.modify_file(&first),
    );
    push("deleted-file", "The second result file deleted.", &|r| {
        r.delete(&second)
    });
    push(
        "extra-unlisted-file",
        "A result_9.csv.gz the sign file does not list.",
        &|r| {
            r.put(
                "result_9.csv.gz",
                gzip(b"eventID,eventTime\nforged,2024-03-02\n"),
            )
        },
    );
    push(
        "swapped-file-order",
        "The first two entries of the sign file's files list swapped (the signed string changes).",
        &|r| {
            r.edit_sign(|v| {
                if let Some(files) = v["files"].as_array_mut() {
                    files.swap(0, 1);
                }
            })
        },
    );
    push(
        "swapped-file-contents",
        "The bytes of the first two result files swapped.",
        &|r| {
            let a = r.get(&first).map(<[u8]>::to_vec).unwrap_or_default();
            let b = r.get(&second).map(<[u8]>::to_vec).unwrap_or_default();
            r.put(&first, b);
            r.put(&second, a);
        },
    );
    push(
        "wrong-fingerprint",
        "publicKeyFingerprint names key B (published, not the signer).",
        &|r| {
            let fp = TestKey::b().fingerprint();
            r.edit_sign(|v| v["publicKeyFingerprint"] = Value::from(fp));
        },
    );
    push(
        "unknown-fingerprint",
        "Signed by a key CloudTrail never published, under its fingerprint.",
        &|r| {
            let unknown = TestKey::unknown();
            let fp = unknown.fingerprint();
            r.edit_sign(|v| v["publicKeyFingerprint"] = Value::from(fp));
            r.resign(&unknown);
        },
    );
    push(
        "key-out-of-validity",
        "queryCompleteTime moved to about 15 days before key A's validity starts (not a signed \
         field): the AWS CLI's window [t, t + 20 days] still lists key A.",
        &|r| {
            let t = r.complete_time() - Duration::days(26);
            r.edit_sign(|v| v["queryCompleteTime"] = Value::from(fmt_time(t)));
        },
    );
    push("bad-hex-signature", "hashSignature is not hex.", &|r| {
        r.edit_sign(|v| {
            let s = v["hashSignature"].as_str().unwrap_or("").to_owned();
            v["hashSignature"] = Value::from(format!("zz{}", &s[2.min(s.len())..]));
        })
    });
    push(
        "corrupt-signature",
        "One hex digit of hashSignature changed.",
        &|r| {
            r.edit_sign(|v| {
                let mut s = v["hashSignature"].as_str().unwrap_or("").to_owned();
                let i = s.len() / 2;
                let c = if s.as_bytes().get(i) == Some(&b'0') {
                    "1"
                } else {
                    "0"
                };
                s.replace_range(i..i + 1, c);
                v["hashSignature"] = Value::from(s);
            })
        },
    );
    push(
        "wrong-algorithms",
        "hashAlgorithm MD5 and signatureAlgorithm SHA1withRSA (not signed fields).",
        &|r| {
            r.edit_sign(|v| {
                v["hashAlgorithm"] = Value::from("MD5");
                v["signatureAlgorithm"] = Value::from("SHA1withRSA");
            })
        },
    );
    push(
        "unsafe-file-name",
        "A validly signed sign file whose second fileName is ../result_2.csv.gz.",
        &|r| {
            r.edit_sign(|v| v["files"][1]["fileName"] = Value::from(format!("../{second}")));
        },
    );
    push("empty-files", "files is an empty list.", &|r| {
        r.edit_sign(|v| v["files"] = Value::Array(Vec::new()))
    });
    push(
        "everything-at-once",
        "First file modified, second deleted, an unlisted file, wrong algorithms: every problem \
         is reported (the AWS CLI stops at the first).",
        &|r| {
            r.modify_file(&first);
            r.delete(&second);
            r.put("notes.txt", b"added later".to_vec());
            r.edit_sign(|v| v["hashAlgorithm"] = Value::from("MD5"));
        },
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_file_signs_the_stored_hashes_in_order() {
        let r = QueryResultsBuilder::new().build();
        let v = r.sign_json();
        let files = v["files"].as_array().unwrap();
        assert_eq!(files.len(), 3);
        for (f, name) in files.iter().zip(r.file_names()) {
            assert_eq!(f["fileName"], name.as_str());
            assert_eq!(f["fileHashValue"], r.file_hash(name).as_str());
        }
        assert_eq!(
            v["publicKeyFingerprint"],
            TestKey::a().fingerprint().as_str()
        );
        assert_eq!(v["queryCompleteTime"], "2024-03-02T06:07:08Z");
        assert!(r
            .folder()
            .starts_with("AWSLogs/111122223333/CloudTrail-Lake/Query/2024/03/02/"));
        let message = r.string_to_sign_of(r.file_names());
        assert_eq!(message.matches(' ').count(), 2);
        let sig = hex::decode(v["hashSignature"].as_str().unwrap()).unwrap();
        assert_eq!(sig, TestKey::a().sign(message.as_bytes()));
        // Deterministic.
        assert_eq!(
            r.sign_file(),
            QueryResultsBuilder::new().build().sign_file()
        );
    }

    #[test]
    fn scenarios_differ_from_the_clean_folder() {
        let all = scenarios(&QueryResultsBuilder::new());
        let clean = &all[0].results;
        for s in &all[1..] {
            assert_ne!(
                s.results.archive.objects, clean.archive.objects,
                "{} changes nothing",
                s.name
            );
        }
    }
}
