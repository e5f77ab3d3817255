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
        let guard = lock.lock_owned().await;
        KeyGuard {
            owner: self,
            key,
            guard: Some(guard),
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
        let mut locks = self.owner.map();
        // Only the map holds it now: nobody holds or waits for the key.
        if locks
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.key);
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
}
