use testbed_fidelity::{sim_side, RowId};
use testbed_sim::Fidelity;
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    for &row in RowId::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == row.name()) {
            continue;
        }
        for f in [Fidelity::Stream, Fidelity::Packet] {
            let t = std::time::Instant::now();
            let o = sim_side::measure(row, f);
            println!(
                "{:<20} {:?} {:?} {:<12} {}  ({:.2}s wall)",
                row.name(),
                f,
                o.value,
                o.outcome,
                o.detail,
                t.elapsed().as_secs_f64()
            );
        }
    }
}
