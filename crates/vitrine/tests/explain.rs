//! `vitrine explain` and `vitrine preview` on real files, through the built binary.

use std::process::{Command, Output};

const PLAYLIST: &str = "version: 1
name: shop
timezone: Europe/Paris
dayparts:
  night: \"02:00-04:00\"
items:
  - image: { file: day.png, duration: 10s }
loops:
  - name: night-loop
    dayparts: [night]
    priority: 5
    items:
      - text: { text: \"Closed\", duration: 1m }
";

fn run(arguments: &[&str]) -> Output {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("shop.yaml"), PLAYLIST).unwrap();
    std::fs::write(folder.path().join("day.png"), b"any bytes").unwrap();
    Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(arguments)
        .current_dir(folder.path())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn explain_names_the_winning_rule_and_what_it_shadowed() {
    let output = run(&["explain", "shop.yaml", "--at", "2026-06-01T03:00"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("at 2026-06-01 03:00:00 CEST (Europe/Paris)"),
        "{text}"
    );
    assert!(
        text.contains("zone main: item-2 (text \"Closed\")"),
        "{text}"
    );
    assert!(
        text.contains("loop `night-loop` (priority 5)") && text.contains("wins over loop"),
        "{text}"
    );
}

#[test]
fn explain_says_the_all_day_items_are_the_fallback() {
    // Drop the night loop's priority: at equal priority its daypart still wins over the items.
    let folder = tempfile::tempdir().unwrap();
    let playlist = PLAYLIST.replace("    priority: 5\n", "");
    std::fs::write(folder.path().join("shop.yaml"), playlist).unwrap();
    std::fs::write(folder.path().join("day.png"), b"any bytes").unwrap();
    let explain = |at: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_vitrine"))
            .args(["explain", "shop.yaml", "--at", at])
            .current_dir(folder.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    };
    let night = explain("2026-06-01T03:00");
    assert!(
        night.contains("zone main: item-2 (text \"Closed\")"),
        "{night}"
    );
    assert!(
        night.contains(
            "wins over loop `loop-1` (priority 0) (it plays all day: the fallback when no rule \
             with dates, weekdays or dayparts applies)"
        ),
        "{night}"
    );
    let day = explain("2026-06-01T12:00");
    assert!(day.contains("zone main: item-1 (image day.png)"), "{day}");
}

#[test]
fn explain_says_when_a_time_does_not_exist_on_the_dst_night() {
    // 2026-03-29 02:30 is skipped in Paris: the clocks go from 02:00 to 03:00.
    let output = run(&[
        "explain",
        "shop.yaml",
        "--at",
        "2026-03-29T02:30",
        "--zone",
        "main",
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("does not exist in this zone"), "{text}");
    assert!(
        text.contains("at 2026-03-29 03:00:00 CEST"),
        "the jump itself: {text}"
    );
    assert!(
        text.contains("night-loop"),
        "the night daypart covers 03:30: {text}"
    );
}

#[test]
fn preview_prints_the_timeline_in_store_time() {
    let output = run(&[
        "preview",
        "shop.yaml",
        "--from",
        "2026-06-01T01:59:40",
        "--to",
        "2026-06-01T02:01:00",
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "zone main (3 plays)", "{text}");
    assert!(
        lines[1].contains("01:59:40 CEST – 01:59:50") && lines[1].contains("item-1"),
        "{text}"
    );
    assert!(
        lines[3].contains("02:00:00 CEST – 02:01:00") && lines[3].contains("night-loop"),
        "{text}"
    );
}

#[test]
fn a_zone_that_does_not_exist_is_named_with_the_ones_that_do() {
    let output = run(&[
        "explain",
        "shop.yaml",
        "--at",
        "2026-06-01T03:00",
        "--zone",
        "side",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("no zone `side`; its zones are: main"),
        "{errors}"
    );
}
