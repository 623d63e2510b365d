//! The gallery: the store (subjects, encrypted templates) and the in-memory index kept in step.
//!
//! Every write takes one lock around "write the store, then update the index", so that the index
//! never holds a face the store lost, or misses one it acknowledged, however writes interleave.
//! Searches only take the index's read lock.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use facenet_store::{AuditCtx, FaceRecord, Store};

use crate::error::ApiError;
use crate::index::{Hit, Index};

pub struct Gallery {
    pub store: Arc<dyn Store>,
    /// Written into each template's AAD; templates of another model are not comparable.
    pub model_version: String,
    index: RwLock<Index>,
    write: Mutex<()>,
    /// Templates left out of the index at start because another model made them.
    pub stale: usize,
}

impl Gallery {
    /// Decrypts every template of `model_version` into the index. A template that fails to
    /// decrypt stops the start: the store has been tampered with or the master key is wrong.
    pub fn open(
        store: Arc<dyn Store>,
        model_version: String,
        dim: usize,
    ) -> Result<Self, facenet_store::Error> {
        let mut index = Index::new(dim);
        let mut stale = 0;
        for t in store.all_templates()? {
            if t.model_version != model_version
                || !index.insert(&t.face_id, &t.subject_id, &t.embedding)
            {
                stale += 1;
            }
        }
        if stale > 0 {
            tracing::warn!(
                stale,
                model_version,
                "templates from another model are not searchable; re-enroll them"
            );
        }
        tracing::info!(faces = index.len(), "gallery index loaded");
        Ok(Gallery {
            store,
            model_version,
            index: RwLock::new(index),
            write: Mutex::new(()),
            stale,
        })
    }

    fn lock_write(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave the index half-updated in a way a later
        // write would make worse, so a poisoned lock is taken over.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> T {
        let mut ix = self.index.write().unwrap_or_else(|p| p.into_inner());
        f(&mut ix)
    }

    pub fn len(&self) -> usize {
        self.index.read().map_or(0, |ix| ix.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn search(&self, query: &[f32], limit: usize, max_distance: f32) -> Vec<Hit> {
        self.index
            .read()
            .map(|ix| ix.search(query, limit, max_distance))
            .unwrap_or_default()
    }

    /// Face ids and subjects in the index, sorted, for consistency checks.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.index.read().map_or_else(
            |_| Vec::new(),
            |ix| {
                ix.entries()
                    .map(|(f, s)| (f.to_owned(), s.to_owned()))
                    .collect()
            },
        );
        v.sort();
        v
    }

    pub fn enroll(
        &self,
        ctx: &AuditCtx,
        subject_id: &str,
        embedding: &[f32],
        bbox: [f32; 4],
    ) -> Result<FaceRecord, ApiError> {
        let _w = self.lock_write();
        let rec = self
            .store
            .add_face(ctx, subject_id, embedding, &self.model_version, bbox)?;
        if !self.with_index(|ix| ix.insert(&rec.id, subject_id, embedding)) {
            // The pipeline's embeddings are finite and of the model's size, so this is a bug;
            // the face is stored and will load at the next start.
            tracing::error!(face = rec.id, "enrolled template refused by the index");
        }
        Ok(rec)
    }

    pub fn delete_face(&self, ctx: &AuditCtx, face_id: &str) -> Result<FaceRecord, ApiError> {
        let _w = self.lock_write();
        let rec = self.store.delete_face(ctx, face_id)?;
        self.with_index(|ix| ix.remove(&rec.id));
        Ok(rec)
    }

    pub fn delete_subject(&self, ctx: &AuditCtx, subject_id: &str) -> Result<usize, ApiError> {
        let _w = self.lock_write();
        let n = self.store.delete_subject(ctx, subject_id)?;
        self.with_index(|ix| ix.remove_subject(subject_id));
        Ok(n)
    }
}
