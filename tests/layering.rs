//! The crates' modules form a pipeline: data flows one way, so no module may reach (through
//! `crate::` paths in its code, tests excluded) a module that reaches it back. A cycle makes a
//! module impossible to read, test or replace on its own; this test names the first one found.
//! And no Rust file of the workspace grows past [`LONG_FILE`] lines unless its header says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module of a source file: `src/quantize/public.rs` → `quantize`, `src/lib.rs` → none.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and without its `#[cfg(test)]` items (tests may use
/// any module to build what they check).
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut skipping_depth: Option<i64> = None;
    let mut depth = 0i64;
    let mut test_attribute = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if skipping_depth.is_none() && test_attribute && !trimmed.starts_with("#[") {
            // The item after `#[cfg(test)]`: skip it whole (a one-line `mod x;` or a block).
            test_attribute = false;
            if opens > closes {
                skipping_depth = Some(depth);
            }
            depth += opens - closes;
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            test_attribute = true;
            continue;
        }
        depth += opens - closes;
        match skipping_depth {
            Some(d) if depth <= d => skipping_depth = None,
            Some(_) => {}
            None => {
                code.push_str(line);
                code.push('\n');
            }
        }
    }
    code
}

/// Module → the other modules of the same crate its code names.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(src, &file) else { continue };
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        let targets = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue; // `other_crate::` is another crate's path
            }
            let name: String = code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != module {
                targets.insert(name);
            }
        }
        // `use crate::{a, b}` groups.
        for (i, _) in code.match_indices("crate::{") {
            let group: String = code[i + 8..].chars().take_while(|&c| c != '}').collect();
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    targets.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if any, as the list of modules along it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn assert_acyclic(crate_dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_dir).join("src");
    let graph = dependencies(&src);
    assert!(graph.len() > 3, "{}: found only {:?}", src.display(), graph.keys().collect::<Vec<_>>());
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("{crate_dir}: import cycle {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_prover_modules_form_no_cycle() {
    assert_acyclic("prover");
}

#[test]
fn the_aggregator_modules_form_no_cycle() {
    assert_acyclic("aggregator");
}

#[test]
fn the_checker_sees_a_cycle_and_ignores_tests_and_comments() {
    let dir = std::env::temp_dir().join(format!("zkml-layering-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::x;\n// crate::c\n#[cfg(test)]\nmod tests {\n    use crate::c::y;\n}\n").unwrap();
    std::fs::write(src.join("b").join("mod.rs"), "pub fn x() {}\n").unwrap();
    std::fs::write(src.join("c.rs"), "fn z() { crate::{a, b}::f(); }\n").unwrap();
    let graph = dependencies(&src);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_string()]), "the test module and the comment are not dependencies");
    assert!(cycle_from(&graph, "a").is_none());
    std::fs::write(src.join("b").join("inner.rs"), "fn w() { let _ = crate::c::z; }\n").unwrap();
    std::fs::write(src.join("c.rs"), "use crate::{a, b};\n").unwrap();
    let graph = dependencies(&src);
    let cycle = cycle_from(&graph, "a").expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Files longer than this must say why near their top (a line starting `//! Long:`).
const LONG_FILE: usize = 600;

/// The workspace's Rust files longer than [`LONG_FILE`] lines whose first 20 lines give no reason.
fn long_files_without_a_reason(root: &Path) -> Vec<(PathBuf, usize)> {
    let mut files = vec![];
    for dir in ["src", "tests", "prover/src", "prover/tests", "aggregator/src", "aggregator/tests"] {
        if root.join(dir).is_dir() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    files
        .into_iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = text.lines().count();
            let reason = text.lines().take(20).any(|l| l.trim_start().starts_with("//! Long:"));
            (lines > LONG_FILE && !reason).then_some((file, lines))
        })
        .collect()
}

#[test]
fn no_file_is_long_without_a_reason() {
    let long = long_files_without_a_reason(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(long.is_empty(), "files over {LONG_FILE} lines without a `//! Long:` reason at the top: {long:?}");
}

#[test]
fn the_length_check_sees_a_long_file() {
    let dir = std::env::temp_dir().join(format!("zkml-long-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let body = "fn f() {}\n".repeat(LONG_FILE + 1);
    std::fs::write(dir.join("src").join("long.rs"), &body).unwrap();
    std::fs::write(dir.join("src").join("explained.rs"), format!("//! Long: one table per line.\n{body}")).unwrap();
    std::fs::write(dir.join("src").join("short.rs"), "fn f() {}\n").unwrap();
    let long = long_files_without_a_reason(&dir);
    assert_eq!(long.iter().map(|(f, _)| f.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(), ["long.rs"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
