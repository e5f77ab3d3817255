//! Locks by key: work on one key (a login's chat) waits for other work on
//! the same key only, never for work on other keys. An entry lives while
//! someone holds or waits for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// One async lock per key, made on first use and dropped when unused.
#[derive(Debug)]
pub struct KeyedLocks<K> {
    locks: Mutex<HashMap<K, Arc<AsyncMutex<()>>>>,
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        KeyedLocks {
            locks: Mutex::new(HashMap::new()),
        }
    }
}

/// Held while the key's work runs; dropping it lets the next waiter in.
#[derive(Debug)]
pub struct KeyGuard<'a, K: Hash + Eq + Clone> {
    owner: &'a KeyedLocks<K>,
    key: K,
    guard: Option<OwnedMutexGuard<()>>,
}

impl<K: Hash + Eq + Clone> KeyedLocks<K> {
    /// Waits for `key`'s lock. The map is locked only to find the entry,
    /// never across the wait.
    pub async fn lock(&self, key: K) -> KeyGuard<'_, K> {
        let lock = {
            let mut locks = self.map();
            locks.entry(key.clone()).or_default().clone()
        };
        // If this wait is given up (its future dropped), the entry it
        // kept alive goes with it unless someone else holds or waits.
        let mut waiting = Waiting {
            owner: self,
            key,
            lock: Some(lock.clone()),
        };
        let guard = lock.lock_owned().await;
        waiting.lock = None;
        KeyGuard {
            owner: self,
            key: waiting.key.clone(),
            guard: Some(guard),
        }
    }

    /// Drops `key`'s entry when only the map holds it: nobody holds or
    /// waits for the key.
    fn tidy(&self, key: &K) {
        let mut locks = self.map();
        if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(key);
        }
    }

    /// How many keys have an entry (held or waited for).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no key is held or waited for.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<AsyncMutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> Drop for KeyGuard<'_, K> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.owner.tidy(&self.key);
    }
}

/// A wait for a key's lock in progress.
struct Waiting<'a, K: Hash + Eq + Clone> {
    owner: &'a KeyedLocks<K>,
    key: K,
    /// Set until the lock is had.
    lock: Option<Arc<AsyncMutex<()>>>,
}

impl<K: Hash + Eq + Clone> Drop for Waiting<'_, K> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            drop(lock);
            self.owner.tidy(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_key_waits_for_itself_only_and_entries_go() {
        let locks = Arc::new(KeyedLocks::<String>::default());
        let held = locks.lock("a".to_owned()).await;
        // Another key is free at once.
        let other = tokio::time::timeout(Duration::from_secs(1), locks.lock("b".to_owned()))
            .await
            .expect("another key does not wait");
        drop(other);
        // The same key waits until the holder is done.
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.lock("a".to_owned()).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the same key waits");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the waiter gets the key")
            .expect("no panic");
        assert!(locks.is_empty(), "unused keys leave no entry");
    }

    #[tokio::test]
    async fn a_wait_given_up_leaves_no_entry() {
        let locks = KeyedLocks::<String>::default();
        // Given up while the key is held.
        let held = locks.lock("a".to_owned()).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), locks.lock("a".to_owned())).await;
        assert!(gave_up.is_err(), "the key is held");
        drop(held);
        assert!(locks.is_empty(), "the given-up wait left no entry");
        // Given up after the holder let go but before it was woken: the
        // holder saw a waiter and kept the entry for it.
        let held = locks.lock("b".to_owned()).await;
        let mut wait = Box::pin(locks.lock("b".to_owned()));
        let polled = tokio::time::timeout(Duration::from_millis(20), &mut wait).await;
        assert!(polled.is_err(), "it waits");
        drop(held);
        assert_eq!(locks.len(), 1, "kept for the waiter");
        drop(wait);
        assert!(locks.is_empty(), "and gone with it");
    }
}
