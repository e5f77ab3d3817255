//! [`DeviceStore`] in memory: for tests, and for bridges that re-pair on
//! every start.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{DeviceStore, StoreError};
use crate::device::DeviceState;

/// A [`DeviceStore`] holding the state in memory.
#[derive(Debug, Default)]
pub struct MemoryDeviceStore {
    state: Mutex<Option<DeviceState>>,
}

impl MemoryDeviceStore {
    /// An empty store.
    pub fn new() -> MemoryDeviceStore {
        MemoryDeviceStore::default()
    }

    fn slot(&self) -> Result<std::sync::MutexGuard<'_, Option<DeviceState>>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Corrupt("memory store lock poisoned".to_owned()))
    }
}

#[async_trait]
impl DeviceStore for MemoryDeviceStore {
    async fn load(&self) -> Result<Option<DeviceState>, StoreError> {
        Ok(self.slot()?.clone())
    }

    async fn save(&self, state: &DeviceState) -> Result<(), StoreError> {
        *self.slot()? = Some(state.clone());
        Ok(())
    }

    async fn delete(&self) -> Result<(), StoreError> {
        *self.slot()? = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        let store = MemoryDeviceStore::new();
        let result = crate::store::conformance_device_store(&store).await;
        assert!(result.is_ok(), "{result:?}");
    }
}
