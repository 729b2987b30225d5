// Rust with a generic function and a method, for demangling (legacy and v0).
// Runs for the seconds given as its argument.
use std::time::{Duration, Instant};

pub struct Point {
    x: f64,
    y: f64,
}

impl Point {
    #[inline(never)]
    pub fn norm_loop(&self, n: u32) -> f64 {
        let mut acc = 0.0;
        for i in 0..n {
            acc += (self.x * self.x + self.y * self.y + i as f64).sqrt();
        }
        acc
    }
}

#[inline(never)]
fn spin_generic<T: Into<f64> + Copy>(v: T, n: u32) -> f64 {
    let p = Point { x: v.into(), y: 2.0 };
    p.norm_loop(n)
}

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    println!("pid {}", std::process::id());
    let end = Instant::now() + Duration::from_secs(secs);
    let mut total = 0.0;
    while Instant::now() < end {
        total += spin_generic(3.0f32, 100_000);
    }
    std::process::exit((total as i64 & 1) as i32);
}
