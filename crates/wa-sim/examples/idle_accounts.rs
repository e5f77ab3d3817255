//! Memory of the simulator with many idle accounts: starts a simulator,
//! creates N accounts (each with a phone holding a Signal store and 50
//! published prekeys), and prints the process RSS before and after.
//!
//!     cargo run --release -p wa-sim --example idle_accounts -- 1000

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let sim = wa_sim::Sim::start(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let before = rss_kib();
    let started = std::time::Instant::now();
    for i in 0..n {
        let _phone = sim.account(&format!("1555{i:07}"));
    }
    let took = started.elapsed();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let after = rss_kib();
    println!("accounts: {n}");
    println!("rss before: {before} KiB");
    println!("rss after:  {after} KiB");
    println!(
        "per account: {:.1} KiB",
        (after.saturating_sub(before)) as f64 / n.max(1) as f64
    );
    println!("created in: {:.2?}", took);
    Ok(())
}
