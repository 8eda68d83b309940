//! Regenerates the "Summary" region of `docs/benchmarks.md` from the last
//! `cargo bench` run: criterion's `new/benchmark.json` (the id) and
//! `new/estimates.json` (the median) of every benchmark under
//! `target/criterion`, and `target/criterion/parked/results.json`, which
//! `benches/parked.rs` writes.
//!
//! ```sh
//! cargo bench --workspace --bench '*' && cargo run --release --example bench_summary
//! cargo run --release --example bench_summary -- --print            # stdout only
//! cargo run --release --example bench_summary -- --note "short run"  # appended to the stamp
//! ```
//!
//! The region is the text between `<!-- summary:begin -->` and
//! `<!-- summary:end -->`; nothing else in the file changes. The results
//! directory is criterion's: `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion` (or `--criterion
//! DIR`). Rows are ordered by [`GROUPS`] (bench target, then declaration
//! order), then any group not listed there by id; within a group the moss
//! reference comes first, then the others by id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

const BEGIN: &str = "<!-- summary:begin -->";
const END: &str = "<!-- summary:end -->";
const USAGE: &str = "arguments: --print, --note TEXT, --criterion DIR, --doc FILE";

/// Criterion groups in report order: the group id, the bench target that
/// defines it, and moss's entry in it (the function id every other entry
/// of the group is compared to), if the group has peers.
const GROUPS: &[(&str, &str, Option<&str>)] = &[
    (
        "yield round trip",
        "runtime",
        Some("moss yield_now (two green threads)"),
    ),
    ("spawn+join", "runtime", Some("moss (pooled stacks)")),
    ("channel_round_trip", "sync", Some("moss_green_same_hub")),
    ("spawn_blocking_round_trip", "sync", None),
    ("semaphore_acquire_release_uncontended", "sync", None),
    (
        "echo round trip, one hub",
        "patch",
        Some("moss::net::TcpStream"),
    ),
    (
        "recv(MSG_DONTWAIT) on an empty socket",
        "patch",
        Some("hooked, outside green threads"),
    ),
    (
        "read on an empty non-blocking pipe",
        "patch",
        Some("hooked, outside green threads"),
    ),
    ("browser_x16", "http", Some("moss_parse_respond")),
    ("minimal_x16", "http", Some("moss_parse_respond")),
];

/// One criterion benchmark's last result.
struct Bench {
    group: String,
    function: Option<String>,
    full_id: String,
    /// Median time per iteration and its 95 % confidence interval, in ns.
    median: f64,
    lower: f64,
    upper: f64,
    /// Elements per iteration (`Throughput::Elements`).
    elements: Option<f64>,
    written: SystemTime,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_summary: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut criterion = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| root.join("target/criterion"));
    let mut doc = root.join("docs/benchmarks.md");
    let (mut note, mut print) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--print" => print = true,
            "--note" => note = Some(args.next().ok_or("--note needs a text")?),
            "--criterion" => criterion = args.next().ok_or("--criterion needs a directory")?.into(),
            "--doc" => doc = args.next().ok_or("--doc needs a file")?.into(),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }

    let mut benches = Vec::new();
    collect(&criterion, &mut benches)?;
    let parked = criterion.join("parked/results.json");
    let parked = match std::fs::read_to_string(&parked) {
        Ok(text) => Some((
            parse(&text).map_err(|e| format!("{}: {e}", parked.display()))?,
            modified(&parked),
        )),
        Err(_) => {
            eprintln!(
                "bench_summary: no {} (run `cargo bench --bench parked`)",
                parked.display()
            );
            None
        }
    };
    if benches.is_empty() && parked.is_none() {
        return Err(format!(
            "no results under {} (run `cargo bench --workspace --bench '*'` first)",
            criterion.display()
        ));
    }

    let region = render(&benches, parked.as_ref(), note.as_deref());
    if print {
        print!("{region}");
        return Ok(());
    }
    // Read right before writing, and change only the region.
    let text = std::fs::read_to_string(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} lacks the {BEGIN} / {END} markers",
            doc.display()
        ));
    };
    if end < begin {
        return Err(format!("{}: {END} before {BEGIN}", doc.display()));
    }
    let head = &text[..begin + BEGIN.len()];
    let updated = format!("{head}\n{region}{}", &text[end..]);
    if updated != text {
        std::fs::write(&doc, updated).map_err(|e| format!("{}: {e}", doc.display()))?;
    }
    eprintln!(
        "bench_summary: {} benchmarks into {}",
        benches.len(),
        doc.display()
    );
    Ok(())
}

/// Every `new/benchmark.json` under `dir` with its `new/estimates.json`.
fn collect(dir: &Path, out: &mut Vec<Bench>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in paths {
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new") {
            let id = path.join("benchmark.json");
            let estimates = path.join("estimates.json");
            if id.is_file() && estimates.is_file() {
                out.push(read_bench(&id, &estimates)?);
            }
        } else if !path
            .file_name()
            .is_some_and(|n| n == "base" || n == "change")
        {
            collect(&path, out)?;
        }
    }
    Ok(())
}

fn read_bench(id: &Path, estimates: &Path) -> Result<Bench, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse(&text))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let (meta, est) = (read(id)?, read(estimates)?);
    let missing = |what: &str| format!("{}: no {what}", estimates.display());
    let median = est.get("median").ok_or_else(|| missing("median"))?;
    let number =
        |value: Option<&Json>, what: &str| value.and_then(Json::num).ok_or_else(|| missing(what));
    let interval = median.get("confidence_interval");
    Ok(Bench {
        group: meta
            .get("group_id")
            .and_then(Json::str)
            .ok_or_else(|| missing("group_id"))?
            .to_owned(),
        function: meta
            .get("function_id")
            .and_then(Json::str)
            .map(str::to_owned),
        full_id: meta
            .get("full_id")
            .and_then(Json::str)
            .ok_or_else(|| missing("full_id"))?
            .to_owned(),
        median: number(median.get("point_estimate"), "median")?,
        lower: number(interval.and_then(|i| i.get("lower_bound")), "lower_bound")?,
        upper: number(interval.and_then(|i| i.get("upper_bound")), "upper_bound")?,
        elements: meta
            .get("throughput")
            .and_then(|t| t.get("Elements"))
            .and_then(Json::num),
        written: modified(estimates),
    })
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH)
}

fn render(benches: &[Bench], parked: Option<&(Json, SystemTime)>, note: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(&stamp(benches, parked.map(|p| p.1), note));
    out.push('\n');

    // Group, in GROUPS order then by id.
    let mut groups: BTreeMap<(usize, &str), Vec<&Bench>> = BTreeMap::new();
    for bench in benches {
        let rank = GROUPS
            .iter()
            .position(|g| g.0 == bench.group)
            .unwrap_or(GROUPS.len());
        groups.entry((rank, &bench.group)).or_default().push(bench);
    }
    for (group, target, reference) in GROUPS {
        let present = benches
            .iter()
            .filter(|b| b.group == *group)
            .collect::<Vec<_>>();
        if present.is_empty() {
            eprintln!("bench_summary: no result for group {group:?} (bench {target})");
        } else if let Some(reference) = reference {
            if !present
                .iter()
                .any(|b| b.function.as_deref() == Some(reference))
            {
                eprintln!("bench_summary: group {group:?} has no {reference:?} to compare with");
            }
        }
    }
    if !benches.is_empty() {
        out.push_str(
            "The median is per iteration (criterion's `new/estimates.json`); \"vs moss\" \
             divides it by the median of moss's entry in the same group.\n\n\
             | bench | benchmark id | median | 95 % CI | vs moss |\n|---|---|---:|---|---|\n",
        );
    }
    for ((rank, _), mut rows) in groups {
        let (target, ref_id) = GROUPS.get(rank).map_or(("?", None), |g| (g.1, g.2));
        let reference = ref_id
            .and_then(|id| rows.iter().find(|b| b.function.as_deref() == Some(id)))
            .map(|b| b.median);
        let is_ref = |b: &Bench| reference.is_some() && b.function.as_deref() == ref_id;
        rows.sort_by(|a, b| {
            is_ref(b)
                .cmp(&is_ref(a))
                .then_with(|| a.full_id.cmp(&b.full_id))
        });
        for bench in rows {
            let mut median = time(bench.median);
            if let Some(n) = bench.elements.filter(|n| *n > 1.0) {
                median = format!("{median} = {n} × {}", time(bench.median / n));
            }
            let versus = match reference {
                _ if is_ref(bench) => "1× (moss)".to_owned(),
                Some(reference) => ratio(bench.median / reference, "slower", "faster"),
                None => "—".to_owned(),
            };
            out.push_str(&format!(
                "| {target} | `{}` | {median} | {}–{} | {versus} |\n",
                bench.full_id,
                time(bench.lower),
                time(bench.upper)
            ));
        }
    }

    if let Some((parked, _)) = parked {
        let cases = parked.get("cases").and_then(Json::arr).unwrap_or(&[]);
        let moss_rss = cases
            .iter()
            .find(|c| {
                c.get("what")
                    .and_then(Json::str)
                    .is_some_and(|w| w.starts_with("moss"))
            })
            .and_then(|c| c.get("rss_kib_each")?.num());
        out.push_str(&format!(
            "\nMemory per parked unit (bench parked, each case in a fresh process, `vm.max_map_count` = {}):\n\n",
            thousands(parked.get("vm_max_map_count").and_then(Json::num).unwrap_or(0.0) as u64)
        ));
        out.push_str("| what | parked at once | RSS each | VMAs added | RSS vs moss |\n|---|---:|---:|---:|---|\n");
        for case in cases {
            let what = case.get("what").and_then(Json::str).unwrap_or("?");
            let count = case.get("count").and_then(Json::num).unwrap_or(0.0);
            let count = thousands(count as u64);
            if let Some(failed) = case.get("failed").and_then(Json::str) {
                out.push_str(&format!("| {what} | {count} | failed: {failed} | | |\n"));
                continue;
            }
            let rss = case
                .get("rss_kib_each")
                .and_then(Json::num)
                .unwrap_or(f64::NAN);
            let vmas = case
                .get("vmas_added")
                .and_then(Json::num)
                .unwrap_or(f64::NAN);
            let versus = match moss_rss {
                Some(moss) if what.starts_with("moss") => {
                    if rss == moss {
                        "1× (moss)".to_owned()
                    } else {
                        ratio(rss / moss, "more", "less")
                    }
                }
                Some(moss) => ratio(rss / moss, "more", "less"),
                None => "—".to_owned(),
            };
            let vmas = if vmas < 0.0 {
                format!("−{}", thousands(-vmas as u64))
            } else {
                thousands(vmas as u64)
            };
            out.push_str(&format!(
                "| {what} | {count} | {rss:.2} KiB | {vmas} | {versus} |\n"
            ));
        }
    }
    out
}

/// The run's dates, the machine and the toolchain.
fn stamp(benches: &[Bench], parked: Option<SystemTime>, note: Option<&str>) -> String {
    let times: Vec<SystemTime> = benches.iter().map(|b| b.written).chain(parked).collect();
    let (first, last) = (times.iter().min().copied(), times.iter().max().copied());
    let when = match (first, last) {
        (Some(first), Some(last)) if utc(first)[..10] == utc(last)[..10] => {
            format!("{}–{} UTC", utc(first), &utc(last)[11..])
        }
        (Some(first), Some(last)) => format!("{} – {} UTC", utc(first), utc(last)),
        _ => "?".to_owned(),
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_else(|_| "?".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_else(|| "rustc ?".into());
    let mut line = format!(
        "Generated by `examples/bench_summary.rs` from results written {when}; {cores} cores (`nproc`), Linux {} (`uname -r`), {}, bench profile.",
        kernel.trim(),
        rustc.trim()
    );
    if let Some(note) = note {
        line.push(' ');
        line.push_str(note.trim());
    }
    line.push('\n');
    line
}

/// `2026-11-30 14:05` (UTC).
fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Three significant digits and a unit: `4.59 ns`, `37.8 ns`, `178 ns`, `36.9 µs`.
fn time(ns: f64) -> String {
    let (value, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    format!("{} {unit}", significant(value))
}

fn significant(value: f64) -> String {
    match value.abs() {
        v if v >= 99.95 => format!("{value:.0}"),
        v if v >= 9.995 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// `1.32× slower`, `8.10× faster`, `490× slower`.
fn ratio(r: f64, above: &str, below: &str) -> String {
    if !r.is_finite() || r <= 0.0 {
        return "—".to_owned();
    }
    if significant(r) == "1.00" {
        return "1.00×".to_owned();
    }
    if r >= 1.0 {
        format!("{}× {above}", significant(r))
    } else {
        format!("{}× {below}", significant(1.0 / r))
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Just enough JSON for criterion's files and parked's.
enum Json {
    /// `null`, `true`, `false`: none of them read.
    Other,
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn arr(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(items) => Some(items),
            _ => None,
        }
    }
}

fn parse(text: &str) -> Result<Json, String> {
    let mut parser = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let value = parser.value()?;
    parser.ws();
    if parser.i != parser.s.len() {
        return Err(format!("trailing data at byte {}", parser.i));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", byte as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        let rest = &self.s[self.i..];
        for word in ["null", "true", "false"] {
            if rest.starts_with(word.as_bytes()) {
                self.i += word.len();
                return Ok(Json::Other);
            }
        }
        match rest.first() {
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        _ => break,
                    }
                }
                self.eat(b']')?;
                Ok(Json::Arr(items))
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        _ => break,
                    }
                }
                self.eat(b'}')?;
                Ok(Json::Obj(fields))
            }
            _ => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b"+-.eE0123456789".contains(b))
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at byte {start}"))
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let byte = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match byte {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let escape = *self.s.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    let c = match escape {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            self.i += 4;
                            let code = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or("bad \\u escape")?;
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        other => other as char,
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(byte),
            }
        }
    }
}
