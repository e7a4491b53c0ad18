//! The tree's layout rule: no import circles between modules of a crate.
//!
//! A module is a source file (`foo.rs`, or `foo/mod.rs` for `foo`). Module
//! A depends on B when A names a path through B (`crate::b::…`,
//! `super::b::…`, `self::b::…`, in a `use` or in code). Files that reach
//! each other, directly or through others, form a circle; each is reported
//! with the edges that close it. An edge between a module and its own
//! ancestor or descendant is not counted (a `mod.rs` that re-exports its
//! children, a child that uses its parent's items), so a circle that closes
//! only through a parent module is not seen. Unit tests (`#[cfg(test)] mod
//! tests { … }`) are left out, as their `use super::*` is not a dependency
//! of the module; code after them still counts.
//!
//! The same rule holds a level up: lifted to a crate's top-level modules
//! (each edge between two files counted as an edge between the top-level
//! modules they are in, the crate root left out), there is no circle
//! either. That catches a circle that closes through a parent module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// The module path of `file` under a crate's `src`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of a module that counts: comments and unit-test modules
/// removed.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let opens_tests = lines[i].trim() == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|l| l.trim_start().starts_with("mod tests"));
        if !opens_tests {
            out.push(lines[i]);
            i += 1;
            continue;
        }
        // skip to the line that closes the module's block
        let mut depth = 0i32;
        let mut opened = false;
        i += 1;
        while i < lines.len() {
            depth += braces(lines[i]);
            opened |= lines[i].contains('{');
            i += 1;
            if opened && depth <= 0 {
                break;
            }
        }
    }
    out.join("\n")
}

/// `{` less `}` on a line, outside string and character literals.
fn braces(line: &str) -> i32 {
    let (mut d, mut in_str, mut esc) = (0, false, false);
    let b = line.as_bytes();
    for (k, &c) in b.iter().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' if !(k > 0 && b[k - 1] == b'\'' && b.get(k + 1) == Some(&b'\'')) => d += 1,
            b'}' if !(k > 0 && b[k - 1] == b'\'' && b.get(k + 1) == Some(&b'\'')) => d -= 1,
            _ => {}
        }
    }
    d
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Skip spaces and newlines.
fn skip_ws(s: &[char], mut i: usize) -> usize {
    while i < s.len() && s[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Parse a path (or a use tree) at `i`: identifiers joined by `::`, maybe
/// ending in a `{…}` group. Every full path it names goes to `out`, each
/// prefixed by `base`. Returns where it ended.
fn parse_tree(s: &[char], mut i: usize, base: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = base.to_vec();
    loop {
        i = skip_ws(s, i);
        if i < s.len() && s[i] == '{' {
            i += 1;
            loop {
                i = skip_ws(s, i);
                if i >= s.len() {
                    return i;
                }
                if s[i] == '}' {
                    return i + 1;
                }
                if s[i] == ',' {
                    i += 1;
                    continue;
                }
                let before = i;
                i = parse_tree(s, i, &path, out);
                // skip `as name`
                i = skip_ws(s, i);
                while i < s.len() && is_ident(s[i]) {
                    i += 1;
                }
                if i == before {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < s.len() && is_ident(s[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        let word: String = s[start..i].iter().collect();
        if word != "self" || path.is_empty() {
            path.push(word);
        }
        if s.get(i) == Some(&':') && s.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            break;
        }
    }
    out.push(path);
    i
}

/// Every path of `code` that starts at `crate`, `super` or `self`.
fn paths_of(code: &str) -> Vec<Vec<String>> {
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| rest.len() >= p.len() && rest.iter().zip(p.chars()).all(|(a, b)| *a == b));
        if let Some(p) = starts
            && (i == 0 || !(is_ident(s[i - 1]) || s[i - 1] == ':'))
        {
            let head = p.trim_end_matches(':').to_string();
            let mut paths = Vec::new();
            let end = parse_tree(&s, i + p.len(), &[head], &mut paths);
            out.extend(paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The module of `path` (as written in `from`) among `modules`: the
/// longest existing prefix of the absolute path.
fn resolve(modules: &BTreeSet<Module>, from: &Module, path: &[String]) -> Option<Module> {
    let (mut abs, mut rest): (Vec<String>, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (Vec::new(), &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => (from[..from.len().saturating_sub(1)].to_vec(), &path[1..]),
        _ => return None,
    };
    while rest.first().map(String::as_str) == Some("super") {
        abs.pop();
        rest = &rest[1..];
    }
    abs.extend(rest.iter().cloned());
    (1..=abs.len()).rev().map(|k| abs[..k].to_vec()).find(|m| modules.contains(m))
}

/// The dependencies between the modules of one crate, ancestors and
/// descendants left out.
fn graph(files: &[(Module, String)]) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, text) in files {
        let edges = g.entry(m.clone()).or_default();
        for p in paths_of(&code_of(text)) {
            let Some(to) = resolve(&modules, m, &p) else { continue };
            if to.starts_with(m) || m.starts_with(&to) {
                continue;
            }
            edges.insert(to);
        }
    }
    g
}

/// `g` lifted to top-level modules: an edge between two files is an edge
/// between the top-level modules they are in; the crate root, the parent of
/// every module, is left out.
fn lifted(g: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let top = |m: &Module| m.first().map(|t| vec![t.clone()]);
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, tos) in g {
        let Some(f) = top(from) else { continue };
        let edges = out.entry(f.clone()).or_default();
        for t in tos.iter().filter_map(top).filter(|t| *t != f) {
            edges.insert(t);
        }
    }
    out
}

/// The circles of `g`: its strongly connected components of more than one
/// module (Tarjan's algorithm).
fn circles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a Module) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on.insert(v);
        let g = w.g;
        for to in g.get(v).into_iter().flatten() {
            let Some((to, _)) = g.get_key_value(to) else { continue };
            if !w.index.contains_key(to) {
                visit(w, to);
                let l = w.low[to].min(w.low[v]);
                w.low.insert(v, l);
            } else if w.on.contains(to) {
                let l = w.index[to].min(w.low[v]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut comp = Vec::new();
            while let Some(x) = w.stack.pop() {
                w.on.remove(x);
                comp.push(x.clone());
                if x == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                w.out.push(comp);
            }
        }
    }
    let mut w = Walk {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !w.index.contains_key(v) {
            visit(&mut w, v);
        }
    }
    w.out
}

fn describe(g: &BTreeMap<Module, BTreeSet<Module>>, circle: &[Module]) -> String {
    let name = |m: &Module| if m.is_empty() { "(root)".to_string() } else { m.join("/") };
    let mut s = circle.iter().map(name).collect::<Vec<_>>().join(" <-> ");
    for m in circle {
        let to: Vec<String> = g[m].iter().filter(|t| circle.contains(t)).map(name).collect();
        s.push_str(&format!("\n    {} -> {}", name(m), to.join(", ")));
    }
    s
}

fn crate_files(src: &Path) -> Vec<(Module, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files.into_iter().map(|f| (module_of(src, &f), std::fs::read_to_string(&f).expect("readable source"))).collect()
}

#[test]
fn no_crate_has_an_import_circle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf();
    let mut found = Vec::new();
    let mut looked = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates).expect("crates/").flatten().map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let files = crate_files(&src);
        looked += files.len();
        let g = graph(&files);
        let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for c in circles(&g) {
            found.push(format!("{name}: {}", describe(&g, &c)));
        }
        let top = lifted(&g);
        for c in circles(&top) {
            found.push(format!("{name}, between top-level modules: {}", describe(&top, &c)));
        }
    }
    assert!(looked > 100, "the walk found the workspace's sources ({looked} files)");
    assert!(found.is_empty(), "import circles between modules:\n{}", found.join("\n"));
}

/// The rule finds a circle through a third module, across `use` groups,
/// `super::` and a path in code, and ignores a parent and its child.
#[test]
fn a_circle_is_found_and_a_parent_child_pair_is_not() {
    let m = |s: &str| -> Module { if s.is_empty() { vec![] } else { s.split('/').map(String::from).collect() } };
    let files = vec![
        (m(""), "pub mod a;\npub mod b;\npub mod c;\npub mod d;".to_string()),
        (m("a"), "use crate::{b::{self, Thing as T}, x};\n// crate::d::nothing\nfn f() {}".to_string()),
        (m("b"), "fn f() { let _ = crate::c::make(); }".to_string()),
        (m("c"), "use super::a::Other;".to_string()),
        (m("d"), "pub mod e;\npub use e::E;\nfn f() { self::e::g(); }".to_string()),
        (
            m("d/e"),
            "use super::D;\n#[cfg(test)]\nmod tests {\n    use crate::a::Other;\n    const S: &str = \"}\";\n}\nfn after() { crate::c::make(); }"
                .to_string(),
        ),
    ];
    let g = graph(&files);
    assert_eq!(g[&m("a")], BTreeSet::from([m("b")]), "comments do not count");
    assert_eq!(g[&m("d/e")], BTreeSet::from([m("c")]), "tests and the parent do not count; code after the tests does");
    let found = circles(&g);
    assert_eq!(found, vec![vec![m("a"), m("b"), m("c")]]);
    assert!(describe(&g, &found[0]).contains("c -> a"));
}

/// A circle that closes only through a parent module is not one between
/// files, and is one between top-level modules.
#[test]
fn a_circle_through_a_parent_is_found_between_top_level_modules() {
    let m = |s: &str| -> Module { if s.is_empty() { vec![] } else { s.split('/').map(String::from).collect() } };
    let files = vec![
        (m(""), "pub mod a;\npub mod b;\npub mod c;\nuse a::x::X;".to_string()),
        (m("a"), "pub mod x;\npub mod y;".to_string()),
        (m("a/x"), "use crate::b::B;\nuse crate::AppState;".to_string()),
        (m("a/y"), "pub struct Y;".to_string()),
        (m("b"), "use crate::a::y::Y;\nuse crate::c::C;".to_string()),
        (m("c"), "pub struct C;".to_string()),
    ];
    let g = graph(&files);
    assert!(circles(&g).is_empty(), "no circle between files: {:?}", circles(&g));
    let top = lifted(&g);
    assert_eq!(top[&m("b")], BTreeSet::from([m("a"), m("c")]));
    assert!(!top.contains_key(&m("")), "the crate root is left out");
    assert_eq!(circles(&top), vec![vec![m("a"), m("b")]]);
}
