//! [`MemoryStore`]: objects held in memory.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::ops::ControlFlow;

use super::{Object, ObjectReader, ObjectStore};
use crate::StoreError;

/// Objects kept in memory: tests, fuzzing, and embedders that already hold the bytes. Keys are
/// held exactly as given, whatever they contain.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    objects: BTreeMap<String, BTreeMap<String, Object>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an object.
    pub fn put(&mut self, bucket: &str, key: &str, object: Object) {
        self.objects
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
    }

    /// Removes an object.
    pub fn remove(&mut self, bucket: &str, key: &str) -> Option<Object> {
        self.objects.get_mut(bucket)?.remove(key)
    }

    fn object(&self, bucket: &str, key: &str) -> Result<&Object, StoreError> {
        self.objects
            .get(bucket)
            .and_then(|b| b.get(key))
            .ok_or_else(|| StoreError::NotFound {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
    }
}

impl FromIterator<((String, String), Object)> for MemoryStore {
    fn from_iter<I: IntoIterator<Item = ((String, String), Object)>>(objects: I) -> Self {
        let mut store = MemoryStore::new();
        for ((bucket, key), object) in objects {
            store.put(&bucket, &key, object);
        }
        store
    }
}

impl ObjectStore for MemoryStore {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let Some(objects) = self.objects.get(bucket) else {
            return Err(StoreError::NoSuchBucket {
                bucket: bucket.to_owned(),
                reason: "no such bucket".to_owned(),
            });
        };
        let from = if start_after < prefix {
            prefix
        } else {
            start_after
        };
        for key in objects.range(from.to_owned()..).map(|(k, _)| k) {
            if key.as_str() <= start_after {
                continue;
            }
            if !key.starts_with(prefix) {
                break;
            }
            if each(key).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        let object = self.object(bucket, key)?;
        if object.bytes.len() as u64 > limit {
            return Err(StoreError::TooLarge {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                limit,
            });
        }
        Ok(object.clone())
    }

    fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, StoreError> {
        Ok(Box::new(Cursor::new(
            self.object(bucket, key)?.bytes.clone(),
        )))
    }

    fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.object(bucket, key)?.bytes.len() as u64))
    }
}
