//! Times the forward pass: `cargo run --release -p mlkern-attention --example
//! attention_probe -- [seq] [threads]` prints GFLOP/s for full and causal
//! attention at batch 1, 8 heads, dim 64 (median of 7 runs).

use std::time::Instant;

use mlkern_attention::{forward, Dims, Elems, OutElems, Problem};
use mlkern_core::threads::set_num_threads;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seq = args.first().copied().unwrap_or(2048);
    let threads = args.get(1).copied().unwrap_or(1);
    set_num_threads(threads).expect("threads");
    let (h, d) = (8, 64);
    let n = h * seq * d;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let bits: Vec<u16> = x.iter().map(|&v| mlkern_core::halfconv::f32_to_bf16(v)).collect();
    let dims = Dims { batch: 1, heads: h, sq: seq, sk: seq, d, dv: d };
    let mut out = vec![0f32; n];
    for (name, causal, half) in [("full", false, false), ("causal", true, false), ("bf16 full", false, true)] {
        let e = if half { Elems::Bf16(&bits) } else { Elems::F32(&x) };
        let p = Problem::new(e, e, e, dims, None, causal, None).expect("problem");
        let mut times = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            forward(&p, OutElems::F32(&mut out), threads, &|| false).expect("forward");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let full_flops = 4.0 * (h * seq * seq * d) as f64;
        println!(
            "seq {seq} {threads}t {name:>9}: {:8.3} ms  {:6.1} GFLOP/s (of full's count)",
            times[3] * 1e3,
            full_flops / times[3] / 1e9
        );
    }
}
