//! `bench-auth`: the CPU cost of authentication, measured in-process (no server, no network).
//!
//! 1. Login rate: argon2id verifications per second at the given parameters (by default the
//!    crate's, OWASP's argon2id minimum), on one thread and on `--threads` threads (by default
//!    the available parallelism), and the time of one verification.
//! 2. Request authentication: verifying an HS256 access token and checking its role, the work
//!    the edge adds to every request. Reported as the average per operation over
//!    `--verifications` runs on one thread, and as the p50/p99 of per-batch averages. The target
//!    (issue 5) is at most 50 µs of CPU per verification.
//!
//! Wall time comes from `std::time::Instant`; where Linux exposes it, the thread's own CPU time
//! (`/proc/thread-self/schedstat`) is printed beside it, since a busy machine inflates wall time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agora_auth::{
    has_any_role, AccessClaims, Argon2Params, HmacKey, PasswordHasher, TokenKeys,
    ACCESS_TOKEN_TTL_SECS,
};
use anyhow::{ensure, Context};
use clap::Parser;

/// The access-token target of issue 5, in microseconds of CPU per verification.
const TARGET_US_PER_VERIFICATION: f64 = 50.0;

#[derive(Parser, Debug)]
#[command(
    name = "bench-auth",
    about = "Login rate (argon2id) and access-token verification cost, in-process"
)]
struct Args {
    /// argon2id memory per hash, in KiB.
    #[arg(long, default_value_t = Argon2Params::default().memory_kib)]
    memory_kib: u32,
    /// argon2id passes over the memory.
    #[arg(long, default_value_t = Argon2Params::default().iterations)]
    iterations: u32,
    /// argon2id lanes.
    #[arg(long, default_value_t = Argon2Params::default().parallelism)]
    parallelism: u32,
    /// Password verifications per thread in each login-rate run.
    #[arg(long, default_value_t = 20)]
    logins_per_thread: u32,
    /// Threads of the all-cores login run (default: the available parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// Access-token verifications (single thread).
    #[arg(long, default_value_t = 100_000)]
    verifications: u32,
    /// Verifications per batch; the p99 is over the batches' averages.
    #[arg(long, default_value_t = 1_000)]
    batch: u32,
    /// Skip the login-rate part (it takes seconds per thread).
    #[arg(long)]
    skip_login: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.logins_per_thread > 0,
        "--logins-per-thread must be > 0"
    );
    ensure!(
        args.batch > 0 && args.verifications >= args.batch,
        "--verifications must be at least --batch, and --batch > 0"
    );
    let threads = match args.threads {
        Some(n) => n.max(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if !args.skip_login {
        login_rate(&args, threads)?;
    }
    token_verification(&args)
}

/// argon2id verifications per second on one thread and on `threads` threads.
fn login_rate(args: &Args, threads: usize) -> anyhow::Result<()> {
    let params = Argon2Params {
        memory_kib: args.memory_kib,
        iterations: args.iterations,
        parallelism: args.parallelism,
    };
    let hasher = PasswordHasher::new(params)
        .map_err(anyhow::Error::new)
        .context("argon2id parameters (they must meet the OWASP minimum)")?;
    let password = "violet tractor sings at dawn";
    let phc = hasher.hash(password).map_err(anyhow::Error::new)?;
    println!("== login rate: argon2id verifications");
    println!(
        "parameters: m = {} KiB ({:.1} MiB), t = {}, p = {}, output 32 bytes, salt 16 bytes",
        params.memory_kib,
        f64::from(params.memory_kib) / 1024.0,
        params.iterations,
        params.parallelism
    );
    println!(
        "phc prefix: {}",
        phc.split('$').take(4).collect::<Vec<_>>().join("$")
    );
    // Warm-up: page in the memory allocator's arenas and the code.
    ensure!(
        hasher.verify(password, &phc),
        "the warm-up verification failed"
    );

    let run = |n: u32| -> anyhow::Result<(Duration, Option<Duration>)> {
        let cpu_start = thread_cpu_time();
        let start = Instant::now();
        for _ in 0..n {
            ensure!(
                hasher.verify(black_box(password), black_box(&phc)),
                "verify failed"
            );
        }
        let wall = start.elapsed();
        let cpu = cpu_start
            .zip(thread_cpu_time())
            .map(|(a, b)| b.saturating_sub(a));
        Ok((wall, cpu))
    };

    let n = args.logins_per_thread;
    let (wall, cpu) = run(n)?;
    let per_verify = wall / n;
    println!(
        "1 thread:  {n} verifications in {:.2} s = {:.1}/s; one verification {:.1} ms wall{}",
        wall.as_secs_f64(),
        f64::from(n) / wall.as_secs_f64(),
        ms(per_verify),
        cpu.map_or(String::new(), |cpu| format!(", {:.1} ms CPU", ms(cpu / n)))
    );

    let start = Instant::now();
    let results: Vec<anyhow::Result<(Duration, Option<Duration>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| run(n))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a login thread panicked")))
            })
            .collect()
    });
    let wall = start.elapsed();
    let mut cpu_total = Some(Duration::ZERO);
    for result in results {
        let (_, cpu) = result?;
        cpu_total = cpu_total.zip(cpu).map(|(a, b)| a + b);
    }
    let total = f64::from(n) * threads as f64;
    println!(
        "{threads} threads: {total} verifications in {:.2} s = {:.1}/s{}",
        wall.as_secs_f64(),
        total / wall.as_secs_f64(),
        cpu_total.map_or(String::new(), |cpu| format!(
            "; {:.1} ms CPU per verification",
            cpu.as_secs_f64() * 1e3 / total
        ))
    );
    println!();
    Ok(())
}

/// HS256 access-token verification plus a role check, single thread.
fn token_verification(args: &Args) -> anyhow::Result<()> {
    let keys = TokenKeys::new(
        "https://agora.bench",
        "agora-api",
        HmacKey::generate("bench-2").map_err(anyhow::Error::new)?,
        vec![HmacKey::generate("bench-1").map_err(anyhow::Error::new)?],
    )
    .map_err(anyhow::Error::new)?;
    let now: i64 = 1_800_000_000;
    let claims: AccessClaims = keys.new_claims(
        "6a1f4f0e-8a4b-4c1e-9a51-0d6f3f4e2b10",
        vec!["customer".to_string()],
        "bench-session",
        now,
    );
    let token = keys.issue(&claims);
    println!("== access token: verify (HS256, kid lookup, iss/aud/exp/nbf/iat) + role check");
    println!(
        "token {} bytes, lifetime {ACCESS_TOKEN_TTL_SECS} s, {} verifications in batches of {}, 1 thread",
        token.len(),
        args.verifications,
        args.batch
    );

    let verify_once = || -> anyhow::Result<()> {
        let verified = keys
            .verify(black_box(&token), black_box(now + 1))
            .map_err(anyhow::Error::new)?;
        ensure!(
            has_any_role(&verified, black_box(&["customer", "admin"])),
            "role check failed"
        );
        black_box(verified);
        Ok(())
    };
    for _ in 0..args.batch {
        verify_once()?;
    }

    let batches = args.verifications / args.batch;
    let mut batch_us = Vec::with_capacity(batches as usize);
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    for _ in 0..batches {
        let batch_start = Instant::now();
        for _ in 0..args.batch {
            verify_once()?;
        }
        batch_us.push(batch_start.elapsed().as_secs_f64() * 1e6 / f64::from(args.batch));
    }
    let wall = start.elapsed();
    let cpu = cpu_start
        .zip(thread_cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    let ops = f64::from(batches * args.batch);
    let avg_us = wall.as_secs_f64() * 1e6 / ops;
    batch_us.sort_by(f64::total_cmp);
    println!(
        "average {avg_us:.2} µs/op wall{}; per-batch average p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs",
        cpu.map_or(String::new(), |cpu| format!(
            ", {:.2} µs/op CPU",
            cpu.as_secs_f64() * 1e6 / ops
        )),
        percentile(&batch_us, 0.50),
        percentile(&batch_us, 0.99),
        batch_us.last().copied().unwrap_or_default()
    );
    let measured = cpu.map_or(avg_us, |cpu| cpu.as_secs_f64() * 1e6 / ops);
    println!(
        "target ≤ {TARGET_US_PER_VERIFICATION} µs CPU per verification: {} ({measured:.2} µs)",
        if measured <= TARGET_US_PER_VERIFICATION {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// The value at quantile `q` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time consumed so far by the calling thread, from Linux's schedstat (nanoseconds on CPU
/// as its first field); `None` where it is not available.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
