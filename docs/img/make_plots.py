"""Draws the benchmark figures of docs/benchmarks.md (numbers measured on
the project's machine, copied from that page). Run: python3 docs/img/make_plots.py
(needs matplotlib)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = "docs/img/"

# Memory per parked unit (cargo bench --bench parked).
kinds = ["moss green thread\n(1,000,000 parked)", "may coroutine\n(30,000 parked)", "OS thread\n(10,000 parked)"]
kib = [4.45, 8.51, 9.61]
vmas = [9, 60012, 40030]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
bars = left.bar(kinds, kib, color=["#2a7", "#999", "#c66"])
left.set_ylabel("resident KiB per parked unit")
left.set_title("Memory per parked unit")
left.bar_label(bars, fmt="%.2f")
bars = right.bar(kinds, vmas, color=["#2a7", "#999", "#c66"])
right.set_yscale("log")
right.set_ylabel("memory mappings added (log)")
right.set_title("Mappings (vm.max_map_count = 65,530)")
right.bar_label(bars)
fig.tight_layout()
fig.savefig(HERE + "parked.png", dpi=110)

# Switch and spawn costs (cargo bench --bench runtime, one run, 2026-12-01 02:55 UTC).
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
bars = left.bar(
    ["moss\nsame code", "moss\ntwo loops", "may", "tokio"],
    [22.0, 45.2, 132.9, 460.6],
    color=["#2a7", "#7c9", "#999", "#36c"],
)
left.set_ylabel("ns per round trip")
left.set_title("Yield round trip, two green threads / tasks\n(std mpsc between OS threads: ~16,000 ns)")
left.bar_label(bars, fmt="%.1f")
bars = right.bar(
    ["moss", "tokio\nspawn_local", "may", "std::thread"],
    [0.0939, 0.605, 1.093, 48.2],
    color=["#2a7", "#36c", "#999", "#c66"],
)
right.set_yscale("log")
right.set_ylabel("µs per spawn + join (log)")
right.set_title("Spawn + join")
right.bar_label(bars)
fig.tight_layout()
fig.savefig(HERE + "switch.png", dpi=110)

# Echo throughput (cargo run --release --example echo_bench 3, one run, 2026-11-30 20:00 UTC).
conns = ["100", "1,000", "10,000"]
series = {
    "moss (1 hub)": [234678, 204506, 137880],
    "tokio (current-thread)": [238687, 204450, 137860],
    "may (1 worker)": [240347, 203220, 118576],
    "threads": [143777, 117857, 99086],
}
colors = ["#2a7", "#36c", "#999", "#c66"]
fig, ax = plt.subplots(figsize=(8, 3.8))
width = 0.2
for i, ((name, values), color) in enumerate(zip(series.items(), colors)):
    xs = [x + (i - 1.5) * width for x in range(len(conns))]
    ax.bar(xs, [v / 1000 for v in values], width, label=name, color=color)
ax.set_xticks(range(len(conns)), conns)
ax.set_xlabel("concurrent connections")
ax.set_ylabel("thousand round trips / s")
ax.set_title("Echo, 64-byte messages, one OS thread per server (2 cores)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE + "echo.png", dpi=110)
