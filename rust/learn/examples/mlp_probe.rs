//! Times MLP training epochs without Python: `cargo run --profile profiling -p
//! mlkern-learn --example mlp_probe [-- rows hidden batch threads layers]`
//! (defaults 200000 64 256 2 1: `layers` hidden layers of `hidden` units), synthetic float32 data with 32 features, one logistic output,
//! Adam; prints the median epoch time of 7.

use std::time::Instant;

use mlkern_learn::mlp::{self, Activation, Data, Head, Net, OptState, Scratch, Settings, Solver};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(200_000);
    let hidden = args.get(1).copied().unwrap_or(64);
    let batch = args.get(2).copied().unwrap_or(256);
    let threads = args.get(3).copied().unwrap_or(2);
    let layers = args.get(4).copied().unwrap_or(1).max(1);
    mlkern_core::threads::set_num_threads(threads).expect("threads");
    let d = 32;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let x: Vec<f32> = (0..n * d).map(|_| next()).collect();
    let y: Vec<f32> = (0..n).map(|i| f32::from(x[i * d] + x[i * d + 1] > 0.0)).collect();
    let mut units = vec![d];
    units.extend(std::iter::repeat_n(hidden, layers));
    units.push(1);
    let np: usize = units.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let mut w: Vec<f32> = (0..np).map(|_| next() * 0.3).collect();
    let (mut m, mut v) = (vec![0.0f32; np], vec![0.0f32; np]);
    let net = Net { units: &units, hidden: Activation::Relu, head: Head::Logistic };
    let s = Settings {
        alpha: 1e-4,
        batch_size: batch,
        solver: Solver::Adam { learning_rate_init: 1e-3, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8 },
    };
    let data = Data { x: &x, y: &y, sw: None, n };
    let mut scratch = Scratch::<f32>::new(&net, batch).expect("scratch");
    let order: Vec<u32> = (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761)) % n as u32).collect();
    let mut times = Vec::new();
    for _ in 0..7 {
        let mut st = OptState { m: &mut m, v: &mut v, t: 0 };
        let t = Instant::now();
        mlp::epoch(&net, &data, &order, &s, &mut w, &mut st, &mut scratch, threads, &|| true).expect("epoch");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "mlp epoch: {n} rows, (32, {hidden}, 1), batch {batch}, {threads} threads: median {:.2} ms",
        times[3] * 1e3
    );
}
