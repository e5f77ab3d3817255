//! One queue per portal room for what the user sends from Matrix. The
//! homeserver's transaction is answered as soon as its events are queued
//! (and kept in the database, so a crash loses none: `outbound_events`);
//! the events of one room go out in order, and a big upload in one room
//! holds up no other room (nor the next transaction).
//!
//! A room's worker ends after a while without events and starts again with
//! the next one. At shutdown [`Queues::drain`] lets every worker finish
//! what it holds.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a queue does with each item.
pub type Run<T> = fn(T) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Queues by key (a room id), each worked through in order by its own task.
pub struct Queues<T> {
    run: Run<T>,
    idle: Duration,
    rooms: Arc<Mutex<Rooms<T>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// Each key's live queue, with the id of its worker.
type Rooms<T> = HashMap<String, (u64, mpsc::UnboundedSender<T>)>;

impl<T> std::fmt::Debug for Queues<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("rooms", &lock(&self.rooms).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T: Send + 'static> Queues<T> {
    /// Queues that `run` each item; a worker idle for `idle` ends.
    pub fn new(run: Run<T>, idle: Duration) -> Queues<T> {
        Queues {
            run,
            idle,
            rooms: Arc::default(),
            workers: Mutex::default(),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Queues `item` behind everything queued for `key`.
    pub fn push(&self, key: &str, item: T) {
        let mut rooms = lock(&self.rooms);
        let item = match rooms.get(key) {
            Some((_, tx)) => match tx.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => item,
            },
            None => item,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel with its receiver alive: this send succeeds.
        let _ = tx.send(item);
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rooms.insert(key.to_owned(), (id, tx));
        drop(rooms);
        let worker = tokio::spawn(work(
            self.run,
            self.idle,
            (key.to_owned(), id),
            rx,
            self.rooms.clone(),
        ));
        let mut workers = lock(&self.workers);
        workers.retain(|w| !w.is_finished());
        workers.push(worker);
    }

    /// Lets every worker finish what it holds (waiting at most `limit`);
    /// true if all did.
    pub async fn drain(&self, limit: Duration) -> bool {
        lock(&self.rooms).clear();
        let workers = std::mem::take(&mut *lock(&self.workers));
        tokio::time::timeout(limit, async {
            for w in workers {
                let _ = w.await;
            }
        })
        .await
        .is_ok()
    }
}

async fn work<T>(
    run: Run<T>,
    idle: Duration,
    (key, id): (String, u64),
    mut rx: mpsc::UnboundedReceiver<T>,
    rooms: Arc<Mutex<Rooms<T>>>,
) {
    loop {
        let item = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => return,
            Err(_) => {
                // Idle. Pushes hold the map's lock while they send, so under
                // it nothing can slip in between this check and the removal.
                let mut all = lock(&rooms);
                match rx.try_recv() {
                    Ok(item) => item,
                    Err(_) => {
                        if all.get(&key).is_some_and(|(live, _)| *live == id) {
                            all.remove(&key);
                        }
                        return;
                    }
                }
            }
        };
        run(item).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// (room, item) in the order they were run.
    static LOG: StdMutex<Vec<(String, u32)>> = StdMutex::new(Vec::new());
    /// Room "slow" waits while this is set.
    static HOLD: AtomicBool = AtomicBool::new(false);

    fn run(item: (String, u32)) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            while item.0 == "slow" && HOLD.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lock(&LOG).push(item);
        })
    }

    fn ran(room: &str) -> Vec<u32> {
        lock(&LOG)
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, n)| *n)
            .collect()
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        for _ in 0..400 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("not in time: {what}");
    }

    #[tokio::test]
    async fn a_held_room_holds_up_no_other_and_each_keeps_its_order() {
        let queues = Queues::new(run, Duration::from_millis(50));
        HOLD.store(true, Ordering::SeqCst);
        for n in 0..3 {
            queues.push("slow", ("slow".to_owned(), n));
        }
        for n in 0..100 {
            queues.push("fast", ("fast".to_owned(), n));
        }
        until("the other room is done", || ran("fast").len() == 100).await;
        assert_eq!(ran("fast"), (0..100).collect::<Vec<_>>(), "in order");
        assert!(ran("slow").is_empty(), "the held room is still held");
        HOLD.store(false, Ordering::SeqCst);
        until("the held room is done", || ran("slow").len() == 3).await;
        assert_eq!(ran("slow"), [0, 1, 2]);

        // Idle workers end; the next push starts a new one.
        until("idle workers end", || lock(&queues.rooms).is_empty()).await;
        queues.push("fast", ("fast".to_owned(), 100));
        until("a new worker runs it", || ran("fast").len() == 101).await;

        // Drain runs what is queued before it returns.
        HOLD.store(true, Ordering::SeqCst);
        queues.push("slow", ("slow".to_owned(), 3));
        let drained = tokio::spawn(async move {
            let done = queues.drain(Duration::from_secs(10)).await;
            (done, ran("slow"))
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        HOLD.store(false, Ordering::SeqCst);
        let (done, slow) = drained.await.unwrap();
        assert!(done);
        assert_eq!(slow, [0, 1, 2, 3], "drain waited for the queued item");
    }
}
