//! The exported PySpark job is valid Python (parsed with `ast`, no Spark needed) for a few
//! settings. Skipped when `python3` is not installed.

use pulse::engine::sizing::{advise, NodeShape, GB};
use pulse::engine::spark::{export_pyspark, SkewInputs};
use pulse::engine::Params;

fn python_parses(src: &str) -> Option<Result<(), String>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(src.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[test]
fn exported_jobs_are_valid_python() {
    let sizing = advise(GB, 1_000_000, 1_000 * GB, NodeShape::default());
    let skew = SkewInputs {
        events: 100,
        users: 3,
        top_users: vec![("it's \"odd\"".into(), 0.9)],
        threshold_share: 0.005,
        salt_count: 12,
        broadcast: false,
        skew_hint: true,
        notes: vec!["note with\nnewline".into()],
    };
    for q in [
        "",
        "gap=5m&tz=America%2FNew_York&def=core&strict=1&seg=device&policy=cap&outlier=mad",
        "maxlen=off&def=custom&win=14&cmin=3&actions=a%27b,c&from=2023-01-01&to=2023-02-01&seg=app_version&segv=1.0",
    ] {
        let (p, _, _) = Params::from_query(q);
        for k in [None, Some(&skew)] {
            let job = export_pyspark(&p, k, &sizing);
            match python_parses(&job) {
                None => return, // no python3 here
                Some(Ok(())) => {}
                Some(Err(e)) => panic!("query {q:?}: not valid Python: {e}"),
            }
        }
    }
}
